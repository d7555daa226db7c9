import Synchronization

/// Each tenant's own figures, for the `INFO` a tenant key sees: its
/// connections and commands, never another tenant's or the server's.
final class TenantActivity: Sendable {
    /// One tenant's counters; a session holds its tenant's, so counting a command is one atomic add.
    final class Counters: Sendable {
        let connectedClients = Atomic<Int>(0)
        let blockedClients = Atomic<Int>(0)
        let connectionsReceived = Atomic<Int>(0)
        let commandsProcessed = Atomic<Int>(0)
        let errorReplies = Atomic<Int>(0)
        let authFailures = Atomic<Int>(0)
        let rateLimited = Atomic<Int>(0)
        let pubsubMessages = Atomic<Int>(0)
    }

    private let tenants = Mutex<[String: Counters]>([:])

    /// `tenant`'s counters, made on first use; they last for the server's lifetime.
    func counters(for tenant: String) -> Counters {
        tenants.withLock { tenants in
            if let counters = tenants[tenant] { return counters }
            let counters = Counters()
            tenants[tenant] = counters
            return counters
        }
    }

    /// A failed AUTH with a key of `tenant` (nil: an admin key).
    func recordAuthFailure(tenant: String?) {
        guard let tenant else { return }
        counters(for: tenant).authFailures.add(1, ordering: .relaxed)
    }

    /// Forgets a dropped tenant's counters.
    func remove(_ tenant: String) {
        _ = tenants.withLock { $0.removeValue(forKey: tenant) }
    }
}
