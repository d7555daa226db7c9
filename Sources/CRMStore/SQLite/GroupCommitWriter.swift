import CoreMetrics
import Dispatch
import GRDB
import Synchronization

/// Runs a tenant's writes in shared transactions (group commit).
///
/// Writes queue up while the previous batch commits; the next batch takes them
/// all (up to ``batchLimit``) into one `BEGIN IMMEDIATE … COMMIT`. One failing
/// write does not undo the others: SQLite undoes a failed statement alone, so
/// a write that fails before any statement of its own changed the database
/// leaves nothing to undo; one that fails after one did rolls the transaction
/// back, and the batch runs again with each write in its own savepoint (a
/// savepoint for every write was a tenth of SQLite's instructions for a
/// CONTACT.ADD). Every caller is
/// resumed only after the commit that holds its write has succeeded, so a
/// reply never acknowledges a write that could still be lost. Batches form
/// from load alone: an idle writer commits a lone write at once.
///
/// At `durability full` the commit does not sync: ``WALSync`` syncs the WAL
/// afterwards, together with other tenants' WALs, and the batch's writes are
/// answered (and its events published) once that sync is done. The next batch
/// commits while that sync runs (its own sync follows, and answers it), so a
/// tenant's commits and syncs overlap instead of taking turns; a third batch
/// waits for the first sync, forming meanwhile, while the writer's thread
/// serves other tenants: writers run on a shared pool as wide as the machine,
/// not a thread each.
final class GroupCommitWriter: CommitRequests {
    private struct Job: Sendable {
        /// The writes the job holds (a session's pipelined batch is one job).
        let writes: Int
        /// Runs the job's writes inside the batch transaction, each in a savepoint if asked;
        /// returns the error that ended the transaction, if any, and what to do once the batch
        /// commits or fails. Throws ``UndoneWrite`` if a write without a savepoint failed after
        /// changing the database: the batch must run again with savepoints.
        let run:
            @Sendable (Database, _ savepoints: Bool) throws -> (
                failure: (any Error)?, finish: @Sendable ((any Error)?) -> Void
            )
        /// Fails the write without running it.
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var jobs: [Job] = []
        /// A drain of the queue is scheduled or running.
        var draining = false
        /// Commits whose writes wait for their sync.
        var unsynced = 0
    }

    /// Commits that may wait for their sync at once: one syncing, the next committed meanwhile.
    private static let maxUnsynced = 2

    /// The threads every tenant's writer queue runs on: a global queue's pool,
    /// as wide as the machine (a serial queue of its own would get a thread of
    /// its own whenever the others are busy).
    private static let threads = DispatchQueue.global(qos: .userInitiated)

    private let database: DatabasePool
    private let statements: WriterStatements
    /// The WAL file ``WALSync`` syncs after each commit; nil at durability normal (answered at commit).
    private let walToSync: String?
    private let queue: DispatchQueue
    /// Left while a commit waits for its sync, so ``drain()`` can wait for it.
    private let syncing = DispatchGroup()
    private let state = Mutex(State())
    /// The server's counters and the tenant's own, each told of every commit.
    private let statistics: [WriteStatistics]
    private let events: EventHub
    private let rowChanges = RowChanges()
    /// The writes' statements that could change the database and ran to their end: a write that
    /// fails after one of them has something to undo.
    private let completedChanges = CompletedChanges()
    /// Called on the writer's queue after each commit, before any of its writes is answered.
    private let committed: @Sendable (RowChanges.Summary) -> Void
    let batchLimit: Int
    /// Set by a write that erased personal data (``scrubAfterCommit()``).
    private let walScrubRequested = Atomic<Bool>(false)

    /// `walToSync`: the WAL to sync after each commit (the database's connections
    /// run `synchronous=NORMAL`). Blocking: call it off the event loops.
    init(
        database: DatabasePool, walToSync: String?, label: String, statistics: [WriteStatistics], events: EventHub,
        batchLimit: Int = 512, committed: @escaping @Sendable (RowChanges.Summary) -> Void
    ) throws {
        self.database = database
        self.walToSync = walToSync
        self.events = events
        self.committed = committed
        self.queue = DispatchQueue(label: "crmgate.writer.\(label)", target: Self.threads)
        self.statistics = statistics
        self.batchLimit = batchLimit
        statements = try database.writeWithoutTransaction { [rowChanges] db in
            rowChanges.install(on: db)
            return try WriterStatements(db.sqliteConnection!)
        }
    }

    /// Runs `body` in the next batch and calls `completion` with its result
    /// once that batch committed. A thrown error undoes `body`'s changes only.
    func submit<T: Sendable>(
        _ body: @escaping @Sendable (SQLiteTransaction) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        submitEach([body]) { outcome in completion(outcome.flatMap { $0[0] }) }
    }

    /// Runs each of `bodies` in the next batch, one failing undoing only its
    /// own changes, and calls `completion` with every result once that batch
    /// committed, or with the error that failed the whole batch.
    func submitEach<T: Sendable>(
        _ bodies: [@Sendable (SQLiteTransaction) throws -> T],
        completion: @escaping @Sendable (Result<[Result<T, any Error>], any Error>) -> Void
    ) {
        enqueue(
            Job(
                writes: bodies.count,
                run: { [rowChanges, statements, completedChanges] db, savepoints in
                    var results: [Result<T, any Error>] = []
                    results.reserveCapacity(bodies.count)
                    let transaction = SQLiteTransaction(db: db, completedChanges: completedChanges)
                    for body in bodies {
                        let mark = rowChanges.mark()
                        let result: Result<T, any Error>
                        if savepoints {
                            result = statements.inSavepoint(db) { try body(transaction) }
                        } else {
                            let changes = completedChanges.count
                            result = Result { try body(transaction) }
                            if case .failure = result, db.isInsideTransaction, completedChanges.count != changes {
                                throw UndoneWrite()
                            }
                        }
                        if case .failure(let error) = result {
                            guard db.isInsideTransaction else { return (error, { completion(.failure($0 ?? error)) }) }
                            rowChanges.rollBack(to: mark)
                        }
                        results.append(result)
                    }
                    return (
                        nil,
                        { [results] commitError in completion(commitError.map { .failure($0) } ?? .success(results)) }
                    )
                },
                fail: { completion(.failure($0)) }
            ))
    }

    /// Asks that, once the current batch commits, the WAL be checkpointed
    /// into the database and truncated to nothing: the erased values' old
    /// page versions live on in WAL frames until then. If readers hold the
    /// WAL, the next commit tries again.
    func scrubAfterCommit() {
        walScrubRequested.store(true, ordering: .relaxed)
    }

    /// Waits until every write queued so far has been answered.
    func drain() {
        repeat {
            queue.sync {}
            syncing.wait()
        } while state.withLock({ $0.draining || $0.unsynced > 0 })
    }

    /// Waits for queued writes, then stops watching the writer connection's changes and frees its statements.
    func close() {
        drain()
        database.writeWithoutTransaction { [rowChanges, statements] db in
            rowChanges.uninstall(from: db)
            statements.finalize()
        }
    }

    private func enqueue(_ job: Job) {
        let startDrain = state.withLock { state in
            state.jobs.append(job)
            return Self.startsDrain(&state)
        }
        if startDrain {
            queue.async { self.drainQueue() }
        }
    }

    /// Whether a drain of the queue should start now, marking it started: not while one runs, and
    /// not while as many commits as may wait for their syncs do (the first sync to end starts it).
    private static func startsDrain(_ state: inout State) -> Bool {
        guard !state.draining, !state.jobs.isEmpty, state.unsynced < maxUnsynced else { return false }
        state.draining = true
        return true
    }

    private func drainQueue() {
        while true {
            let batch = state.withLock { state -> [Job] in
                guard !state.jobs.isEmpty, state.unsynced < Self.maxUnsynced else {
                    state.draining = false
                    return []
                }
                let batch = Array(state.jobs.prefix(batchLimit))
                state.jobs.removeFirst(batch.count)
                return batch
            }
            guard !batch.isEmpty else { return }
            commit(batch)
        }
    }

    /// A commit's sync is done: the queue drains again if writes wait for a commit.
    private func synced() {
        let startDrain = state.withLock { state in
            state.unsynced -= 1
            return Self.startsDrain(&state)
        }
        if startDrain {
            queue.async { self.drainQueue() }
        }
    }

    /// A write without a savepoint failed after changing the database: the batch runs again with savepoints.
    private struct UndoneWrite: Error {}

    /// Runs `batch` in one transaction and commits it, with each job's completion in
    /// `completions`; on any error rolls the transaction back and throws it (``UndoneWrite``:
    /// a write without a savepoint failed after changing the database).
    private func runAndCommit(
        _ batch: [Job], on db: Database, savepoints: Bool, completions: inout [@Sendable ((any Error)?) -> Void]
    ) throws {
        completions.removeAll(keepingCapacity: true)
        try statements.begin.run()
        do {
            for job in batch {
                let (failure, finish) = try job.run(db, savepoints)
                completions.append(finish)
                // SQLite rolls the whole transaction back on some errors (a full disk or size
                // limit): then nothing of this batch is written, and every write in it fails with
                // that cause.
                if !db.isInsideTransaction {
                    throw failure ?? DatabaseError(resultCode: .SQLITE_ABORT, message: "transaction rolled back")
                }
            }
            try SearchIndex.flush(SQLiteTransaction(db: db), kinds: rowChanges.changedKinds())
            try statements.commit.run()
        } catch {
            if db.isInsideTransaction { try? statements.rollback.run() }
            throw error
        }
    }

    /// Commits `batch`; at durability full its writes are answered once ``WALSync`` synced the commit.
    private func commit(_ batch: [Job]) {
        var completions: [@Sendable ((any Error)?) -> Void] = []
        completions.reserveCapacity(batch.count)
        var committedEvents: CommittedEvents?
        do {
            try database.writeWithoutTransaction { db in
                do {
                    try runAndCommit(batch, on: db, savepoints: false, completions: &completions)
                } catch is UndoneWrite {
                    _ = rowChanges.take()
                    try runAndCommit(batch, on: db, savepoints: true, completions: &completions)
                }
                // The commit stands either way; a failed read only delays the events to the next commit.
                committedEvents = try? events.read(after: SQLiteTransaction(db: db))
                if walScrubRequested.exchange(false, ordering: .relaxed), (try? db.checkpoint(.truncate)) == nil {
                    walScrubRequested.store(true, ordering: .relaxed)
                }
            }
            let writes = batch.reduce(0) { $0 + $1.writes }
            for counters in statistics { counters.recordBatch(size: writes) }
            committed(rowChanges.take())
        } catch {
            _ = rowChanges.take()
            for completion in completions { completion(error) }
            for job in batch.dropFirst(completions.count) { job.fail(error) }
            return
        }
        guard let walToSync else {
            answer(completions, events: committedEvents, syncError: nil)
            return
        }
        // WALSync answers a file's waiters in the order they asked, so batches are answered, and
        // their events published, in commit order. A batch that depends on the one before (an
        // IFVERSION check, a feed's DUP) is answered after a sync that covers both.
        state.withLock { $0.unsynced += 1 }
        syncing.enter()
        WALSync.shared.sync(walToSync) { [self, completions, committedEvents] syncError in
            answer(completions, events: committedEvents, syncError: syncError)
            syncing.leave()
            synced()
        }
    }

    /// Publishes a durable commit's events and answers its writes.
    private func answer(
        _ completions: [@Sendable ((any Error)?) -> Void], events committedEvents: CommittedEvents?,
        syncError: (any Error)?
    ) {
        if let committedEvents { events.publish(committedEvents) }
        for completion in completions { completion(syncError) }
    }
}

/// The writer connection's transaction and savepoint statements, prepared once.
struct WriterStatements: Sendable {
    let begin: ControlStatement
    let commit: ControlStatement
    let rollback: ControlStatement
    private let savepoint: ControlStatement
    private let release: ControlStatement
    private let rollbackToSavepoint: ControlStatement

    init(_ connection: OpaquePointer) throws {
        begin = try ControlStatement("BEGIN IMMEDIATE", on: connection)
        commit = try ControlStatement("COMMIT", on: connection)
        rollback = try ControlStatement("ROLLBACK", on: connection)
        savepoint = try ControlStatement("SAVEPOINT write", on: connection)
        release = try ControlStatement("RELEASE write", on: connection)
        rollbackToSavepoint = try ControlStatement("ROLLBACK TO write", on: connection)
    }

    /// Runs `body` in a savepoint of the open transaction on `db`, undoing its changes if it throws.
    func inSavepoint<T>(_ db: Database, _ body: () throws -> T) -> Result<T, any Error> {
        do {
            try savepoint.run()
        } catch {
            return .failure(error)
        }
        do {
            let value = try body()
            try release.run()
            return .success(value)
        } catch {
            // After a full disk or size limit SQLite has rolled the whole transaction back already.
            if db.isInsideTransaction {
                try? rollbackToSavepoint.run()
                try? release.run()
            }
            return .failure(error)
        }
    }

    /// Frees the statements: before the connection closes.
    func finalize() {
        for statement in [begin, commit, rollback, savepoint, release, rollbackToSavepoint] { statement.finalize() }
    }
}
