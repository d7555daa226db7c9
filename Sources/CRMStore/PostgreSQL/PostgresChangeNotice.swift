import CRMCore

/// What one gateway's commit tells the others sharing its PostgreSQL, as a
/// `NOTIFY` payload sent in the commit's transaction (so it is delivered, in
/// commit order, only if the commit is): which gateway committed, to which
/// tenant, where the tenant's event log stands, and which cached records went stale.
struct PostgresChangeNotice: Equatable, Sendable {
    /// Payloads stay well under PostgreSQL's 8,000 bytes: past this, a notice names no records and means all.
    static let maxPayload = 4000

    /// The committing store's ``PostgresStore/instanceID``.
    let origin: String
    /// The notice's number among its origin's, for the other gateways to acknowledge.
    let number: Int
    let tenant: String
    /// The tenant's newest event sequence number after the commit.
    let newestSeq: Int64
    let records: RecordChanges

    /// `c origin number tenant newestSeq records`, records being `*` (any) or `kind:id,…` (possibly empty).
    var payload: String {
        let head = "c \(origin) \(number) \(tenant) \(newestSeq) "
        switch records {
        case .all:
            return head + "*"
        case .some(let keys):
            let named = head + keys.map { "\($0.type.rawValue):\($0.id)" }.joined(separator: ",")
            return named.utf8.count <= Self.maxPayload ? named : head + "*"
        }
    }
}

extension PostgresChangeNotice {
    /// Reads a ``payload``; nil if it is not one.
    init?(payload: String) {
        let parts = payload.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "c", let number = Int(parts[2]), let newest = Int64(parts[4]) else {
            return nil
        }
        if parts[5] == "*" {
            records = .all
        } else {
            var keys = Set<RecordCache.Key>()
            guard let pairs = namedNumbers(parts[5]) else { return nil }
            for (name, id) in pairs {
                guard let type = RecordKind(rawValue: name) else { return nil }
                keys.insert(RecordCache.Key(type: type, id: id))
            }
            records = .some(keys)
        }
        origin = String(parts[1])
        self.number = number
        tenant = String(parts[3])
        newestSeq = newest
    }
}

/// A gateway's heartbeat on the channel, also carrying its acknowledgements:
/// the other gateways' notices it has acted on (forgotten their records)
/// since its last beat. A leasing beat is sent while the gateway's caches
/// serve: coming back, it renews their lease, and the others wait for its
/// acknowledgements; a beat that only acknowledges does neither.
struct PostgresBeat: Equatable, Sendable {
    struct Acknowledgement: Hashable, Sendable {
        let origin: String
        let number: Int
    }

    let origin: String
    let number: Int
    let leasing: Bool
    let acknowledgements: [Acknowledgement]

    /// `b origin number L|A ackOrigin:number,…`.
    var payload: String {
        "b \(origin) \(number) \(leasing ? "L" : "A") "
            + acknowledgements.map { "\($0.origin):\($0.number)" }.joined(separator: ",")
    }
}

extension PostgresBeat {
    /// Reads a ``payload``; nil if it is not one.
    init?(payload: String) {
        let parts = payload.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "b", let number = Int(parts[2]), parts[3] == "L" || parts[3] == "A" else {
            return nil
        }
        guard let pairs = namedNumbers(parts[4]) else { return nil }
        let acknowledgements = pairs.map { Acknowledgement(origin: $0.name, number: Int($0.number)) }
        origin = String(parts[1])
        self.number = number
        leasing = parts[3] == "L"
        self.acknowledgements = acknowledgements
    }

    /// Beats carrying `acknowledgements`, each payload within ``PostgresChangeNotice/maxPayload``.
    static func split(origin: String, firstNumber: Int, leasing: Bool, acknowledgements: [Acknowledgement])
        -> [PostgresBeat]
    {
        let perBeat = max(1, PostgresChangeNotice.maxPayload / (origin.utf8.count + 24))
        guard acknowledgements.count > perBeat else {
            return [
                PostgresBeat(origin: origin, number: firstNumber, leasing: leasing, acknowledgements: acknowledgements)
            ]
        }
        return stride(from: 0, to: acknowledgements.count, by: perBeat).enumerated().map { index, start in
            PostgresBeat(
                origin: origin, number: firstNumber + index, leasing: leasing,
                acknowledgements: Array(acknowledgements[start..<min(start + perBeat, acknowledgements.count)]))
        }
    }
}

/// Reads a payload's `name:number,…` list (possibly empty); nil if an item is not one.
private func namedNumbers(_ list: Substring) -> [(name: String, number: Int64)]? {
    var pairs: [(name: String, number: Int64)] = []
    for item in list.split(separator: ",") {
        let pair = item.split(separator: ":")
        guard pair.count == 2, let number = Int64(pair[1]) else { return nil }
        pairs.append((String(pair[0]), number))
    }
    return pairs
}

/// Access taken away, as told to the other gateways sharing PostgreSQL.
extension AccessWithdrawal {
    /// `a origin kind value`, as sent in the catalog's transaction.
    func payload(origin: String) -> String {
        switch self {
        case .keyRevoked(let id): "a \(origin) key \(id)"
        case .tenantSuspended(let name): "a \(origin) suspended \(name.value)"
        case .tenantDropped(let name): "a \(origin) dropped \(name.value)"
        }
    }

    /// Reads a ``payload(origin:)``: the withdrawal and its origin; nil if it is not one.
    static func parse(_ payload: String) -> (origin: String, withdrawal: AccessWithdrawal)? {
        let parts = payload.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "a" else { return nil }
        let value = String(parts[3])
        switch parts[2] {
        case "key": return (String(parts[1]), .keyRevoked(id: value))
        case "suspended": return (try? TenantName(value)).map { (String(parts[1]), .tenantSuspended($0)) }
        case "dropped": return (try? TenantName(value)).map { (String(parts[1]), .tenantDropped($0)) }
        default: return nil
        }
    }
}
