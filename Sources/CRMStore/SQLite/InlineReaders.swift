import GRDB
import GRDBSQLite
import NIOCore
import NIOPosix
import Synchronization

/// Read-only connections that answer small reads on the calling thread, one
/// per lane (the gateway's lanes are its event loops), so a point read or a
/// small indexed FIND costs no hop to a reader thread and back.
///
/// The reads of one turn of a lane's loop share a snapshot while no commit
/// comes between them: the first read begins it, each later one checks the
/// tenant's count of commits (bumped after each commit, before any of its
/// writes is answered, so a read never misses an acknowledged write), and the
/// snapshot ends once the work the turn queued ran, so a stale one keeps the
/// WAL from being checkpointed and restarted for a turn at most.
///
/// Nothing here waits or runs long: a lane's connection opens in the
/// background (the read that finds none goes to a reader thread); a read
/// that would wait for a lock, or runs past a budget of SQLite VM steps, is
/// stopped and handed back, and the caller reads on a reader thread instead.
/// Reads are side-effect free, so a stopped one costs only the steps it ran.
final class InlineReaders: Sendable {
    /// SQLite calls the budget check every this many VM steps of a statement.
    static let stepsPerCheck: Int32 = 500
    /// Checks a read may pass before it is stopped: 10,000 VM steps, tens of
    /// microseconds. A FIND of 10 records by an index takes about 260 steps,
    /// a point read about 30.
    static let checksPerRead = 20

    private enum Slot {
        case opening
        case ready(Connection)
        case inUse
        /// The connection could not open; lanes read on reader threads until the next release.
        case unavailable
    }

    private struct State {
        var slots: [ObjectIdentifier: Slot] = [:]
        var closed = false
    }

    private let path: String
    private let label: String
    private let state = Mutex(State())
    /// The tenant's commits so far: a snapshot begun at another count is stale.
    private let commits = Atomic<UInt64>(0)

    init(path: String, label: String) {
        self.path = path
        self.label = label
    }

    /// The writer committed. Call after each commit, before any of its writes
    /// is answered, and before the record cache forgets what it changed (a read
    /// that takes its cache fill after that forgetting then sees this count).
    func committed() {
        commits.add(1, ordering: .releasing)
    }

    /// Runs `body` on `lane`'s connection, on the calling thread (`lane`'s),
    /// in the snapshot this turn's reads share if no commit came since it
    /// began, else in a new one. Nil if it did not run to the end here: no
    /// connection yet (one starts opening), a lock held, or the step budget spent.
    func read<T>(lane: any EventLoop, _ body: (Database) throws -> T) -> Result<T, any Error>? {
        let laneID = ObjectIdentifier(lane)
        guard let connection = checkOut(laneID) else { return nil }
        defer { checkIn(connection, lane: laneID) }
        connection.budget.pointee = Self.checksPerRead
        do {
            let value = try connection.reads.readInKeptSnapshot(commits: commits.load(ordering: .acquiring), body)
            // `body` may have turned the stopped statement's error into a result of its own.
            guard connection.budget.pointee != Connection.stopped else {
                connection.reads.endKeptSnapshot()
                return nil
            }
            endSnapshotAfterThisTurn(connection, lane: lane)
            return .success(value)
        } catch let error as DatabaseError
            where error.resultCode == .SQLITE_INTERRUPT || error.resultCode == .SQLITE_BUSY
            || error.resultCode == .SQLITE_LOCKED
        {
            return nil
        } catch {
            return .failure(error)
        }
    }

    /// Closes every connection not in use; lanes open theirs again when they next read.
    func release() {
        _ = state.withLock { state in Self.takeReady(from: &state) }
    }

    /// Closes every connection; those in use or opening close when their read or open ends.
    func close() {
        _ = state.withLock { state in
            state.closed = true
            return Self.takeReady(from: &state)
        }
    }

    /// Removes the connections not in use (and the lanes that could not open one) from `state`, and
    /// returns them: they close once the caller drops them, outside the lock (a close takes microseconds).
    private static func takeReady(from state: inout State) -> [Connection] {
        var ready: [Connection] = []
        for (lane, slot) in state.slots {
            switch slot {
            case .ready(let connection):
                ready.append(connection)
                state.slots[lane] = nil
            case .unavailable:
                state.slots[lane] = nil
            case .opening, .inUse:
                continue
            }
        }
        return ready
    }

    /// Has `lane` end `connection`'s snapshot once the work queued before now
    /// ran: the rest of this turn's reads share it. Call on `lane`, with
    /// `connection` checked out.
    private func endSnapshotAfterThisTurn(_ connection: Connection, lane: any EventLoop) {
        guard !connection.snapshotEndScheduled else { return }
        connection.snapshotEndScheduled = true
        lane.execute { [self] in
            connection.snapshotEndScheduled = false
            let laneID = ObjectIdentifier(lane)
            // Checked out as for a read: one released or closed meanwhile ends its snapshot as it closes.
            let isLanes = state.withLock { state in
                guard case .ready(let ready) = state.slots[laneID], ready === connection else { return false }
                state.slots[laneID] = .inUse
                return true
            }
            guard isLanes else { return }
            connection.reads.endKeptSnapshot()
            checkIn(connection, lane: laneID)
        }
    }

    private func checkOut(_ lane: ObjectIdentifier) -> Connection? {
        let (connection, startOpening) = state.withLock { state -> (Connection?, Bool) in
            guard !state.closed else { return (nil, false) }
            switch state.slots[lane] {
            case .ready(let connection):
                state.slots[lane] = .inUse
                return (connection, false)
            case .none:
                // Short of descriptors: this lane's reads go to the tenant's readers meanwhile.
                guard !DescriptorPressure.isHigh.load(ordering: .relaxed) else { return (nil, false) }
                state.slots[lane] = .opening
                return (nil, true)
            case .opening, .inUse, .unavailable:
                return (nil, false)
            }
        }
        if startOpening { open(lane) }
        return connection
    }

    private func checkIn(_ connection: Connection, lane: ObjectIdentifier) {
        state.withLock { state in
            if !state.closed { state.slots[lane] = .ready(connection) } else { state.slots[lane] = nil }
        }
    }

    private func open(_ lane: ObjectIdentifier) {
        let (path, label) = (path, label)
        NIOThreadPool.singleton.submit { [self] workState in
            guard workState == .active, let connection = try? Connection(path: path, label: label) else {
                state.withLock { state in state.slots[lane] = .unavailable }
                return
            }
            state.withLock { state in
                if !state.closed { state.slots[lane] = .ready(connection) } else { state.slots[lane] = nil }
            }
        }
    }

    /// One read-only connection with its step budget. Used by one thread at a
    /// time: it is checked out under the readers' lock for each read.
    private final class Connection: @unchecked Sendable {
        let reads: ReadConnection
        /// Checks the running read may still pass; SQLite's progress handler counts it down.
        let budget = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        /// Whether the lane will end the snapshot kept open. Used on the lane's thread only.
        var snapshotEndScheduled = false
        /// The budget once the handler stopped a read.
        static let stopped = Int.max

        init(path: String, label: String) throws {
            // A lock held elsewhere hands the read back at once: it never waits on the calling thread.
            reads = try ReadConnection(
                path: path, label: "inline.\(label)", busyMode: .immediateError, keepsSnapshots: true)
            budget.pointee = Self.stopped
            reads.queue.inDatabase { db in
                sqlite3_progress_handler(
                    db.sqliteConnection, InlineReaders.stepsPerCheck,
                    { context in
                        let budget = context!.assumingMemoryBound(to: Int.self)
                        // A read is stopped once; what follows (its rollback) runs unhindered.
                        guard budget.pointee != Connection.stopped else { return 0 }
                        budget.pointee -= 1
                        guard budget.pointee < 0 else { return 0 }
                        budget.pointee = Connection.stopped
                        return 1
                    }, budget)
            }
        }

        deinit {
            budget.deallocate()
        }
    }
}
