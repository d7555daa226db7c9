import CRMCore
import GRDB
import Synchronization

/// One committed entry of a tenant's event log.
public struct CommittedEvent: Sendable, Equatable {
    public var seq: Int64
    public var type: String
    public var recordType: String
    public var recordID: Int64
    /// The changed fields as a JSON object.
    public var fields: String
    public var keyID: String?
    public var at: String

    /// The whole event as one JSON object, the payload of a pub/sub message.
    public var json: String {
        "{\"seq\":\(seq),\"type\":\(JSONText.quoted(type)),\"record_type\":\(JSONText.quoted(recordType)),"
            + "\"record_id\":\(recordID),\"fields\":\(fields),\"key_id\":\(keyID.map { JSONText.quoted($0) } ?? "null"),"
            + "\"at\":\(JSONText.quoted(at))}"
    }
}

/// Tells listeners about a tenant's events once they are committed, never
/// before: the group-commit writer reports each commit, and the hub reads the
/// events that commit added only while someone listens.
///
/// Subscribers get every committed event in order; a one-shot wait (a
/// blocking `EVENTS.READ`) is woken by the first commit after the sequence
/// number it has seen. Listeners are called on the writer's thread and must
/// hand the work to their own event loop.
public final class EventHub: Sendable {
    /// Identifies a listener, to cancel it.
    public struct Token: Hashable, Sendable {
        fileprivate let id: Int
    }

    private enum Listener {
        case subscriber(@Sendable ([CommittedEvent]) -> Void)
        case waiter(@Sendable () -> Void)
    }

    private struct State {
        var lastSeq: Int64
        var listeners: [Int: Listener] = [:]
        var nextID = 0
    }

    private let state: Mutex<State>

    init(lastSeq: Int64) {
        state = Mutex(State(lastSeq: lastSeq))
    }

    /// The newest committed sequence number.
    public var lastSeq: Int64 { state.withLock { $0.lastSeq } }

    /// Calls `deliver` with the events of every later commit, until cancelled.
    public func subscribe(_ deliver: @escaping @Sendable ([CommittedEvent]) -> Void) -> Token {
        add(.subscriber(deliver))
    }

    /// Calls `wake` once, at the first commit that takes the log past `seq`.
    /// Returns nil without registering when the log is already past it.
    public func wake(after seq: Int64, _ wake: @escaping @Sendable () -> Void) -> Token? {
        state.withLock { state in
            guard state.lastSeq <= seq else { return nil }
            return Self.insert(.waiter(wake), into: &state)
        }
    }

    public func cancel(_ token: Token) {
        _ = state.withLock { $0.listeners.removeValue(forKey: token.id) }
    }

    /// Called by the writer after each commit, on its own thread, so commits
    /// are reported one at a time and in order.
    func committed(_ db: Database) throws {
        let (after, listening) = state.withLock { ($0.lastSeq, !$0.listeners.isEmpty) }
        guard listening else {
            let newest = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM events")) ?? after
            state.withLock { $0.lastSeq = max($0.lastSeq, newest) }
            return
        }
        let events = try EventLog.read(db, after: after, limit: nil, types: [])
        guard let newest = events.last?.seq else { return }
        let listeners = state.withLock { state -> [Listener] in
            state.lastSeq = newest
            let listeners = Array(state.listeners.values)
            state.listeners = state.listeners.filter {
                if case .subscriber = $0.value { return true }
                return false
            }
            return listeners
        }
        for listener in listeners {
            switch listener {
            case .subscriber(let deliver): deliver(events)
            case .waiter(let wake): wake()
            }
        }
    }

    private func add(_ listener: Listener) -> Token {
        state.withLock { Self.insert(listener, into: &$0) }
    }

    private static func insert(_ listener: Listener, into state: inout State) -> Token {
        state.nextID += 1
        state.listeners[state.nextID] = listener
        return Token(id: state.nextID)
    }
}
