import CRMCore
import Foundation
import GRDB
import GRDBSQLite
import NIOPosix
import Synchronization

/// The tenants' databases, as SQLite files under `DATA/tenants/` or as
/// schemas in PostgreSQL: opened lazily on first use, shared by every
/// session of the tenant, closed when idle, and bounded in number (least
/// recently used idle ones close first).
public final class TenantDirectory: Sendable {
    /// Where the tenants are.
    private enum Location {
        /// SQLite files in a directory, new ones copied from the empty template.
        case files(template: TenantTemplate)
        /// Schemas in PostgreSQL.
        case postgres(PostgresStore)
    }

    private enum Entry {
        case opening(Task<TenantDatabase, any Error>)
        case open(TenantDatabase, leases: Int, lastUsed: ContinuousClock.Instant)
    }

    /// The directory of the tenants' files (SQLite), or the store's masked URL (PostgreSQL).
    public let root: String
    private let location: Location
    public let durability: Durability
    public let maxOpen: Int
    /// Records each open tenant keeps in its ``RecordCache`` (0: none).
    public let recordCacheCapacity: Int
    /// Largest size a tenant's database may grow to, in bytes; nil means the disk is the limit.
    public let maxDatabaseBytes: Int?
    /// Group-commit counters across all tenants.
    public let statistics: WriteStatistics
    /// Batch sizes, reorders and feed gaps, for metrics and `INFO`.
    public let metrics: StoreMetrics
    private let entries = Mutex<[String: Entry]>([:])
    /// Held while a tenant's database is written from the template.
    private let instantiating = Mutex(())
    /// Databases opened since start (cold opens), for `INFO` and metrics.
    private let opens = Atomic<Int>(0)
    /// Each tenant's own group-commit counters, kept across closes and reopens.
    private let tenantWrites = Mutex<[String: WriteStatistics]>([:])

    public init(
        root: String, durability: Durability = .full, maxOpen: Int = 256, recordCacheCapacity: Int = 0,
        maxDatabaseBytes: Int? = nil, metrics: StoreMetrics = .discarded
    ) throws {
        self.root = root
        self.metrics = metrics
        self.statistics = WriteStatistics(batchSizes: metrics.batchSizes)
        self.maxDatabaseBytes = maxDatabaseBytes
        self.durability = durability
        self.maxOpen = maxOpen
        self.recordCacheCapacity = recordCacheCapacity
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        location = .files(template: try TenantTemplate(directory: root, durability: durability))
    }

    /// Tenants as schemas in the PostgreSQL `store`; durability is PostgreSQL's (`synchronous_commit`).
    public init(
        postgres store: PostgresStore, maxOpen: Int = 256, recordCacheCapacity: Int = 0,
        metrics: StoreMetrics = .discarded
    ) {
        root = store.url.description
        location = .postgres(store)
        self.metrics = metrics
        statistics = WriteStatistics(batchSizes: metrics.batchSizes)
        maxDatabaseBytes = nil
        durability = .full
        self.maxOpen = maxOpen
        self.recordCacheCapacity = recordCacheCapacity
        store.onChanges { [weak self] report in self?.otherGateways(report) }
    }

    /// What the other gateways sharing the PostgreSQL did, or whether they are heard.
    private func otherGateways(_ report: PostgresChangeListener.Report) {
        switch report {
        case .deaf:
            break
        case .listening:
            // Notices may have been missed: every cache starts over, every hub catches up.
            for database in openDatabases() { database.committedElsewhere(.all, newestSeq: nil) }
        case .notice(let notice):
            let database = entries.withLock { entries -> TenantDatabase? in
                if case .open(let database, _, _) = entries[notice.tenant] { return database }
                return nil
            }
            database?.committedElsewhere(notice.records, newestSeq: notice.newestSeq)
        case .withdrawn(.tenantDropped(let name)):
            // Its schema is gone: close what this gateway holds of it (a new tenant of the name starts afresh).
            if case .open(let database, _, _) = entries.withLock({ $0.removeValue(forKey: name.value) }) {
                Task { await close([database]) }
            }
        case .withdrawn:
            break
        }
    }

    private func openDatabases() -> [TenantDatabase] {
        entries.withLock { entries in
            entries.values.compactMap { entry -> TenantDatabase? in
                if case .open(let database, _, _) = entry { return database }
                return nil
            }
        }
    }

    /// The PostgreSQL store the tenants are in, if they are.
    public var postgres: PostgresStore? {
        if case .postgres(let store) = location { return store }
        return nil
    }

    /// Tenant databases opened since start.
    public var openings: Int { opens.load(ordering: .relaxed) }
    /// Syncs of tenants' WAL files made so far, each serving every commit written to the file before it.
    public var walSyncs: Int { WALSync.shared.syncs }

    /// Bytes SQLite holds for every open tenant (page caches, schemas, statements).
    public var sqliteMemory: Int { SQLiteLibrary.memoryUsed }

    /// The database file of a tenant.
    public func path(of name: TenantName) -> String {
        "\(root)/\(name.value).sqlite"
    }

    /// Bytes a tenant's database and its WAL take on disk (its schema's tables and indexes, in PostgreSQL).
    public func sizeOnDisk(of name: TenantName) async -> Int {
        switch location {
        case .files:
            let path = path(of: name)
            return [path, path + "-wal"].reduce(0) { total, file in
                total + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
            }
        case .postgres(let store):
            let schema = PostgresSchema.tenant(name)
            let size = try? await store.transaction(schema: nil, readOnly: true) { db in
                try db.value(
                    Int.self,
                    """
                    SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relkind = 'r'
                    """, [schema])
            }
            return (size ?? nil) ?? 0
        }
    }

    /// One tenant's group-commit counters since the server started.
    public func writeStatistics(of name: TenantName) -> WriteStatistics {
        tenantWrites.withLock { writes in
            if let statistics = writes[name.value] { return statistics }
            let statistics = WriteStatistics()
            writes[name.value] = statistics
            return statistics
        }
    }

    /// Opens a tenant's database for a session, held until the lease is released.
    public func lease(_ name: TenantName) async throws -> TenantLease {
        TenantLease(database: try await acquire(name), directory: self)
    }

    /// Opens a tenant's database; call ``release(_:)`` when done with it.
    public func acquire(_ name: TenantName) async throws -> TenantDatabase {
        enum Lookup {
            case ready(TenantDatabase)
            case wait(Task<TenantDatabase, any Error>)
        }
        let lookup = entries.withLock { entries -> Lookup in
            switch entries[name.value] {
            case .open(let database, let leases, _):
                entries[name.value] = .open(database, leases: leases + 1, lastUsed: .now)
                return .ready(database)
            case .opening(let task):
                return .wait(task)
            case nil:
                let task = Task { try await self.openBlocking(name) }
                entries[name.value] = .opening(task)
                return .wait(task)
            }
        }
        let task: Task<TenantDatabase, any Error>
        switch lookup {
        case .ready(let database): return database
        case .wait(let opening): task = opening
        }
        do {
            let database = try await task.value
            entries.withLock { entries in
                switch entries[name.value] {
                case .opening:
                    entries[name.value] = .open(database, leases: 1, lastUsed: .now)
                case .open(let open, let leases, _) where open === database:
                    entries[name.value] = .open(open, leases: leases + 1, lastUsed: .now)
                default:
                    // Dropped while opening: the caller still gets a working handle, closed with the last lease.
                    break
                }
            }
            evictIfOverLimit()
            return database
        } catch {
            entries.withLock { entries in
                if case .opening = entries[name.value] { entries[name.value] = nil }
            }
            throw error
        }
    }

    /// Ends a session's use of a database.
    public func release(_ database: TenantDatabase) {
        entries.withLock { entries in
            if case .open(let open, let leases, _) = entries[database.name.value], open === database {
                entries[database.name.value] = .open(open, leases: max(0, leases - 1), lastUsed: .now)
            }
        }
    }

    /// Clears the way for a new tenant named `name`: removes (durably) any
    /// database file a dropped tenant of that name left behind, so the new one
    /// starts empty. Its own file is made from the template at its first use
    /// (``acquire(_:)``), so `TENANT.CREATE` costs one catalog commit. Blocking:
    /// call it off the event loops (``Catalog/createTenant(_:clearingFiles:)``
    /// runs it on the catalog's writer, before the tenant's row).
    public func discardLeftovers(of name: TenantName) throws {
        guard case .files = location else { return }
        let path = path(of: name)
        let leftovers = [path, path + "-wal", path + "-shm"].filter { FileManager.default.fileExists(atPath: $0) }
        guard !leftovers.isEmpty else { return }
        for file in leftovers { try FileManager.default.removeItem(atPath: file) }
        try TenantTemplate.syncDirectory(root)
    }

    /// Closes every tenant no session holds, when the process is short of
    /// descriptors (more than `threshold` of `limit` in use), and notes the
    /// shortage (``DescriptorPressure``) until the next count: the process
    /// must never run out (libdispatch aborts it when it cannot open a file).
    public func relieveDescriptorPressure(inUse: Int, limit: Int, threshold: Double = 0.75) async {
        let short = Double(inUse) > Double(limit) * threshold
        DescriptorPressure.isHigh.store(short, ordering: .relaxed)
        guard short else { return }
        await closeIdle(olderThan: .zero)
    }

    /// Lets databases nobody used for `idleTime` give back their memory and
    /// their readers' descriptors (``TenantDatabase/releaseMemoryIfIdle(since:)``);
    /// they stay open, and are warm again at the next command. The heap pages
    /// freed go back to the system (`malloc_trim`): glibc would keep them, and
    /// the process's RSS with them. Databases nobody wrote to for `idleTime`,
    /// read or not, do the upkeep that holds writes up
    /// (``TenantDatabase/upkeepIfWritesQuiet(since:)``). Runs on the blocking pool.
    public func releaseIdle(olderThan idleTime: Duration) async {
        let open = openDatabases()
        let cutoff = ContinuousClock.now - idleTime
        _ = try? await onBlockingThread {
            var released = false
            for database in open {
                database.upkeepIfWritesQuiet(since: cutoff)
                if database.releaseMemoryIfIdle(since: cutoff) { released = true }
            }
            if released { _ = returnFreeHeapToSystem(0) }
        }
    }

    /// Closes and deletes a tenant's database files.
    public func remove(_ name: TenantName) async throws {
        let entry = entries.withLock { $0.removeValue(forKey: name.value) }
        _ = tenantWrites.withLock { $0.removeValue(forKey: name.value) }
        if case .open(let database, _, _) = entry {
            try await onBlockingThread { try database.close() }
        } else if case .opening(let task) = entry, let database = try? await task.value {
            try await onBlockingThread { try database.close() }
        }
        switch location {
        case .files:
            let path = path(of: name)
            for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
                try FileManager.default.removeItem(atPath: file)
            }
        case .postgres(let store):
            try await store.transaction(schema: nil, lock: PostgresSchema.lockKey(name)) { db in
                try db.run("DROP SCHEMA IF EXISTS \(PostgresSchema.quoted(PostgresSchema.tenant(name))) CASCADE")
            }
        }
    }

    /// Throws unless backups are file copies (SQLite): PostgreSQL has its own
    /// tools, which the error names.
    public func checkFileBackups() throws {
        if case .postgres = location { throw StoreError.unsupported(PostgresStore.backupAdvice) }
    }

    /// Copies a tenant's database, from one consistent snapshot, to `destination`.
    public func backup(_ name: TenantName, to destination: String) async throws {
        try checkFileBackups()
        let source = path(of: name)
        try await onBlockingThread {
            try self.instantiateIfMissing(name)
            try DatabaseCopy.copy(from: source, to: destination)
        }
    }

    /// Writes a listed tenant's database from the template if it has none yet
    /// (it was never used since `TENANT.CREATE`). One at a time, so a backup and
    /// a first open of the same new tenant cannot both write it. Blocking.
    private func instantiateIfMissing(_ name: TenantName) throws {
        let path = path(of: name)
        guard case .files(let template) = location, !FileManager.default.fileExists(atPath: path) else { return }
        try instantiating.withLock { _ in
            guard !FileManager.default.fileExists(atPath: path) else { return }
            try template.instantiate(at: path)
        }
    }

    /// Replaces a tenant's database with the copy at `source` (see ``backup(_:to:)``).
    /// The tenant's sessions must be closed first; its open database is closed here.
    public func restore(_ name: TenantName, from source: String) async throws {
        try checkFileBackups()
        guard FileManager.default.fileExists(atPath: source) else {
            throw StoreError.notFound("the backup holds no database for tenant \(name)")
        }
        try await remove(name)
        let destination = path(of: name)
        try await onBlockingThread { try DatabaseCopy.copy(from: source, to: destination) }
    }

    /// Closes databases no session has used for `idleTime`.
    public func closeIdle(olderThan idleTime: Duration) async {
        let cutoff = ContinuousClock.now - idleTime
        await close(
            entries.withLock { entries in
                let idle = entries.compactMap { name, entry -> (String, TenantDatabase)? in
                    guard case .open(let database, 0, let lastUsed) = entry, lastUsed < cutoff else { return nil }
                    return (name, database)
                }
                for (name, _) in idle { entries[name] = nil }
                return idle.map(\.1)
            })
    }

    /// Closes every database (at shutdown), after their queued writes commit.
    public func closeAll() async {
        await close(
            entries.withLock { entries in
                let open = entries.values.compactMap { entry -> TenantDatabase? in
                    if case .open(let database, _, _) = entry { return database }
                    return nil
                }
                entries.removeAll()
                return open
            })
    }

    /// How many tenant databases are open now.
    public var openCount: Int {
        entries.withLock { $0.count }
    }

    /// Over `maxOpen`, takes the least recently used tenants no session holds
    /// out of the directory and closes them in the background: the command that
    /// opened a tenant does not wait for another one's close.
    /// It closes a sixteenth of `maxOpen` more than the excess, so the scan of
    /// every open tenant runs once per that many opens, not at each one.
    private func evictIfOverLimit() {
        let evicted = entries.withLock { entries -> [TenantDatabase] in
            guard entries.count > maxOpen else { return [] }
            let excess = entries.count - maxOpen + maxOpen / 16
            var idle: [(name: String, database: TenantDatabase, lastUsed: ContinuousClock.Instant)] = []
            idle.reserveCapacity(entries.count)
            for (name, entry) in entries {
                if case .open(let database, 0, let lastUsed) = entry { idle.append((name, database, lastUsed)) }
            }
            let oldest = idle.count <= excess ? idle[...] : idle.sorted { $0.lastUsed < $1.lastUsed }.prefix(excess)
            for tenant in oldest { entries[tenant.name] = nil }
            return oldest.map(\.database)
        }
        guard !evicted.isEmpty else { return }
        Task { await close(evicted) }
    }

    private func close(_ databases: [TenantDatabase]) async {
        for database in databases {
            try? await onBlockingThread { try database.close() }
        }
    }

    /// Opens a tenant's database. Out of file descriptors, it closes the idle
    /// tenants and tries once more; if it still cannot, the command gets
    /// ``StoreError/unavailable(_:)`` (`-TRYAGAIN`) and nothing changed.
    private func openBlocking(_ name: TenantName) async throws -> TenantDatabase {
        // Short of descriptors since the last count: make room before taking more.
        if DescriptorPressure.isHigh.load(ordering: .relaxed) { await closeIdle(olderThan: .zero) }
        do {
            return try await open(name)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN && errno == EMFILE {
            await closeIdle(olderThan: .zero)
        }
        do {
            return try await open(name)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN {
            throw StoreError.unavailable(
                "cannot open tenant \(name) now: the server is out of file descriptors; retry shortly")
        }
    }

    private func open(_ name: TenantName) async throws -> TenantDatabase {
        let recordCache = RecordCache(capacity: recordCacheCapacity, trust: postgres?.cacheTrust)
        let statistics = [statistics, writeStatistics(of: name)]
        let engine: any TenantEngine
        switch location {
        case .files:
            engine = try await onBlockingThread {
                try self.instantiateIfMissing(name)
                return try SQLiteTenantEngine(
                    name: name, path: self.path(of: name), durability: self.durability, recordCache: recordCache,
                    maxBytes: self.maxDatabaseBytes, statistics: statistics, metrics: self.metrics)
            }
        case .postgres(let store):
            engine = try await PostgresTenantEngine(
                name: name, store: store, recordCache: recordCache, statistics: statistics, metrics: metrics)
        }
        let database = TenantDatabase(name: name, recordCache: recordCache, engine: engine, metrics: metrics)
        opens.add(1, ordering: .relaxed)
        return database
    }

    /// Runs blocking file and SQLite work (opens, closes, copies) on NIO's
    /// shared thread pool, bounded by the machine's cores: never on an event
    /// loop or the cooperative pool, and never a thread per waiting tenant.
    private func onBlockingThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }
}

/// Whether the process is short of file descriptors, as the last count found
/// (``TenantDirectory/relieveDescriptorPressure(inUse:limit:threshold:)``, each
/// second): meanwhile tenant opens first close idle tenants, and event loops
/// open no read-only connections of their own (their reads go to readers).
enum DescriptorPressure {
    static let isHigh = Atomic<Bool>(false)
}

/// A session's hold on an open tenant database: while any lease is held the
/// directory does not close the database. Releasing a lease twice releases it once.
public final class TenantLease: Sendable {
    public let database: TenantDatabase
    private let directory: TenantDirectory
    private let released = Atomic<Bool>(false)

    init(database: TenantDatabase, directory: TenantDirectory) {
        self.database = database
        self.directory = directory
    }

    public func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        directory.release(database)
    }
}

/// glibc's `malloc_trim(pad)` (`<malloc.h>`, which Glibc's module map leaves out):
/// returns free heap pages to the system; 1 if it released any.
@_silgen_name("malloc_trim")
private func returnFreeHeapToSystem(_ pad: Int) -> Int32
