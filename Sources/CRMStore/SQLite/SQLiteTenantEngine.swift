import CRMCore
import CSQLiteConfig
import GRDB
import GRDBSQLite
import NIOCore
import Synchronization

/// A tenant's SQLite file: one group-committing writer, read-only connections
/// of the event loops' own for quick reads and two of the tenant's own for the
/// rest (``BackgroundReaders``), and the background checkpointer.
final class SQLiteTenantEngine: TenantEngine {
    let path: String
    let events: EventHub
    private let database: DatabasePool
    private let writer: GroupCommitWriter
    private let checkpointer: WALCheckpointer
    private let inlineReaders: InlineReaders
    /// Reads off the event loops, the large ones (SEARCH, analytics, exports): two at a time per
    /// tenant. (Nothing reads through the pool's own readers, which open only for that.)
    private let backgroundReaders: BackgroundReaders
    /// Writes submitted since the search indexes were last compacted.
    private let writesSinceCompaction = Atomic<Int>(0)
    /// Writes after which a tenant whose writes went quiet has its search indexes compacted: a
    /// tenant writing a little now and then does not rewrite its whole index each time it pauses.
    static let writesBeforeCompaction = 1000

    /// Opens (creating if needed) the database file and runs pending migrations.
    /// Blocking: call it off the event loops.
    init(
        name: TenantName, path: String, durability: Durability, recordCache: RecordCache, maxBytes: Int?,
        statistics: [WriteStatistics], metrics: StoreMetrics
    ) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "tenant.\(name)"
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
            // Statement and savepoint journals in memory (a batch runs again with a savepoint per
            // write when one fails after changing the database): on a file each cost a pwrite per
            // page it touched.
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
        self.path = path
        database = try DatabasePool(path: path, configuration: configuration)
        try TenantMigrations.migrate(database)
        checkpointer = WALCheckpointer(path: path, configuration: configuration)
        inlineReaders = InlineReaders(path: path, label: name.value)
        backgroundReaders = BackgroundReaders(path: path, label: name.value)
        // Read on the writer's connection: a reader connection (and its three descriptors) opens only when a read needs it.
        events = EventHub(
            lastSeq: try database.writeWithoutTransaction { try EventLog.newestSeq(SQLiteTransaction(db: $0)) })
        writer = try GroupCommitWriter(
            database: database, walToSync: durability == .full ? path + "-wal" : nil, label: name.value,
            statistics: statistics, events: events
        ) { [inlineReaders, recordCache, checkpointer] changes in
            inlineReaders.committed()
            if !changes.records.isEmpty { recordCache.invalidate(changes.records) }
            metrics.committed(reorders: changes.reorders, feedGaps: changes.feedGaps)
            checkpointer.committed()
        }
    }

    func read<T: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) throws -> T,
        completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        backgroundReaders.read({ db in try body(SQLiteTransaction(db: db)) }, completion: completion)
    }

    func readHere<T>(lane: any EventLoop, _ body: (any SQLDatabase) throws -> T) -> Result<T, any Error>? {
        inlineReaders.read(lane: lane) { db in try body(SQLiteTransaction(db: db)) }
    }

    func writeEach<T: Sendable>(
        _ bodies: [@Sendable (any SQLDatabase, any CommitRequests) throws -> T],
        completion: @escaping @Sendable (Result<[Result<T, any Error>], any Error>) -> Void
    ) {
        writesSinceCompaction.add(bodies.count, ordering: .relaxed)
        writer.submitEach(
            bodies.map { [writer] body in { transaction in try body(transaction, writer) } },
            completion: completion)
    }

    /// Closes the reader connections (leaving the writer's three descriptors)
    /// and has SQLite free its page caches and statements. Blocking (it waits
    /// for the writer connection).
    func releaseMemory() {
        inlineReaders.release()
        backgroundReaders.release()
        database.releaseMemory()
    }

    /// Merges the search indexes into one segment each (``SearchIndex/compact(_:)``),
    /// if enough writes came since the last time: as one more write, on the
    /// writer's queue, so a write arriving meanwhile waits for it (a fraction
    /// of a second for a million contacts). A tenant read all the time but
    /// written in bursts is merged between bursts, not only once wholly idle.
    func writesWentQuiet() {
        guard writesSinceCompaction.load(ordering: .relaxed) >= Self.writesBeforeCompaction else { return }
        writesSinceCompaction.store(0, ordering: .relaxed)
        writer.submit({ transaction in try SearchIndex.compact(transaction) }, completion: { _ in })
    }

    /// Waits for queued writes, then closes every connection. Nothing is
    /// checkpointed: what the database file lacks stays in the WAL, read back at the next open.
    func close() throws {
        inlineReaders.close()
        backgroundReaders.close()
        writer.close()
        checkpointer.close()
        try database.close()
    }
}
