import Foundation
import NIOPosix
import Synchronization

/// Makes committed WAL frames durable for every tenant at once.
///
/// At `durability full` a tenant's writer commits with `synchronous=NORMAL`
/// (SQLite writes the WAL frames but does not sync them) and then asks this
/// for a sync of the tenant's WAL file before answering the batch's writes.
/// The writer's thread goes on to other tenants meanwhile; the syncs run on a
/// pool of their own, many at once, so the filesystem makes the WALs of many
/// tenants durable in one journal commit (on this machine's disk, 40 threads
/// each syncing a file of their own complete 25.8k syncs/s between them; one
/// file synced after another, 4.0k/s).
///
/// A sync of a WAL covers every frame written to it before the sync began, so
/// calls that arrive while that file's sync runs wait for the next one, which
/// serves them all.
final class WALSync: Sendable {
    /// The one pool of the process: the disk is one, whatever the number of tenants.
    static let shared = WALSync(threads: 64)

    private typealias Waiter = @Sendable ((any Error)?) -> Void

    private let pool: NIOThreadPool
    /// The files with a sync scheduled or running, and the calls waiting for their next sync.
    private let waiting = Mutex<[String: [Waiter]]>([:])
    private let completed = Atomic<Int>(0)

    /// Syncs of WAL files completed since the process started (for `INFO persistence`).
    var syncs: Int { completed.load(ordering: .relaxed) }

    private init(threads: Int) {
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    /// Calls `durable` once every frame written to the WAL file at `path` before
    /// this call is on disk, with the error if the sync failed.
    func sync(_ path: String, then durable: @escaping @Sendable ((any Error)?) -> Void) {
        let start = waiting.withLock { waiting in
            let isNew = waiting[path] == nil
            waiting[path, default: []].append(durable)
            return isNew
        }
        if start { schedule(path) }
    }

    private func schedule(_ path: String) {
        pool.submit { [self] _ in syncWaiting(path) }
    }

    /// Syncs `path` for everyone waiting on it now, answers them, and goes again if more came meanwhile.
    private func syncWaiting(_ path: String) {
        let served = waiting.withLock { waiting in
            defer { waiting[path] = [] }
            return waiting[path] ?? []
        }
        let error = Self.dataSync(path)
        completed.add(1, ordering: .relaxed)
        let again = waiting.withLock { waiting in
            guard waiting[path]?.isEmpty == false else {
                waiting[path] = nil
                return false
            }
            return true
        }
        for durable in served { durable(error) }
        if again { schedule(path) }
    }

    /// `fdatasync` of the file at `path` through a descriptor of its own: Linux
    /// syncs the file, whichever descriptor names it. A WAL that no longer exists
    /// belonged to a tenant dropped since (tenants' WAL files stay when they close).
    private static func dataSync(_ path: String) -> (any Error)? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return nil }
            return StoreError.unavailable("cannot open \(path) to sync it: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        guard fdatasync(descriptor) == 0 else {
            return StoreError.unavailable(
                "the write could not be made durable (fdatasync of \(path): \(String(cString: strerror(errno)))); "
                    + "it may or may not survive a crash")
        }
        return nil
    }
}
