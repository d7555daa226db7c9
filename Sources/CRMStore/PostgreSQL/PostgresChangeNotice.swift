import CRMCore

/// What one gateway's commit tells the others sharing its PostgreSQL, as a
/// `NOTIFY` payload sent in the commit's transaction (so it is delivered, in
/// commit order, only if the commit is): which gateway committed, to which
/// tenant, where the tenant's event log stands, and which cached records went stale.
struct PostgresChangeNotice: Equatable, Sendable {
    /// The channel every gateway listens on.
    static let channel = "crmgate_changes"
    /// Payloads stay well under PostgreSQL's 8,000 bytes: past this, a notice names no records and means all.
    static let maxPayload = 4000

    /// The committing store's ``PostgresStore/instanceID``: a gateway skips its own notices.
    let origin: String
    let tenant: String
    /// The tenant's newest event sequence number after the commit.
    let newestSeq: Int64
    let records: RecordChanges

    /// `origin tenant newestSeq records`, records being `*` (any) or `kind:id,…` (possibly empty).
    var payload: String {
        let head = "\(origin) \(tenant) \(newestSeq) "
        switch records {
        case .all:
            return head + "*"
        case .some(let keys):
            let named = head + keys.map { "\($0.type.rawValue):\($0.id)" }.joined(separator: ",")
            return named.utf8.count <= Self.maxPayload ? named : head + "*"
        }
    }

    init(origin: String, tenant: String, newestSeq: Int64, records: RecordChanges) {
        self.origin = origin
        self.tenant = tenant
        self.newestSeq = newestSeq
        self.records = records
    }

    /// Reads a ``payload``; nil if it is not one (another program's notice on the channel).
    init?(payload: String) {
        let parts = payload.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, let newest = Int64(parts[2]) else { return nil }
        if parts[3] == "*" {
            records = .all
        } else {
            var keys = Set<RecordCache.Key>()
            for item in parts[3].split(separator: ",") {
                let pair = item.split(separator: ":")
                guard pair.count == 2, let type = RecordKind(rawValue: String(pair[0])), let id = Int64(pair[1]) else {
                    return nil
                }
                keys.insert(RecordCache.Key(type: type, id: id))
            }
            records = .some(keys)
        }
        origin = String(parts[0])
        tenant = String(parts[1])
        newestSeq = newest
    }
}
