import CRMCore
import CRMProtocol
import CRMStore
import Logging
import NIOCore

/// What a command knows about the connection that sent it. A tenant session
/// holds its own tenant's database and no other: that handle is the only
/// path to CRM data, so no command can name another tenant's records.
struct Session: Sendable {
    var client: ClientInfo
    var protocolVersion = RESPVersion.resp2
    var key: KeyInfo?
    /// The hold on the tenant's database; ``hold(_:)`` is the one place it is released.
    private(set) var lease: TenantLease?
    /// The tenant's own figures (commands, errors, connections) this session adds to.
    var activity: TenantActivity.Counters?
    var name: String?
    /// The ERP feed `SEQ n` arguments belong to, chosen with FEED.OPEN.
    var feed: String?
    /// Records named by `WATCH`, checked by the next EXEC.
    var watched: [WatchedRecord] = []
    /// Channels plus patterns subscribed; a RESP2 connection with any is in subscribe mode.
    var subscriptionCount = 0

    /// RESP2 subscribe mode: only (P)SUBSCRIBE, (P)UNSUBSCRIBE, PING, QUIT and RESET may run.
    var inSubscribeMode: Bool { subscriptionCount > 0 && protocolVersion == .resp2 }

    var role: Role? { key?.role }

    /// The session's tenant database; admin sessions have none.
    var tenant: TenantDatabase? { lease?.database }

    /// Holds `lease` (nil: no tenant) and releases the one held before.
    mutating func hold(_ lease: TenantLease?) {
        self.lease?.release()
        self.lease = lease
    }

    /// AUTH or HELLO succeeded: the session now acts as `key`, on `lease`'s
    /// tenant, and counts toward `activity`. Records watched in a previous
    /// tenant are forgotten: they name that tenant's data.
    mutating func authenticate(_ key: KeyInfo, lease: TenantLease?, activity: TenantActivity.Counters?) {
        hold(lease)
        self.key = key
        watched = []
        self.activity?.connectedClients.subtract(1, ordering: .relaxed)
        self.activity = activity
        activity?.connectedClients.add(1, ordering: .relaxed)
        activity?.connectionsReceived.add(1, ordering: .relaxed)
        client.details.withLock { details in
            details.keyID = key.id
            details.tenant = key.tenant
            details.role = key.role
        }
    }

    /// RESET: back to a fresh, unauthenticated connection.
    mutating func reset() {
        hold(nil)
        activity?.connectedClients.subtract(1, ordering: .relaxed)
        self = Session(client: client)
        client.details.withLock { details in
            details.name = nil
            details.keyID = nil
            details.tenant = nil
            details.role = nil
            details.protocolVersion = 2
        }
    }
}

/// A change a command makes to its connection, applied on the connection's event loop.
enum SessionEffect: Sendable {
    case authenticated(KeyInfo, TenantLease?)
    case setName(String?)
    case switchProtocol(RESPVersion)
    case reset
    /// MULTI: queue the following commands until EXEC or DISCARD.
    case beginTransaction
    /// WATCH: EXEC applies nothing if one of these records changed.
    case watch([WatchedRecord])
    /// UNWATCH: forget the watched records.
    case unwatch
    /// FEED.OPEN: later `SEQ n` arguments number this feed's updates.
    case openFeed(String)
    /// (P)(UN)SUBSCRIBE: the session answers with one confirmation frame per
    /// channel instead of the command's reply.
    case subscriptions(SubscriptionChange)
    /// Close after this reply is written (QUIT).
    case close
    /// Over a rate limit: read nothing more from this connection for this many
    /// milliseconds, so a flood costs the server one read per retry interval.
    case holdReading(Int)
}
