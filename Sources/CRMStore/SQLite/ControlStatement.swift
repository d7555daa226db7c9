import GRDB
import GRDBSQLite

/// A statement without arguments or rows (`BEGIN`, `COMMIT`, a savepoint),
/// prepared once on a connection and stepped through SQLite's C API. GRDB's
/// bookkeeping around each of its executes costs more than such a statement
/// does (6% of an inline FIND's time in perf, and 5% of the writer's), and its
/// `inTransaction` parses `BEGIN` and `COMMIT` anew for each transaction.
///
/// Used only where its connection is: on the thread that holds that
/// connection. Finalize it before the connection closes.
struct ControlStatement: @unchecked Sendable {
    private let statement: SQLiteStatement

    init(_ sql: String, on connection: OpaquePointer) throws {
        var statement: SQLiteStatement?
        let code = sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "cannot prepare \(sql)")
        }
        self.statement = statement
    }

    /// Runs the statement to its first row or its end, and resets it.
    func run() throws {
        let code = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard code == SQLITE_ROW || code == SQLITE_DONE else {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errstr(code)),
                sql: String(cString: sqlite3_sql(statement)))
        }
    }

    /// Frees the statement.
    func finalize() {
        sqlite3_finalize(statement)
    }
}
