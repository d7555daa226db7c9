import Synchronization

/// Server-wide counters for `INFO stats`.
public final class ServerStatistics: Sendable {
    let startedAt = ContinuousClock.now
    let startedAtUnixSeconds: Int
    let connectionsReceived = Atomic<Int>(0)
    let rejectedConnections = Atomic<Int>(0)
    let errorReplies = Atomic<Int>(0)
    let authFailures = Atomic<Int>(0)
    let protocolErrors = Atomic<Int>(0)
    /// Subscribers closed for falling behind (Redis's client-output-buffer-limit).
    let outputLimitDisconnections = Atomic<Int>(0)
    let pubsubMessages = Atomic<Int>(0)
    /// Commands refused by a tenant or key rate limit.
    let rateLimited = Atomic<Int>(0)
    /// Connections closed by the idle timeout.
    let idleDisconnections = Atomic<Int>(0)
    /// Connections waiting in `EVENTS.READ BLOCK`.
    let blockedClients = Atomic<Int>(0)
    /// Connections closed for not authenticating in time.
    let authTimeouts = Atomic<Int>(0)

    init(startedAtUnixSeconds: Int) {
        self.startedAtUnixSeconds = startedAtUnixSeconds
    }

    var uptimeSeconds: Int {
        Int((ContinuousClock.now - startedAt).components.seconds)
    }
}
