import Dispatch
import GRDB
import Synchronization

/// The read-only connections for reads that leave the event loops (searches,
/// analytics, exports, and any read an inline connection handed back): a few
/// per tenant, each with a serial queue of its own on a shared pool of
/// threads. A read waits in the queue of the connection with the fewest
/// reads ahead of it.
///
/// GRDB's reader pool parked a thread on a semaphore for each read waiting for
/// a free connection: fifty SEARCHes in flight held dozens of threads, blocked
/// and woken one by one (a sixth of the process's time in `perf`), and each
/// read parsed its `BEGIN` and `COMMIT` anew.
final class BackgroundReaders: Sendable {
    /// Connections per tenant: reads of one tenant run two at a time.
    static let lanes = 2
    /// The threads every tenant's readers run on, as the writers' (``GroupCommitWriter``).
    private static let threads = DispatchQueue.global(qos: .userInitiated)

    /// One connection, opened at its first read and closed by ``release()``; used on its queue only.
    private final class Lane: @unchecked Sendable {
        let queue: DispatchQueue
        let pending = Atomic<Int>(0)
        var connection: ReadConnection?

        init(label: String) {
            queue = DispatchQueue(label: label, target: BackgroundReaders.threads)
        }
    }

    private let path: String
    private let label: String
    private let lanes: [Lane]
    private let closed = Atomic<Bool>(false)

    init(path: String, label: String) {
        self.path = path
        self.label = label
        lanes = (0..<Self.lanes).map { Lane(label: "crmgate.reader.\(label).\($0)") }
    }

    /// Runs `body` in a read transaction on a reader thread and calls `completion` there with its result.
    func read<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        let lane = lanes.min { $0.pending.load(ordering: .relaxed) < $1.pending.load(ordering: .relaxed) }!
        lane.pending.add(1, ordering: .relaxed)
        lane.queue.async { [self] in
            defer { lane.pending.subtract(1, ordering: .relaxed) }
            completion(
                Result {
                    guard !closed.load(ordering: .relaxed) else {
                        throw StoreError.unavailable("the tenant's database is closing")
                    }
                    if lane.connection == nil {
                        lane.connection = try ReadConnection(
                            path: path, label: "reader.\(label)", busyMode: .timeout(10))
                    }
                    return try lane.connection!.read(body)
                })
        }
    }

    /// Closes the connections, after the reads queued before them; the next read opens one again.
    /// Blocking: call it off the event loops.
    func release() {
        for lane in lanes {
            lane.queue.sync { lane.connection = nil }
        }
    }

    /// Waits for the reads in progress and closes the connections; reads queued after fail.
    func close() {
        closed.store(true, ordering: .relaxed)
        for lane in lanes {
            lane.queue.sync { lane.connection = nil }
        }
    }
}
