import CRMCore
import Dispatch
import NIOCore
import Synchronization

/// A tenant's schema in PostgreSQL. Reads run in a repeatable-read snapshot
/// on a pooled connection; writes queue up and commit together, each batch
/// one transaction under the tenant's advisory lock (one writer per tenant,
/// across gateways); should one write fail, the batch runs again with a
/// savepoint per write. A batch is answered once PostgreSQL acknowledged its COMMIT.
///
/// Each commit announces itself to the other gateways sharing the database
/// (``PostgresChangeNotice``) and is answered once they acted on it
/// (``PostgresGatewayPeers``); told of theirs, the engine catches its event
/// hub up (``catchUp(to:)``), so listeners here hear every commit, wherever it was made.
final class PostgresTenantEngine: TenantEngine {
    /// Writes one transaction holds at most: PostgreSQL slows down past 64
    /// subtransactions in one transaction, and with savepoints each write is one.
    static let batchLimit = 32

    private struct Job: Sendable {
        let writes: Int
        /// Runs the writes in the batch's transaction; returns whether one failed, and how to answer
        /// them once the transaction ends.
        let run: @Sendable (PostgresTransaction, _ savepoints: Bool) -> (failed: Bool, answer: Answer)
        let fail: @Sendable (any Error) -> Void
    }

    typealias Answer = @Sendable ((any Error)?) -> Void

    /// Ends a transaction in which a write failed outside a savepoint: it rolls
    /// back, and the batch runs again with savepoints, or (alone) the write is
    /// answered with its own error.
    private struct UndoneWrite: Error {
        let answer: Answer
    }

    private struct Queue {
        var jobs: [Job] = []
        var draining = false
        var closed = false
    }

    /// Where a catch-up with other gateways' commits stands.
    private struct CatchUp {
        /// The newest seq some notice named and the hub has not caught up to (`.max`: unknown, read it).
        var target: Int64 = 0
        var running = false
    }

    let events: EventHub
    private let name: TenantName
    private let store: PostgresStore
    private let schema: String
    private let lock: Int64
    private let recordCache: RecordCache
    private let metrics: StoreMetrics
    private let statistics: [WriteStatistics]
    private let queue = Mutex(Queue())
    private let idle = Mutex<[CheckedContinuation<Void, Never>]>([])
    private let catchingUp = Mutex(CatchUp())

    /// Creates or migrates the tenant's schema and reads where its event log stands.
    init(
        name: TenantName, store: PostgresStore, recordCache: RecordCache, statistics: [WriteStatistics],
        metrics: StoreMetrics
    ) async throws {
        let schema = PostgresSchema.tenant(name)
        let lock = PostgresSchema.lockKey(name)
        let newest = try await store.transaction(schema: schema, lock: lock) { db in
            try PostgresSchema.migrateTenant(db, schema: schema)
            return try EventLog.newestSeq(db)
        }
        self.name = name
        self.store = store
        self.schema = schema
        self.lock = lock
        self.recordCache = recordCache
        self.metrics = metrics
        self.statistics = statistics
        events = EventHub(lastSeq: newest)
    }

    func read<T: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        Task { [store, schema] in
            do {
                completion(.success(try await store.transaction(schema: schema, readOnly: true) { try body($0) }))
            } catch {
                completion(.failure(error))
            }
        }
    }

    /// Every read crosses the network: none is quick enough for an event loop.
    func readHere<T>(lane: any EventLoop, _ body: (any SQLDatabase) throws -> T) -> Result<T, any Error>? {
        nil
    }

    func writeEach<T: Sendable>(
        _ bodies: [@Sendable (any SQLDatabase, any CommitRequests) throws -> T],
        completion: @escaping @Sendable (Result<[Result<T, any Error>], any Error>) -> Void
    ) {
        let job = Job(
            writes: bodies.count,
            run: { db, savepoints in
                var results: [Result<T, any Error>] = []
                results.reserveCapacity(bodies.count)
                var failed = false
                for body in bodies {
                    if savepoints { _ = try? db.run("SAVEPOINT write") }
                    let created = db.created
                    let result = Result { try body(db, NothingToScrub()) }
                    if savepoints {
                        if case .failure = result {
                            _ = try? db.run("ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write")
                            db.created = created
                        } else {
                            _ = try? db.run("RELEASE SAVEPOINT write")
                        }
                    }
                    if case .failure = result { failed = true }
                    results.append(result)
                }
                return (failed, { [results] failure in completion(failure.map { .failure($0) } ?? .success(results)) })
            },
            fail: { completion(.failure($0)) })
        let start = queue.withLock { queue -> Bool? in
            guard !queue.closed else { return nil }
            queue.jobs.append(job)
            defer { queue.draining = true }
            return !queue.draining
        }
        switch start {
        case nil: job.fail(StoreError.unavailable("the tenant is closing; retry"))
        case true?: Task { await drain() }
        case false?: break
        }
    }

    /// Commits batches until the queue is empty.
    private func drain() async {
        while true {
            let batch = queue.withLock { queue -> [Job] in
                var writes = 0
                let count = queue.jobs.prefix { job in
                    defer { writes += job.writes }
                    return writes == 0 || writes + job.writes <= Self.batchLimit
                }.count
                defer { queue.jobs.removeFirst(count) }
                if count == 0 { queue.draining = false }
                return Array(queue.jobs.prefix(count))
            }
            guard !batch.isEmpty else { break }
            await commit(batch)
        }
        for waiter in idle.withLock({ waiters in
            defer { waiters.removeAll() }
            return waiters
        }) { waiter.resume() }
    }

    /// What a committed batch leaves to do: answer its writes, publish its events, update the cache.
    private struct Outcome: Sendable {
        let answers: [Answer]
        let committed: CommittedEvents
        let changedRecords: RecordChanges
        let created: (reorders: Int, feedGaps: Int)
        /// The number of the notice announcing the commit, if it changed anything.
        let notice: Int?
    }

    /// Commits `batch` in one transaction. Its writes first run without
    /// savepoints (each costs two round trips more); if one fails, that
    /// transaction rolls back and the batch runs again with a savepoint per
    /// write, so the failed write alone is undone. A batch of one write needs
    /// none: its failure rolls the transaction back, and it gets its own error.
    private func commit(_ batch: [Job]) async {
        let writes = batch.reduce(0) { $0 + $1.writes }
        do {
            let outcome: Outcome
            do {
                outcome = try await attempt(batch, savepoints: false)
            } catch is UndoneWrite where writes > 1 {
                outcome = try await attempt(batch, savepoints: true)
            }
            recordCache.forget(outcome.changedRecords)
            for statistics in statistics { statistics.recordBatch(size: writes) }
            metrics.committed(reorders: outcome.created.reorders, feedGaps: outcome.created.feedGaps)
            events.publish(outcome.committed)
            if let notice = outcome.notice {
                // Answered once no other gateway can serve what the batch changed: off the queue, which goes on.
                Task { [store] in
                    await store.confirm(notice)
                    for answer in outcome.answers { answer(nil) }
                }
            } else {
                for answer in outcome.answers { answer(nil) }
            }
        } catch let undone as UndoneWrite {
            undone.answer(nil)
        } catch {
            for job in batch { job.fail(error) }
        }
    }

    /// Runs `batch` in a transaction; without savepoints, the first failed write rolls it back (``UndoneWrite``).
    /// A batch that changed anything is announced to the other gateways in its transaction.
    private func attempt(_ batch: [Job], savepoints: Bool) async throws -> Outcome {
        try await store.transaction(schema: schema, lock: lock) { [events, store, name] db in
            let runs = batch.map { $0.run(db, savepoints) }
            if !savepoints, let failed = runs.first(where: \.failed) { throw UndoneWrite(answer: failed.answer) }
            let published = events.newestSeq
            let committed = try events.read(after: db)
            var notice: Int?
            if committed.newest != published || db.changedRecords != .none {
                notice = try store.announce(
                    tenant: name, newestSeq: committed.newest, records: db.changedRecords, in: db)
            }
            return Outcome(
                answers: runs.map(\.answer), committed: committed, changedRecords: db.changedRecords,
                created: db.created, notice: notice)
        }
    }

    /// Another gateway committed to this tenant, taking its event log to
    /// `newestSeq` (nil: unknown, after the listener missed notices): the hub
    /// publishes what it has not, read in a snapshot if anyone listens. One
    /// catch-up runs at a time; notices meanwhile extend it.
    func catchUp(to newestSeq: Int64?) {
        let start = catchingUp.withLock { state -> Bool in
            state.target = max(state.target, newestSeq ?? .max)
            defer { state.running = true }
            return !state.running
        }
        if start { Task { await catchUpLoop() } }
    }

    private func catchUpLoop() async {
        while true {
            let target = catchingUp.withLock { state -> Int64? in
                let target = state.target
                state.target = 0
                guard target > events.newestSeq else {
                    state.running = false
                    return nil
                }
                return target
            }
            guard let target else { return }
            if target != .max, !events.isListening {
                events.publish(CommittedEvents(newest: target, events: []))
                continue
            }
            do {
                events.publish(
                    try await store.transaction(schema: schema, readOnly: true) { [events] db in
                        try events.read(after: db)
                    })
            } catch {
                // The next notice (or the listener's next start) tries again.
                store.logger.warning(
                    "could not read another gateway's events", metadata: ["tenant": "\(name)", "error": "\(error)"])
                catchingUp.withLock { $0.running = false }
                return
            }
        }
    }

    /// Nothing to give back: connections belong to the store's pool.
    func releaseMemory() {}

    /// Nothing waits for quiet: PostgreSQL keeps its search indexes merged as it writes (and autovacuum).
    func writesWentQuiet() {}

    /// Waits for queued writes to be answered, then takes no more.
    func close() throws {
        let draining = queue.withLock { queue in
            queue.closed = true
            return queue.draining
        }
        guard draining else { return }
        let done = DispatchSemaphore(value: 0)
        Task {
            await withCheckedContinuation { continuation in
                let resumeNow = queue.withLock { queue in
                    if queue.draining { idle.withLock { $0.append(continuation) } }
                    return !queue.draining
                }
                if resumeNow { continuation.resume() }
            }
            done.signal()
        }
        done.wait()
    }
}

/// PostgreSQL leaves no erased value in reach of queries once the commit is done.
private struct NothingToScrub: CommitRequests {
    func scrubAfterCommit() {}
}
