import CRMCore

/// Deals: the stage must belong to the deal's pipeline, the status follows
/// the stage, and a deal is lost only through DEAL.LOSE, with a reason.
struct DealRules: RecordRules {
    func prepareInsert(_ db: any SQLDatabase, _ changes: inout FieldChanges, now: String) throws {
        let pipelineName = (changes["pipeline"] ?? nil) ?? Pipeline.standard.name
        let pipeline = try Pipelines<ReadAccess>(db: db).load(pipelineName)
        changes.set("pipeline", pipeline.name)
        let stage = (changes["stage"] ?? nil) ?? pipeline.stages[0].name
        try pipeline.move(to: stage, wasStatus: nil, now: now, into: &changes)
    }

    func prepareUpdate(
        _ db: any SQLDatabase, _ current: StoredRecord, _ changes: inout FieldChanges, force: Bool, now: String
    ) throws {
        let pipelineChange = changes["pipeline"]
        let stageChange = changes["stage"]
        guard pipelineChange != nil || stageChange != nil else { return }
        if pipelineChange == .some(nil) { throw InvalidField("pipeline", "a deal always belongs to a pipeline") }
        if stageChange == .some(nil) { throw InvalidField("stage", "a deal always has a stage") }
        let pipeline = try Pipelines<ReadAccess>(db: db).load((pipelineChange ?? nil) ?? current["pipeline"]!)
        let movedPipeline = pipeline.name != current["pipeline"]
        let stage = (stageChange ?? nil) ?? (movedPipeline ? pipeline.stages[0].name : current["stage"]!)
        try pipeline.move(
            to: stage, wasStatus: current["status"].flatMap(DealStatus.init), now: now, into: &changes)
    }
}

/// The tenant's sales pipelines.
public struct Pipelines<Access: StorageAccess> {
    let db: any SQLDatabase

    public func load(_ name: String) throws -> Pipeline {
        guard let pipeline = try get(name) else {
            throw InvalidField("pipeline", "no such pipeline \(name)")
        }
        return pipeline
    }

    public func get(_ name: String) throws -> Pipeline? {
        let rows = try db.rows(
            "SELECT stage, probability FROM pipeline_stages WHERE pipeline = ? ORDER BY position", [name])
        guard !rows.isEmpty else { return nil }
        return try Pipeline(name: name, stages: rows.map { Pipeline.Stage(name: $0[0], probability: $0[1]) })
    }

    public func list() throws -> [Pipeline] {
        try db.values(String.self, "SELECT DISTINCT pipeline FROM pipeline_stages ORDER BY pipeline").compactMap(get)
    }
}

extension Pipelines where Access == WriteAccess {
    /// Creates or redefines a pipeline. Stages that deals are in must remain;
    /// deals' statuses follow the new definition.
    public func set(_ pipeline: Pipeline, actor: String?) throws {
        let names = pipeline.stages.map(\.name)
        let stranded = try db.rows(
            "SELECT stage, COUNT(*) FROM deals WHERE pipeline = ? GROUP BY stage", [pipeline.name]
        ).filter { !names.contains($0[0]) }
        if let first = stranded.first {
            throw StoreError.conflict(
                "\(first[1] as Int64) deal(s) of pipeline \(pipeline.name) are in stage \(first[0] as String), which the new definition drops"
            )
        }
        try db.execute("DELETE FROM pipeline_stages WHERE pipeline = ?", [pipeline.name])
        for (position, stage) in pipeline.stages.enumerated() {
            try db.execute(
                "INSERT INTO pipeline_stages (pipeline, position, stage, probability) VALUES (?, ?, ?, ?)",
                [pipeline.name, position, stage.name, stage.probability])
        }
        try db.execute(
            """
            UPDATE deals SET status = CASE stage WHEN ? THEN 'won' WHEN ? THEN 'lost' ELSE 'open' END
            WHERE pipeline = ? AND status \(db.dialect.isDistinctFrom) CASE stage WHEN ? THEN 'won' WHEN ? THEN 'lost' ELSE 'open' END
            """, [pipeline.wonStage, pipeline.lostStage, pipeline.name, pipeline.wonStage, pipeline.lostStage])
        let fields = FieldChanges([
            "name": pipeline.name,
            "stages": pipeline.stages.map { "\($0.name):\($0.probability)" }.joined(separator: " "),
        ])
        try EventLog.append(
            db, type: "pipeline.set", recordType: "pipeline", recordID: 0, changes: fields, actor: actor,
            at: WallClock.now())
    }
}

/// Moving deals through their pipeline.
public struct DealFlow {
    let db: any SQLDatabase
    private var deals: RecordCollection<WriteAccess> { RecordCollection(db: db, kind: .deal) }

    /// Moves a deal to another open stage (or the won stage); returns its new version.
    public func move(deal id: Int64, to stage: String, actor: String?) throws -> Int64 {
        return try deals.update(
            deals.stored(id: id), FieldChanges(["stage": stage]), ifVersion: nil, force: false, actor: actor,
            event: "deal.moved")
    }

    public func win(deal id: Int64, actor: String?) throws -> Int64 {
        let current = try deals.stored(id: id)
        let pipeline = try Pipelines<ReadAccess>(db: db).load(current["pipeline"]!)
        guard current["status"] != DealStatus.won.rawValue else {
            throw InvalidField("status", "the deal is already won")
        }
        return try deals.update(
            current, FieldChanges(["stage": pipeline.wonStage]), ifVersion: nil, force: false, actor: actor,
            event: "deal.won")
    }

    public func lose(deal id: Int64, reason: String, actor: String?) throws -> Int64 {
        let current = try deals.stored(id: id)
        let reason = try Reason.validated(reason)
        guard current["status"] != DealStatus.lost.rawValue else {
            throw InvalidField("status", "the deal is already lost")
        }
        let pipeline = try Pipelines<ReadAccess>(db: db).load(current["pipeline"]!)
        let now = WallClock.now()
        let changes = FieldChanges([
            "stage": pipeline.lostStage, "status": DealStatus.lost.rawValue, "lost_reason": reason, "closed_at": now,
        ])
        return try RecordTable.deals.update(db, current, changes, actor: actor, now: now, event: "deal.lost")
    }
}
