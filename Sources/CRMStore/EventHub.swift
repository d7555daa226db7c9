import CRMCore
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

/// Tells listeners about a tenant's events once they are committed and
/// durable, never before: the group-commit writer reads each commit's events
/// (only while someone listens) and publishes them once the commit is on disk.
///
/// Subscribers get every committed event in order; a one-shot wait (a
/// blocking `EVENTS.READ`) is woken by the first commit after the sequence
/// number it has seen. Listeners are called on a store thread and must
/// hand the work to their own event loop.
public final class EventHub: Sendable {
    /// Identifies a listener, to cancel it.
    public struct Token: Hashable, Sendable {
        fileprivate let id: Int
    }

    private struct State {
        var lastSeq: Int64
        var subscribers: [Int: @Sendable ([CommittedEvent]) -> Void] = [:]
        /// One-shot: dropped once woken.
        var waiters: [Int: @Sendable () -> Void] = [:]
        var nextID = 0

        var isListening: Bool { !subscribers.isEmpty || !waiters.isEmpty }

        mutating func nextToken() -> Token {
            nextID += 1
            return Token(id: nextID)
        }
    }

    private let state: Mutex<State>

    init(lastSeq: Int64) {
        state = Mutex(State(lastSeq: lastSeq))
    }

    /// Calls `deliver` with the events of every later commit, until cancelled.
    public func subscribe(_ deliver: @escaping @Sendable ([CommittedEvent]) -> Void) -> Token {
        state.withLock { state in
            let token = state.nextToken()
            state.subscribers[token.id] = deliver
            return token
        }
    }

    /// Calls `wake` once, at the first commit that takes the log past `seq`.
    /// Returns nil without registering when the log is already past it.
    public func wake(after seq: Int64, _ wake: @escaping @Sendable () -> Void) -> Token? {
        state.withLock { state in
            guard state.lastSeq <= seq else { return nil }
            let token = state.nextToken()
            state.waiters[token.id] = wake
            return token
        }
    }

    public func cancel(_ token: Token) {
        state.withLock { state in
            state.subscribers[token.id] = nil
            state.waiters[token.id] = nil
        }
    }

    /// The newest sequence number published.
    var newestSeq: Int64 { state.withLock { $0.lastSeq } }

    /// Whether anyone listens now (a commit's events are read only then).
    var isListening: Bool { state.withLock { $0.isListening } }

    /// Reads what the commit just made added to the log (its events only while
    /// someone listens). Called by the writer on its connection after each commit.
    func read(after commit: any SQLDatabase) throws -> CommittedEvents {
        let (after, listening) = state.withLock { ($0.lastSeq, $0.isListening) }
        guard listening else { return CommittedEvents(newest: try EventLog.newestSeq(commit), events: []) }
        let events = try EventLog.read(commit, after: after, limit: nil, types: [])
        return CommittedEvents(newest: events.last?.seq ?? after, events: events)
    }

    /// Tells listeners about a commit's events once the commit is durable.
    /// Each reading holds every event after the seq published when it was
    /// read, so publishing them as they come delivers each event once and in
    /// order, even when another gateway's commits are caught up beside this
    /// one's own (what was published already is skipped).
    func publish(_ committed: CommittedEvents) {
        let (events, subscribers, waiters) = state.withLock {
            state -> ([CommittedEvent], [@Sendable ([CommittedEvent]) -> Void], [@Sendable () -> Void]) in
            guard committed.newest > state.lastSeq else { return ([], [], []) }
            let published = state.lastSeq
            state.lastSeq = committed.newest
            defer { state.waiters.removeAll() }
            // In seq order: only a leading run can have been published already.
            let events = Array(committed.events.drop { $0.seq <= published })
            return (events, events.isEmpty ? [] : Array(state.subscribers.values), Array(state.waiters.values))
        }
        for deliver in subscribers { deliver(events) }
        for wake in waiters { wake() }
    }
}

/// The events one commit added to a tenant's log, between the commit and its publication.
struct CommittedEvents: Sendable {
    /// The log's newest sequence number after the commit.
    let newest: Int64
    /// The commit's events, read only while someone listened.
    let events: [CommittedEvent]
}
