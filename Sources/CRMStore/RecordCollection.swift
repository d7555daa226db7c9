import CRMCore

/// What one record type adds to the common ADD/GET/SET/UPSERT/DEL/FIND
/// conventions: defaults and derived fields on create, rules on change,
/// and fields computed when a record is read.
protocol RecordRules: Sendable {
    func prepareInsert(_ db: any SQLDatabase, _ changes: inout FieldChanges, now: String) throws
    func prepareUpdate(
        _ db: any SQLDatabase, _ current: StoredRecord, _ changes: inout FieldChanges, force: Bool, now: String
    ) throws
    func didInsert(_ db: any SQLDatabase, id: Int64, _ changes: FieldChanges, actor: String?, now: String) throws
    func present(_ record: StoredRecord, now: @autoclosure () -> String) -> StoredRecord
    /// Whether ``present(_:now:)`` shows the stored record as it is, so a reply
    /// made from it holds until the record changes.
    var presentsStoredFieldsOnly: Bool { get }
}

extension RecordRules {
    func prepareInsert(_ db: any SQLDatabase, _ changes: inout FieldChanges, now: String) throws {}
    func prepareUpdate(
        _ db: any SQLDatabase, _ current: StoredRecord, _ changes: inout FieldChanges, force: Bool, now: String
    ) throws {}
    func didInsert(_ db: any SQLDatabase, id: Int64, _ changes: FieldChanges, actor: String?, now: String) throws {}
    func present(_ record: StoredRecord, now: @autoclosure () -> String) -> StoredRecord { record }
    var presentsStoredFieldsOnly: Bool { true }
}

/// The records of one type in a tenant transaction, with the conventions
/// every type shares: server ids, `ext` for idempotent upserts, versions for
/// `IFVERSION`, events for every change. Only a ``TenantWriter``'s collections change records.
public struct RecordCollection<Access: StorageAccess> {
    let db: any SQLDatabase
    let table: RecordTable
    let rules: any RecordRules
    /// Set for the record kinds the cache holds, on read snapshots: records read by id are remembered.
    var cacheFill: (RecordCache.Fill, RecordKind)? = nil

    init(db: any SQLDatabase, kind: RecordKind, cacheFill: RecordCache.Fill? = nil) {
        self.db = db
        let storage = kind.storage
        table = storage.table
        rules = storage.rules
        self.cacheFill = cacheFill.map { ($0, kind) }
    }

    init(db: any SQLDatabase, table: RecordTable, rules: any RecordRules) {
        self.db = db
        self.table = table
        self.rules = rules
    }

    /// The record type, e.g. `company`.
    public var type: String { table.schema.type }

    /// The record `reference` names, with computed fields.
    public func get(_ reference: RecordReference) throws -> StoredRecord {
        let record: StoredRecord
        switch reference {
        case .id(let id): record = try stored(id: id)
        case .ext(let ext):
            guard let found = try table.fetch(db, ext: ext) else { throw StoreError.notFound("no such \(type)") }
            record = found
        }
        if let (fill, kind) = cacheFill { fill.store(record, type: kind) }
        return rules.present(record, now: WallClock.now())
    }

    public func find(_ query: FindQuery) throws -> RecordPage {
        var page = try table.find(db, query)
        guard !rules.presentsStoredFieldsOnly else { return page }
        let now = WallClock.now()
        page.records = page.records.map { rules.present($0, now: now) }
        return page
    }

    /// A `FIND` page written into `writer` (see ``RecordPageWriter``): how
    /// many records, and the cursor to the next page if more follow. The
    /// records are as ``find(_:)`` returns them.
    public func find(_ query: FindQuery, into writer: inout some RecordPageWriter) throws -> (
        count: Int, next: FindCursor?
    ) {
        guard rules.presentsStoredFieldsOnly, !RecordSchema.isCustomFieldName(query.sortField) else {
            let page = try find(query)
            for record in page.records { writer.write(record) }
            return (page.records.count, page.next)
        }
        return try table.find(db, query, into: &writer)
    }

    /// The record as stored, without computed fields.
    func stored(id: Int64) throws -> StoredRecord {
        guard let record = try table.fetch(db, id: id) else { throw StoreError.notFound("no such \(type)") }
        return record
    }
}

extension RecordCollection where Access == WriteAccess {
    /// Creates a record and returns its id.
    public func add(_ changes: FieldChanges, actor: String?) throws -> Int64 {
        let now = WallClock.now()
        var changes = changes
        try rules.prepareInsert(db, &changes, now: now)
        let id = try table.insert(db, changes, actor: actor, now: now)
        try rules.didInsert(db, id: id, changes, actor: actor, now: now)
        return id
    }

    /// Changes a record and returns its new version.
    public func set(id: Int64, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?) throws -> Int64
    {
        try update(stored(id: id), changes, ifVersion: ifVersion, force: force, actor: actor)
    }

    /// Creates or updates the record whose `ext` is `ext`; returns its id.
    public func upsert(ext rawExt: String, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?)
        throws -> Int64
    {
        let ext = try RecordSchema.normalize(rawExt, for: table.schema.field(named: "ext")!)
        if case .some(.some(let other)) = changes["ext"], other != ext {
            throw InvalidField("ext", "differs from the UPSERT key")
        }
        var changes = changes
        changes.set("ext", ext)
        if let current = try table.fetch(db, ext: ext) {
            _ = try update(current, changes, ifVersion: ifVersion, force: force, actor: actor)
            return current.id
        }
        if let ifVersion {
            throw StoreError.conflict("no \(type) has this ext, so it has no version \(ifVersion)")
        }
        return try add(changes, actor: actor)
    }

    public func delete(id: Int64, actor: String?) throws {
        try table.delete(db, id: id, actor: actor, now: WallClock.now())
    }

    /// Applies checked changes; `event` names the change in the event log.
    func update(
        _ current: StoredRecord, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?,
        event: String? = nil
    ) throws -> Int64 {
        if let ifVersion, ifVersion != current.version {
            throw StoreError.conflict("\(type) \(current.id) is at version \(current.version), not \(ifVersion)")
        }
        let now = WallClock.now()
        var changes = changes
        try rules.prepareUpdate(db, current, &changes, force: force, now: now)
        return try table.update(db, current, changes, actor: actor, now: now, event: event)
    }
}
