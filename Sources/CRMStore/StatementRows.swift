import GRDB
import GRDBSQLite

/// Rows read straight from a prepared statement's columns. The hot reads (a
/// record by id or ext, a FIND page) skip GRDB's `Row` and cursor objects,
/// which cost more than SQLite's own work for a point read.
extension Statement {
    /// Binds `arguments`, then hands `row` each result row as SQLite's
    /// statement, valid only during the call. The statement is reset at the
    /// end, so it holds no read lock afterwards.
    func forEachRow(arguments: StatementArguments, _ row: (SQLiteStatement) throws -> Void) throws {
        try setArguments(arguments)
        defer { sqlite3_reset(sqliteStatement) }
        while true {
            let code = sqlite3_step(sqliteStatement)
            switch code {
            case SQLITE_ROW:
                try row(sqliteStatement)
            case SQLITE_DONE:
                return
            default:
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: code),
                    message: String(cString: sqlite3_errmsg(sqlite3_db_handle(sqliteStatement))), sql: sql)
            }
        }
    }
}

/// A column of the current row of a statement stepped by ``GRDB/Statement/forEachRow(arguments:_:)``.
enum ColumnValue {
    /// The column as the text commands see: nil for NULL, numbers in decimal.
    static func text(_ statement: SQLiteStatement, _ index: Int32) -> String? {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_NULL:
            return nil
        case SQLITE_INTEGER:
            return String(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT:
            return String(sqlite3_column_double(statement, index))
        default:
            // Text and blobs alike: the bytes as UTF-8 (sqlite3_column_text first, then its length).
            guard let bytes = sqlite3_column_text(statement, index) else { return "" }
            let count = Int(sqlite3_column_bytes(statement, index))
            return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
        }
    }

    static func integer(_ statement: SQLiteStatement, _ index: Int32) -> Int64 {
        sqlite3_column_int64(statement, index)
    }
}
