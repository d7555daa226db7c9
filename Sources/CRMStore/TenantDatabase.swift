import CRMCore
import NIOCore
import Synchronization

/// How hard a commit works to survive failures (issue: `durability = full | normal`).
public enum Durability: String, Sendable, CaseIterable {
    /// A write is answered once its WAL frames are synced: it survives power loss.
    case full
    /// `synchronous=NORMAL` in WAL mode: survives a process crash, may lose the last commits on power loss.
    case normal
}

/// What runs one tenant's transactions: SQLite's connections and
/// group-commit writer (``SQLiteTenantEngine``), or PostgreSQL's pool
/// (``PostgresTenantEngine``). The services and the gateway never see which.
protocol TenantEngine: Sendable {
    /// Committed events, for subscribers and blocking readers.
    var events: EventHub { get }

    /// Runs `body` against a consistent snapshot off the event loops, then calls `completion` there.
    func read<T: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void)

    /// Runs `body` on a snapshot on the calling thread, `lane`'s, if that is quick; nil if it did not run.
    func readHere<T>(lane: any EventLoop, _ body: (any SQLDatabase) throws -> T) -> Result<T, any Error>?

    /// Runs each of `bodies` in the next commit, a thrown error undoing that body's changes only;
    /// `completion` gets every result once the commit is durable, or the error that failed it.
    func writeEach<T: Sendable>(
        _ bodies: [@Sendable (any SQLDatabase, any CommitRequests) throws -> T],
        completion: @escaping @Sendable (Result<[Result<T, any Error>], any Error>) -> Void)

    /// Gives back the memory and connections an idle tenant holds. Blocking.
    func releaseMemory()

    /// No write came for a while, though reads may go on: the moment for upkeep
    /// that holds writes up while it runs. Returns at once.
    func writesWentQuiet()

    /// Waits for queued writes, then closes. Blocking.
    func close() throws
}

/// What a write may ask of its engine for after its commit.
protocol CommitRequests: Sendable {
    /// Leave no erased value in files once the commit is done (SQLite's WAL).
    func scrubAfterCommit()
}

/// One tenant's database, whichever engine holds it: the storage interface
/// the gateway sees (typed operations, no SQL), the record cache kept in
/// step with every commit, and the committed events.
public final class TenantDatabase: Sendable {
    public let name: TenantName
    private let engine: any TenantEngine
    private let metrics: StoreMetrics
    /// Committed events, for subscribers and blocking readers.
    public var events: EventHub { engine.events }
    /// Records recently read by id, kept in step with every commit.
    public let recordCache: RecordCache
    /// When a command last used the database (``ContinuousClock`` nanoseconds since start), and
    /// whether its memory was given back since (``releaseMemoryIfIdle(since:)``).
    private let lastUse = Atomic<Int64>(0)
    /// When a command last wrote to the database, in the same units (``upkeepIfWritesQuiet(since:)``).
    private let lastWrite = Atomic<Int64>(0)
    private let released = Atomic<Bool>(false)
    /// Set when the record cache answered a read: the idle check counts that as
    /// use (a tenant read only from its cache never reaches ``used()``).
    private let answeredFromCache = Atomic<Bool>(false)

    /// A tenant on `engine`, which keeps `recordCache` in step with its commits.
    init(name: TenantName, recordCache: RecordCache, engine: any TenantEngine, metrics: StoreMetrics) {
        self.name = name
        self.recordCache = recordCache
        self.engine = engine
        self.metrics = metrics
    }

    /// Runs `body` against a consistent snapshot on a reader thread, then calls `completion` there.
    public func read<T: Sendable>(
        _ body: @escaping @Sendable (TenantReader) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        used()
        metrics.read(inline: false)
        // Taken before the snapshot begins, so a commit between the two keeps stale records out of the cache.
        let cacheFill = recordCache.fill()
        engine.read({ db in try body(TenantReader(db: db, cacheFill: cacheFill)) }, completion: completion)
    }

    /// Runs `body` against a consistent snapshot on the calling thread, on
    /// `lane`'s own read-only connection, if it is quick: nil if it did not
    /// run here (the lane's connection is still opening, a lock is held, the
    /// read ran past a few tens of microseconds of SQLite work, or the engine
    /// answers over the network). The caller then reads with
    /// ``read(_:completion:)``. Call on `lane`: the reads of one turn of its
    /// loop share a snapshot while no commit comes between them.
    public func readHere<T>(lane: any EventLoop, _ body: (TenantReader) throws -> T) -> Result<T, any Error>? {
        used()
        let cacheFill = recordCache.fill()
        let result = engine.readHere(lane: lane) { db in try body(TenantReader(db: db, cacheFill: cacheFill)) }
        if result != nil { metrics.read(inline: true) }
        return result
    }

    /// The record `reference` names if the cache holds it: as fresh as a read
    /// snapshot taken now, without touching SQLite. Safe on an event loop.
    public func cachedRecord(_ type: RecordKind, _ reference: RecordReference) -> StoredRecord? {
        guard let stored = recordCache.record(type, reference) else { return nil }
        cacheAnswered()
        return type.rules.present(stored, now: WallClock.now())
    }

    /// Hands `write` the reply `encode` makes of the record `reference` names,
    /// if the cache holds it, as ``cachedRecord(_:_:)``; false if it does not.
    /// The reply is kept with the cached record, with its `format` (e.g. the
    /// protocol version), until the record changes, unless the record shows
    /// fields computed at read time.
    public func cachedReply(
        _ type: RecordKind, _ reference: RecordReference, format: Int, encode: (StoredRecord) -> [UInt8],
        write: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        guard type.rules.presentsStoredFieldsOnly else {
            guard let record = cachedRecord(type, reference) else { return false }
            encode(record).withUnsafeBytes(write)
            return true
        }
        guard recordCache.reply(type, reference, format: format, encode: encode, write: write) else { return false }
        cacheAnswered()
        return true
    }

    /// A load, and a store only the first time since the idle check: no shared write per cached read.
    private func cacheAnswered() {
        if !answeredFromCache.load(ordering: .relaxed) { answeredFromCache.store(true, ordering: .relaxed) }
    }

    /// Runs `body` in the next group commit, then calls `completion` once that commit is durable.
    /// A thrown error undoes `body`'s changes only.
    public func write<T: Sendable>(
        _ body: @escaping @Sendable (TenantWriter) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        writeEach([body]) { outcome in completion(outcome.flatMap { $0[0] }) }
    }

    /// Runs each of `bodies` in the next group commit: a thrown error undoes
    /// that body's changes only and becomes its result. `completion` gets every result once the commit is durable,
    /// or the error that failed the whole commit.
    public func writeEach<T: Sendable>(
        _ bodies: [@Sendable (TenantWriter) throws -> T],
        completion: @escaping @Sendable (Result<[Result<T, any Error>], any Error>) -> Void
    ) {
        let now = Self.nanoseconds(.now)
        used(at: now)
        lastWrite.store(now, ordering: .relaxed)
        engine.writeEach(
            bodies.map { body in { db, requests in try body(TenantWriter(db: db, writer: requests)) } },
            completion: completion)
    }

    /// ``read(_:completion:)`` for async callers.
    public func read<T: Sendable>(_ body: @escaping @Sendable (TenantReader) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            read(body) { continuation.resume(with: $0) }
        }
    }

    /// ``write(_:completion:)`` for async callers.
    public func write<T: Sendable>(_ body: @escaping @Sendable (TenantWriter) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            write(body) { continuation.resume(with: $0) }
        }
    }

    private static let clockStart = ContinuousClock.now

    private static func nanoseconds(_ instant: ContinuousClock.Instant) -> Int64 {
        let elapsed = instant - clockStart
        return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
    }

    private func used(at now: Int64 = nanoseconds(.now)) {
        lastUse.store(now, ordering: .relaxed)
        if released.load(ordering: .relaxed) { released.store(false, ordering: .relaxed) }
    }

    /// If no command used the database since `cutoff`: has the engine give
    /// back what it holds (``TenantEngine/releaseMemory()``) and empties the record cache; returns
    /// whether it did. The next command opens what it needs again. Blocking:
    /// call it off the event loops.
    func releaseMemoryIfIdle(since cutoff: ContinuousClock.Instant) -> Bool {
        if answeredFromCache.exchange(false, ordering: .relaxed) { used() }
        guard lastUse.load(ordering: .relaxed) < Self.nanoseconds(cutoff),
            !released.exchange(true, ordering: .relaxed)
        else { return false }
        recordCache.removeAll()
        engine.releaseMemory()
        return true
    }

    /// If no command wrote to the database since `cutoff` (reads may have): has
    /// the engine do the upkeep that holds writes up (``TenantEngine/writesWentQuiet()``).
    func upkeepIfWritesQuiet(since cutoff: ContinuousClock.Instant) {
        guard lastWrite.load(ordering: .relaxed) < Self.nanoseconds(cutoff) else { return }
        engine.writesWentQuiet()
    }

    /// Another gateway sharing the PostgreSQL committed to this tenant: its
    /// changed records leave the cache, and the events it added reach this
    /// gateway's listeners (nil `newestSeq`: perhaps some, after notices were missed).
    func committedElsewhere(_ records: RecordChanges, newestSeq: Int64?) {
        recordCache.forget(records)
        (engine as? PostgresTenantEngine)?.catchUp(to: newestSeq)
    }

    /// Waits for queued writes, then closes the engine. Blocking.
    func close() throws {
        try engine.close()
    }
}
