import NIOCore

/// When a connection is closed without asking: it did not authenticate in
/// time, it sat idle too long, or the server is shutting down. Pure: every
/// event carries the time, so tests drive it with a fake clock.
///
/// Idle means no command ran for the idle timeout (Redis's `timeout`). Bytes
/// alone are not activity: a connection that sent half a command and stalled,
/// or trickles one byte at a time, is idle. A command in flight and a
/// subscriber are never idle.
struct ConnectionStateMachine {
    /// Why a connection was closed.
    enum Reason: Equatable {
        case authTimeout
        case idle
        case shutdown
    }

    enum Action: Equatable {
        /// Close the connection now.
        case close(Reason)
        /// Look again at this time (``deadlineReached(now:)``).
        case checkAt(NIODeadline)
        case none
    }

    private let idleTimeout: TimeAmount?
    private let authTimeout: TimeAmount?
    private var authDeadline: NIODeadline?
    private var lastActive: NIODeadline
    private var authenticated = false
    private var busy = false
    private var subscribed = false
    private var quiescing = false

    init(now: NIODeadline, idleTimeout: TimeAmount?, authTimeout: TimeAmount?) {
        self.idleTimeout = idleTimeout
        self.authTimeout = authTimeout
        authDeadline = authTimeout.map { now + $0 }
        lastActive = now
    }

    /// When to look first (and again after a RESET): the AUTH deadline or the idle timeout, whichever comes first.
    var firstCheck: Action {
        let candidates = [authDeadline, idleTimeout.map { lastActive + $0 }].compactMap(\.self)
        return candidates.min().map(Action.checkAt) ?? .none
    }

    /// A command started waiting on storage: the connection is busy until ``commandsAnswered(now:)``.
    mutating func commandWaiting() { busy = true }

    /// Commands ran and nothing is left in flight; closes a connection that was shutting down.
    mutating func commandsAnswered(now: NIODeadline) -> Action {
        busy = false
        lastActive = now
        return quiescing ? .close(.shutdown) : .none
    }

    mutating func authenticated(_ isAuthenticated: Bool) { authenticated = isAuthenticated }

    /// RESET: the connection is unauthenticated again and has the AUTH timeout
    /// from now to authenticate, as a new connection has. (Measured from the
    /// connect, the deadline of a connection authenticated for a while had
    /// passed, and the next check closed it before it could AUTH again.)
    mutating func reset(now: NIODeadline) -> Action {
        authenticated = false
        authDeadline = authTimeout.map { now + $0 }
        return firstCheck
    }

    mutating func subscribed(_ isSubscribed: Bool) { subscribed = isSubscribed }

    /// The server is shutting down: close now if nothing is in flight, else once it is answered.
    mutating func quiesce() -> Action {
        quiescing = true
        return busy ? .none : .close(.shutdown)
    }

    /// A check scheduled by ``firstCheck`` or an earlier call is due.
    mutating func deadlineReached(now: NIODeadline) -> Action {
        // Busy or subscribed past a deadline: look again soon after that may have ended.
        let soon = now + .milliseconds(100)
        var checks: [NIODeadline] = []
        if let authDeadline, !authenticated {
            if now < authDeadline {
                checks.append(authDeadline)
            } else if busy {
                checks.append(soon)
            } else {
                return .close(.authTimeout)
            }
        }
        if let idleTimeout {
            let idleUntil = lastActive + idleTimeout
            if now < idleUntil {
                checks.append(idleUntil)
            } else if busy || subscribed {
                checks.append(soon)
            } else {
                return .close(.idle)
            }
        }
        return checks.min().map(Action.checkAt) ?? .none
    }
}
