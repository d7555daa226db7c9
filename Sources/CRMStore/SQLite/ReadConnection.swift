import GRDB
import GRDBSQLite

/// A read-only connection to a tenant's database that runs each read in a
/// transaction of its own, with the transaction's statements prepared once
/// (parsing them at each read, as GRDB's `read` does, was a quarter of a point
/// read's time). Used by one thread at a time.
final class ReadConnection: @unchecked Sendable {
    let queue: DatabaseQueue
    private let begin: ControlStatement
    private let snapshot: ControlStatement
    private let commit: ControlStatement
    private let rollback: ControlStatement

    /// How much of the database file a connection reads through a memory map (address space, not memory).
    static let mappedBytes = 1 << 30

    /// Opens the connection and parses the schema (so the first read does not). Blocking.
    init(path: String, label: String, busyMode: Database.BusyMode) throws {
        var configuration = Configuration()
        configuration.readonly = true
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
            try begin.run()
            do {
                // The snapshot starts here: a lock that keeps it from starting fails this
                // statement, never one of `body`'s, whose errors may become replies.
                try snapshot.run()
                let value = try body(db)
                try commit.run()
                return value
            } catch {
                try? rollback.run()
                throw error
            }
        }
    }

    deinit {
        for statement in [begin, snapshot, commit, rollback] { statement.finalize() }
    }
}
