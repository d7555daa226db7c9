import CRMCore
import CSQLiteConfig
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// How hard a commit works to survive failures (issue: `durability = full | normal`).
public enum Durability: String, Sendable, CaseIterable {
    /// A write is answered once its WAL frames are synced: it survives power loss.
    case full
    /// `synchronous=NORMAL` in WAL mode: survives a process crash, may lose the last commits on power loss.
    case normal
}

/// One tenant's SQLite database: WAL readers beside one group-committing writer.
///
/// This is the whole storage interface the gateway sees: typed operations,
/// no SQL, so another backend can stand behind the same methods.
public final class TenantDatabase: Sendable {
    public let name: TenantName
    public let path: String
    private let database: DatabasePool
    private let writer: GroupCommitWriter
    private let checkpointer: WALCheckpointer
    private let inlineReaders: InlineReaders
    private let metrics: StoreMetrics
    /// Committed events, for subscribers and blocking readers.
    public let events: EventHub
    /// Records recently read by id, kept in step with every commit.
    public let recordCache: RecordCache
    /// When a command last used the database (``ContinuousClock`` nanoseconds since start), and
    /// whether its memory was given back since (``releaseMemoryIfIdle(since:)``).
    private let lastUse = Atomic<Int64>(0)
    private let released = Atomic<Bool>(false)
    /// Set when the record cache answered a read: the idle check counts that as
    /// use (a tenant read only from its cache never reaches ``used()``).
    private let answeredFromCache = Atomic<Bool>(false)

    /// Opens (creating if needed) the database file and runs pending migrations.
    /// Blocking: call it off the event loops.
    init(
        name: TenantName, path: String, durability: Durability, recordCacheCapacity: Int, maxBytes: Int?,
        statistics: [WriteStatistics], metrics: StoreMetrics
    ) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "tenant.\(name)"
        // Reads off the event loops are the large ones (SEARCH, analytics, exports): two at a time
        // per tenant, so its pool readers hold at most four descriptors.
        configuration.maximumReaderCount = 2
        configuration.prepareDatabase { db in
            // At `full` the writer has WALSync sync the WAL after each commit (GroupCommitWriter).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // The WAL and shared-memory files stay when the last connection closes: a tenant
            // closed and reopened (evicted past max_open_tenants, or idle) then neither deletes
            // nor creates files (ext4 searched its recently deleted inodes for each: 8 % of the
            // time of writes that reopen tenants), and GRDB does not make an empty WAL non-empty
            // with a schema change (CREATE and DROP of a table) at every open.
            var persist: Int32 = 1
            sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_PERSIST_WAL, &persist)
            // Nor does the last connection to close checkpoint: SQLite reads every frame of the WAL
            // it finds back in at the next open, checkpointed or not, and the background
            // checkpointer copies them in again. The close's checkpoint was copying and two syncs
            // for nothing (in C, a tenant's close took 740-1,330 us with it and 60 us without).
            crmgate_sqlite3_skip_checkpoint_on_close(db.sqliteConnection)
            // Savepoint (statement) journals in memory: every write of a batch runs in a savepoint,
            // and on a file each one cost a pwrite per page it touched.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // Checkpoints run in the background (WALCheckpointer); the writer runs one itself
            // only if the background falls 10,000 pages (40 MiB) behind. The WAL file keeps its
            // size: truncated after each restart, every commit's sync also had to record the file
            // growing again, and the slowest 1 % of durable writes took twice as long.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
            if let maxBytes {
                // Past this size SQLite answers SQLITE_FULL, as it does when the disk itself is full.
                let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA max_page_count = \(max(1, maxBytes / pageSize))")
            }
        }
        self.name = name
        self.path = path
        database = try DatabasePool(path: path, configuration: configuration)
        try TenantMigrations.migrate(database)
        checkpointer = WALCheckpointer(path: path, configuration: configuration)
        inlineReaders = InlineReaders(path: path, label: name.value)
        self.metrics = metrics
        recordCache = RecordCache(capacity: recordCacheCapacity)
        // Read on the writer's connection: a reader connection (and its three descriptors) opens only when a read needs it.
        events = EventHub(
            lastSeq: try database.writeWithoutTransaction { try EventLog.newestSeq(SQLiteTransaction(db: $0)) })
        writer = GroupCommitWriter(
            database: database, walToSync: durability == .full ? path + "-wal" : nil, label: name.value,
            statistics: statistics, events: events
        ) { [recordCache, checkpointer] changes in
            if !changes.records.isEmpty { recordCache.invalidate(changes.records) }
            metrics.committed(reorders: changes.reorders, feedGaps: changes.feedGaps)
            checkpointer.committed()
        }
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
        database.asyncRead { connection in
            completion(
                Result { try body(TenantReader(db: SQLiteTransaction(db: connection.get()), cacheFill: cacheFill)) })
        }
    }

    /// Runs `body` against a consistent snapshot on the calling thread, on
    /// `lane`'s own read-only connection, if it is quick: nil if it did not
    /// run here (the lane's connection is still opening, a lock is held, or
    /// the read ran past a few tens of microseconds of SQLite work). The
    /// caller then reads with ``read(_:completion:)``. Safe on an event loop
    /// whose lane it is: one lane, one thread at a time.
    public func readHere<T>(lane: ObjectIdentifier, _ body: (TenantReader) throws -> T) -> Result<T, any Error>? {
        used()
        let cacheFill = recordCache.fill()
        let result = inlineReaders.read(lane: lane) { db in
            try body(TenantReader(db: SQLiteTransaction(db: db), cacheFill: cacheFill))
        }
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
        used()
        writer.submit(
            { [writer] db in try body(TenantWriter(db: SQLiteTransaction(db: db), writer: writer)) },
            completion: completion)
    }

    /// Runs each of `bodies` in the next group commit, each in its own
    /// savepoint: a thrown error undoes that body's changes only and becomes
    /// its result. `completion` gets every result once the commit is durable,
    /// or the error that failed the whole commit.
    public func writeEach<T: Sendable>(
        _ bodies: [@Sendable (TenantWriter) throws -> T],
        completion: @escaping @Sendable (Result<[Result<T, any Error>], any Error>) -> Void
    ) {
        used()
        writer.submitEach(
            bodies.map { [writer] body in
                { db in try body(TenantWriter(db: SQLiteTransaction(db: db), writer: writer)) }
            },
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

    private func used() {
        lastUse.store(Self.nanoseconds(.now), ordering: .relaxed)
        if released.load(ordering: .relaxed) { released.store(false, ordering: .relaxed) }
    }

    /// If no command used the database since `cutoff`: closes its reader
    /// connections (leaving the writer's three descriptors), has SQLite free
    /// its page caches and statements, and empties the record cache; returns
    /// whether it did. The next command opens what it needs again. Blocking
    /// (it waits for the writer connection): call it off the event loops.
    func releaseMemoryIfIdle(since cutoff: ContinuousClock.Instant) -> Bool {
        if answeredFromCache.exchange(false, ordering: .relaxed) { used() }
        guard lastUse.load(ordering: .relaxed) < Self.nanoseconds(cutoff),
            !released.exchange(true, ordering: .relaxed)
        else { return false }
        recordCache.removeAll()
        inlineReaders.release()
        database.releaseMemory()
        return true
    }

    /// Waits for queued writes, then closes every connection. Nothing is
    /// checkpointed: what the database file lacks stays in the WAL, read back at the next open.
    func close() throws {
        inlineReaders.close()
        writer.close()
        checkpointer.close()
        try database.close()
    }
}
