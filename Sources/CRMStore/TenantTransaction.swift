import CRMCore

/// One transaction on a tenant's database, in which one or more commands
/// run: a ``TenantReader`` (a snapshot) or a ``TenantWriter`` (a group
/// commit). It is the storage interface the gateway sees: typed operations, no SQL.
public struct TenantTransaction<Access: StorageAccess> {
    let db: any SQLDatabase
    /// Set on read snapshots: where records read by id are remembered.
    var cacheFill: RecordCache.Fill? = nil
    /// Set on writes: what to ask of the writer once the commit is done.
    var writer: (any CommitRequests)? = nil

    public var contacts: RecordCollection<Access> { records(.contact) }
    public var companies: RecordCollection<Access> { records(.company) }
    public var deals: RecordCollection<Access> { records(.deal) }
    public var tickets: RecordCollection<Access> { records(.ticket) }

    /// The records of a kind.
    public func records(_ kind: RecordKind) -> RecordCollection<Access> {
        RecordCollection(db: db, kind: kind, cacheFill: cacheFill)
    }

    public var relations: CompanyRelations<Access> { CompanyRelations(db: db) }
    public var pipelines: Pipelines<Access> { Pipelines(db: db) }
    public var serviceLevels: ServiceLevels<Access> { ServiceLevels(db: db) }
    public var engagement: Engagement<Access> { Engagement(db: db) }
    public var privacy: Privacy<Access> { Privacy(db: db, writer: writer) }
    public var analytics: Analytics<Access> { Analytics(db: db) }
    public var inventory: Inventory<Access> { Inventory(db: db) }
    public var reorders: Reorders<Access> { Reorders(db: db) }
    public var feeds: Feeds<Access> { Feeds(db: db) }

    /// Up to `limit` events after `seq` in order, only of `types` when given
    /// (`reorder.*` matches by prefix).
    public func events(after seq: Int64, limit: Int, types: [String]) throws -> [CommittedEvent] {
        try EventLog.read(db, after: seq, limit: limit, types: types)
    }

    /// How many records of each kind the tenant holds (`DBSIZE`, `INFO keyspace`).
    /// Each count is named by its table (`contacts`, `companies`, …).
    public func recordCounts() throws -> [(table: String, count: Int)] {
        try RecordKind.allCases.map { kind in
            let table = kind.table.table
            return (table, try db.value(Int.self, "SELECT count(*) FROM \(table)") ?? 0)
        }
    }

    /// The newest sequence number in the log, where a reader that found nothing waits from.
    public func newestEventSeq() throws -> Int64 {
        try EventLog.newestSeq(db)
    }
}

extension TenantTransaction where Access == WriteAccess {
    /// The same transaction, for work that only reads (checks before writes).
    public var reader: TenantReader { TenantReader(db: db) }

    public var dealFlow: DealFlow { DealFlow(db: db) }
    public var ticketDesk: TicketDesk { TicketDesk(db: db) }
}
