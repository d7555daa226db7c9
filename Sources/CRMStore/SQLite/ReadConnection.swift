import GRDB
import GRDBSQLite

/// A read-only connection to a tenant's database that runs each read in a
/// transaction of its own, or in a snapshot kept open for the reads that
/// follow, with the transaction's statements prepared once (parsing them at
/// each read, as GRDB's `read` does, was a quarter of a point read's time).
/// Used by one thread at a time.
final class ReadConnection: @unchecked Sendable {
    let queue: DatabaseQueue
    private let begin: ControlStatement
    private let snapshot: ControlStatement
    private let commit: ControlStatement
    private let rollback: ControlStatement
    /// The tenant's count of commits when the snapshot kept open began; nil: none is open.
    private var keptSnapshot: UInt64?

    /// How much of the database file a connection reads through a memory map (address space, not memory).
    static let mappedBytes = 1 << 30

    /// Opens the connection and parses the schema (so the first read does not). Blocking.
    init(path: String, label: String, busyMode: Database.BusyMode, keepsSnapshots: Bool = false) throws {
        var configuration = Configuration()
        configuration.readonly = true
        // GRDB otherwise stops the process when a transaction outlives the access that began it.
        configuration.allowsUnsafeTransactions = keepsSnapshots
        configuration.busyMode = busyMode
        configuration.label = label
        configuration.prepareDatabase { db in
            // As the tenant's other connections: closing this one never deletes the WAL.
            var persist: Int32 = 1
            sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_PERSIST_WAL, &persist)
            // Pages are read where the OS cache holds them, not copied into a page cache of
            // this connection's own (a point read that missed the record cache spent 4% in pread).
            try db.execute(sql: "PRAGMA mmap_size = \(Self.mappedBytes)")
        }
        queue = try DatabaseQueue(path: path, configuration: configuration)
        (begin, snapshot, commit, rollback) = try queue.inDatabase { db in
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_schema")
            let connection = db.sqliteConnection!
            return (
                try ControlStatement("BEGIN", on: connection),
                try ControlStatement("SELECT 1 FROM sqlite_schema LIMIT 1", on: connection),
                try ControlStatement("COMMIT", on: connection), try ControlStatement("ROLLBACK", on: connection)
            )
        }
    }

    /// Runs `body` in a read transaction: one snapshot for all its statements.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try queue.inDatabase { db in
            try beginSnapshot()
            do {
                let value = try body(db)
                try commit.run()
                return value
            } catch {
                try? rollback.run()
                throw error
            }
        }
    }

    /// Runs `body` in the snapshot the previous read kept open if no commit
    /// came since it began (`commits` is the tenant's count of commits, read
    /// before calling), else in a new one, and keeps it open for the next read
    /// until ``endKeptSnapshot()``. Reads in one snapshot share its `BEGIN`, its
    /// lock on the WAL (two `fcntl` calls) and its `COMMIT`: a point read that
    /// missed the record cache spent a sixth of its time on them.
    func readInKeptSnapshot<T>(commits: UInt64, _ body: (Database) throws -> T) throws -> T {
        try queue.inDatabase { db in
            if let kept = keptSnapshot, kept != commits { endSnapshot() }
            if keptSnapshot == nil {
                try beginSnapshot()
                keptSnapshot = commits
            }
            do {
                return try body(db)
            } catch {
                // A statement's error may have ended the transaction: the next read begins anew.
                endSnapshot()
                throw error
            }
        }
    }

    /// Ends the snapshot kept open, if any.
    func endKeptSnapshot() {
        queue.inDatabase { _ in endSnapshot() }
    }

    /// Begins a read transaction and its snapshot: a lock that keeps the
    /// snapshot from starting fails here, never in a statement of the read,
    /// whose errors may become replies.
    private func beginSnapshot() throws {
        try begin.run()
        do {
            try snapshot.run()
        } catch {
            try? rollback.run()
            throw error
        }
    }

    /// Ends the kept snapshot's transaction (nothing to lose: it only read).
    private func endSnapshot() {
        guard keptSnapshot != nil else { return }
        keptSnapshot = nil
        if (try? commit.run()) == nil { try? rollback.run() }
    }

    deinit {
        for statement in [begin, snapshot, commit, rollback] { statement.finalize() }
    }
}
