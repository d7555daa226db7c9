import CRMCore

/// Companies: a relationship stage that moves only through COMPANY.STAGE,
/// with every move kept in the stage history.
struct CompanyRules: RecordRules {
    func prepareInsert(_ db: any SQLDatabase, _ changes: inout FieldChanges, now: String) throws {
        if changes["stage"] == nil || changes["stage"] == .some(nil) {
            changes.set("stage", RelationshipStage.transaction.rawValue)
        }
    }

    func didInsert(_ db: any SQLDatabase, id: Int64, _ changes: FieldChanges, actor: String?, now: String) throws {
        try CompanyRelations<WriteAccess>.recordMove(
            db, company: id, from: nil, to: changes["stage"]! ?? "transaction", reason: "created", actor: actor,
            at: now)
    }

    func prepareUpdate(
        _ db: any SQLDatabase, _ current: StoredRecord, _ changes: inout FieldChanges, force: Bool, now: String
    ) throws {
        if let stage = changes["stage"], stage != current["stage"] {
            throw InvalidField("stage", "changes only with COMPANY.STAGE id stage REASON text")
        }
    }
}

/// One move in a company's stage history.
public struct StageMove: Sendable, Equatable {
    public var from: String?
    public var to: String
    public var reason: String
    public var keyID: String?
    public var at: String
}

/// What COMPANY.SUGGEST answers.
public struct StageSuggestion: Sendable, Equatable {
    public var current: String
    public var suggested: String
    public var rule: String
    public var scores: RelationshipScores
    /// Parameters with no score yet, counted as 0.
    public var unscored: [String]
}

/// Relationship-stage operations on companies.
public struct CompanyRelations<Access: StorageAccess> {
    let db: any SQLDatabase
    private var companies: RecordCollection<Access> { RecordCollection(db: db, kind: .company) }

    /// The company's stage moves, oldest first.
    public func history(company id: Int64) throws -> [StageMove] {
        _ = try companies.stored(id: id)
        return try db.rows(
            "SELECT from_stage, to_stage, reason, key_id, at FROM company_stages WHERE company_id = ? ORDER BY seq",
            [id]
        ).map { StageMove(from: $0[0], to: $0[1], reason: $0[2], keyID: $0[3], at: $0[4]) }
    }

    /// The stage the company's four relationship parameters point to.
    public func suggest(company id: Int64) throws -> StageSuggestion {
        let company = try companies.stored(id: id)
        let names = RelationshipScores.parameterNames
        let values = names.map { company[$0].flatMap { Int($0) } }
        let scores = RelationshipScores(
            trust: values[0] ?? 0, commitment: values[1] ?? 0, interdependence: values[2] ?? 0, norms: values[3] ?? 0)
        let suggestion = scores.suggestion
        return StageSuggestion(
            current: company["stage"] ?? "transaction", suggested: suggestion.stage.rawValue, rule: suggestion.rule,
            scores: scores, unscored: zip(names, values).filter { $0.1 == nil }.map(\.0))
    }

    static func recordMove(
        _ db: any SQLDatabase, company: Int64, from: String?, to: String, reason: String, actor: String?, at: String
    ) throws {
        try db.execute(
            "INSERT INTO company_stages (company_id, from_stage, to_stage, reason, key_id, at) VALUES (?, ?, ?, ?, ?, ?)",
            [company, from, to, reason, actor, at])
    }
}

extension CompanyRelations where Access == WriteAccess {
    /// Moves a company to `stage` if the relationship rules allow it; returns the stage it left.
    public func move(company id: Int64, to stage: RelationshipStage, reason: String, actor: String?) throws -> String {
        let current = try companies.stored(id: id)
        let from = current["stage"].flatMap(RelationshipStage.init) ?? .transaction
        try from.checkMove(to: stage)
        let reason = try Reason.validated(reason)
        var changes = FieldChanges()
        changes.set("stage", stage.rawValue)
        let now = WallClock.now()
        var event = changes
        event.set("from_stage", from.rawValue)
        event.set("reason", reason)
        _ = try RecordTable.companies.update(
            db, current, changes, actor: actor, now: now, event: "company.stage", eventFields: event)
        try Self.recordMove(
            db, company: id, from: from.rawValue, to: stage.rawValue, reason: reason, actor: actor, at: now)
        try ReorderEngine(db: db).stageChanged(company: id, to: stage, actor: actor, now: now)
        return from.rawValue
    }
}
