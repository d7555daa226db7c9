import CRMCore
import GRDB

/// One transaction on a tenant's database, in which one or more commands run.
/// It is the storage interface the gateway sees: typed operations, no SQL.
public struct TenantTransaction {
    let db: Database
    /// Set on read snapshots: where records read by id are remembered.
    var cacheFill: RecordCache.Fill? = nil
    /// Set on writes: what to ask of the writer once the commit is done.
    var writer: GroupCommitWriter? = nil

    public var contacts: RecordCollection { records(.contact) }
    public var companies: RecordCollection { records(.company) }
    public var deals: RecordCollection { records(.deal) }
    public var tickets: RecordCollection { records(.ticket) }

    /// The records of a type, by the name commands use.
    public func records(_ type: TimelineSubject) -> RecordCollection {
        RecordCollection(db: db, rules: Self.rules(type), cacheFill: cacheFill)
    }

    /// The rules records of `type` follow.
    static func rules(_ type: TimelineSubject) -> any RecordRules {
        switch type {
        case .contact: ContactRules()
        case .company: CompanyRules()
        case .deal: DealRules()
        case .ticket: TicketRules()
        }
    }

    public var relations: CompanyRelations { CompanyRelations(db: db) }
    public var pipelines: Pipelines { Pipelines(db: db) }
    public var dealFlow: DealFlow { DealFlow(db: db) }
    public var ticketDesk: TicketDesk { TicketDesk(db: db) }
    public var serviceLevels: ServiceLevels { ServiceLevels(db: db) }
    public var engagement: Engagement { Engagement(db: db) }
    public var privacy: Privacy { Privacy(db: db, writer: writer) }
    public var analytics: Analytics { Analytics(db: db) }
    public var inventory: Inventory { Inventory(db: db) }
    public var reorders: Reorders { Reorders(db: db) }
    public var feeds: Feeds { Feeds(db: db) }

    /// Up to `limit` events after `seq` in order, only of `types` when given
    /// (`reorder.*` matches by prefix).
    public func events(after seq: Int64, limit: Int, types: [String]) throws -> [CommittedEvent] {
        try EventLog.read(db, after: seq, limit: limit, types: types)
    }

    /// How many records of each type the tenant holds (`DBSIZE`, `INFO keyspace`).
    /// Each count is named by its table (`contacts`, `companies`, …).
    public func recordCounts() throws -> [(table: String, count: Int)] {
        try TimelineSubject.allCases.map { type in
            let table = Self.rules(type).table.table
            return (table, try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0)
        }
    }

    /// The newest sequence number in the log, where a reader that found nothing waits from.
    public func newestEventSeq() throws -> Int64 {
        try EventLog.newestSeq(db)
    }
}
