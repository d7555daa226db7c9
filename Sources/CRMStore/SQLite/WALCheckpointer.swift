import Dispatch
import GRDB
import Synchronization

/// Copies a tenant's write-ahead log back into its database file on a
/// background queue, so no commit waits for a checkpoint.
///
/// Left to SQLite, the commit that takes the WAL past 1,000 pages runs the
/// checkpoint itself, database fsync included, and every write in that
/// batch waits for it. Here the writer only counts its commits; every
/// ``commitsPerCheckpoint`` (or after a second with any) a PASSIVE checkpoint
/// runs on a connection of its own, which never blocks the writer or the
/// readers, and is closed again: an open tenant keeps no memory for it.
final class WALCheckpointer: Sendable {
    /// One queue for every tenant: checkpoints are background disk work.
    private static let queue = DispatchQueue(label: "crmgate.checkpoint", qos: .utility)
    static let commitsPerCheckpoint = 100

    private struct State {
        var commits = 0
        var lastCheckpoint = ContinuousClock.now
        var scheduled = false
        var closed = false
    }

    private let path: String
    private let configuration: Configuration
    private let state = Mutex(State())

    init(path: String, configuration: Configuration) {
        self.path = path
        self.configuration = configuration
    }

    /// Called by the writer after each commit.
    func committed() {
        let now = ContinuousClock.now
        let due = state.withLock { state -> Bool in
            state.commits += 1
            guard !state.scheduled, !state.closed,
                state.commits >= Self.commitsPerCheckpoint || now - state.lastCheckpoint >= .seconds(1)
            else { return false }
            state.scheduled = true
            state.commits = 0
            state.lastCheckpoint = now
            return true
        }
        if due { Self.queue.async { self.checkpoint() } }
    }

    /// Checkpoints now, on the calling thread: what ``committed()`` schedules.
    func checkpoint() {
        defer { state.withLock { $0.scheduled = false } }
        guard !state.withLock({ $0.closed }) else { return }
        // A failed checkpoint leaves the WAL to the next one; the data is safe in the WAL either way.
        guard let connection = try? DatabaseQueue(path: path, configuration: configuration) else { return }
        _ = try? connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
        try? connection.close()
    }

    /// Waits for a checkpoint in progress; none starts afterwards.
    func close() {
        Self.queue.sync { state.withLock { $0.closed = true } }
    }
}
