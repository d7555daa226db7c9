import GRDB
import GRDBSQLite

/// The SQLite engine's ``SQLDatabase``: statements on a GRDB connection,
/// prepared once per connection (GRDB's statement cache) and bound and
/// stepped straight through SQLite's C API. GRDB's `Row`, cursors and
/// argument conversions cost more than SQLite's own work for a point read.
struct SQLiteTransaction: SQLDatabase {
    let db: Database
    /// Counted up by each statement that could change the database and ran to its end (the writer's writes).
    var completedChanges: CompletedChanges?

    var dialect: any SQLDialect { SQLiteDialect.shared }

    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        try withPrepared(sql, arguments) { statement in
            let code = sqlite3_step(statement)
            guard code == SQLITE_DONE || code == SQLITE_ROW else { throw error(code, sql) }
            return Int(sqlite3_changes(db.sqliteConnection))
        }
    }

    func forEachRow(_ sql: String, _ arguments: [any SQLBindable], _ row: (any SQLColumns) throws -> Void) throws {
        try withPrepared(sql, arguments) { statement in
            let columns = SQLiteColumns(statement: statement)
            while true {
                let code = sqlite3_step(statement)
                switch code {
                case SQLITE_ROW: try row(columns)
                case SQLITE_DONE: return
                default: throw error(code, sql)
                }
            }
        }
    }

    /// The key is the table's rowid, read from the connection after the insert: a `RETURNING`
    /// clause has SQLite gather its rows in a temporary table, and cost a third more
    /// instructions per CONTACT.ADD (two such inserts) in `callgrind`.
    func insertedKey(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int64? {
        try execute(sql, arguments) > 0 ? sqlite3_last_insert_rowid(db.sqliteConnection) : nil
    }

    func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? DatabaseError)?.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
    }

    /// SQLite undoes a failed statement alone.
    func recoverable(_ statement: () throws -> Void) throws {
        try statement()
    }

    /// Only a write transaction has rows to index: the writer indexes every batch before its commit.
    func prepareSearch() throws {
        guard sqlite3_txn_state(db.sqliteConnection, nil) == SQLITE_TXN_WRITE else { return }
        try SearchIndex.flush(self)
    }

    /// Deleted content is zeroed (`secure_delete`); the words leave the
    /// search index now, and merging rewrites the segments that held them.
    func erasingSecurely(_ body: () throws -> Void) throws {
        try execute("PRAGMA secure_delete = ON")
        defer { _ = try? execute("PRAGMA secure_delete = OFF") }
        try body()
        try SearchIndex.flush(self)
        try SearchIndex.compact(self)
    }

    /// Runs `body` on the connection's cached statement for `sql`, bound to
    /// `arguments`, and resets it afterwards (so it holds no read lock). GRDB
    /// hands out a statement of its own when the cached one is busy (the same
    /// SQL run inside its own rows): it is kept alive until `body` returns.
    private func withPrepared<T>(
        _ sql: String, _ arguments: [any SQLBindable], _ body: (SQLiteStatement) throws -> T
    ) throws -> T {
        let cached = try db.cachedStatement(sql: sql)
        return try withExtendedLifetime(cached) {
            let statement = cached.sqliteStatement
            sqlite3_reset(statement)
            defer { sqlite3_reset(statement) }
            try bind(arguments, to: statement, sql)
            let value = try body(statement)
            if let completedChanges, sqlite3_stmt_readonly(statement) == 0 { completedChanges.count += 1 }
            return value
        }
    }

    private func bind(_ arguments: [any SQLBindable], to statement: SQLiteStatement, _ sql: String) throws {
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch argument.sqlValue {
            case .null: code = sqlite3_bind_null(statement, index)
            case .integer(let number): code = sqlite3_bind_int64(statement, index, number)
            case .real(let number): code = sqlite3_bind_double(statement, index, number)
            case .text(var text):
                // The bytes and their length as the string holds them: passed as a C string, a
                // String was copied into a new array first.
                code = text.withUTF8 { bytes in
                    guard let start = bytes.baseAddress, !bytes.isEmpty else {
                        return sqlite3_bind_text(statement, index, "", 0, transientDestructor)
                    }
                    return start.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                        sqlite3_bind_text(statement, index, $0, Int32(bytes.count), transientDestructor)
                    }
                }
            case .blob(let bytes):
                code = bytes.withUnsafeBytes {
                    sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), transientDestructor)
                }
            }
            guard code == SQLITE_OK else { throw error(code, sql) }
        }
    }

    private func error(_ code: Int32, _ sql: String) -> DatabaseError {
        let connection = db.sqliteConnection
        return DatabaseError(
            resultCode: ResultCode(rawValue: connection.map(sqlite3_extended_errcode) ?? code),
            message: connection.map { String(cString: sqlite3_errmsg($0)) }, sql: sql)
    }
}

/// A count of the statements that could change a database and ran to their
/// end. A write's savepoint is what undoes those if the write fails later: SQLite
/// undoes a failed statement alone, and not every change counts in
/// `sqlite3_total_changes` (an ignored insert still takes an AUTOINCREMENT id).
/// Used by one thread at a time (the writer's).
final class CompletedChanges: @unchecked Sendable {
    var count = 0
}

/// SQLite's destructor value that has it copy bound text and blobs.
private let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The current row of a statement stepped by ``SQLiteTransaction``.
struct SQLiteColumns: SQLColumns {
    let statement: SQLiteStatement

    var count: Int { Int(sqlite3_column_count(statement)) }

    func text(_ index: Int) -> String? {
        let column = Int32(index)
        switch sqlite3_column_type(statement, column) {
        case SQLITE_NULL:
            return nil
        case SQLITE_INTEGER:
            return String(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT:
            return String(sqlite3_column_double(statement, column))
        default:
            // Text and blobs alike: the bytes as UTF-8 (sqlite3_column_text first, then its length).
            guard let bytes = sqlite3_column_text(statement, column) else { return "" }
            let count = Int(sqlite3_column_bytes(statement, column))
            return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
        }
    }

    func isNull(_ index: Int) -> Bool {
        sqlite3_column_type(statement, Int32(index)) == SQLITE_NULL
    }

    /// Text and integers are handed over where SQLite holds them (its decimal
    /// is ``text(_:)``'s); a real as ``text(_:)`` writes it, from a copy.
    func withTexts<R>(_ columns: Range<Int>, _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer?>) throws -> R)
        rethrows -> R
    {
        try withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer?.self, capacity: columns.count) { texts in
            var copies: [UnsafeMutableRawBufferPointer] = []
            defer { for copy in copies { copy.deallocate() } }
            for (slot, index) in columns.enumerated() {
                let column = Int32(index)
                switch sqlite3_column_type(statement, column) {
                case SQLITE_NULL:
                    texts[slot] = nil
                case SQLITE_FLOAT:
                    let text = text(index) ?? ""
                    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: text.utf8.count, alignment: 1)
                    copy.copyBytes(from: text.utf8)
                    copies.append(copy)
                    texts[slot] = UnsafeRawBufferPointer(copy)
                default:
                    let bytes = sqlite3_column_text(statement, column)
                    texts[slot] = UnsafeRawBufferPointer(
                        start: bytes, count: Int(sqlite3_column_bytes(statement, column)))
                }
            }
            return try body(UnsafeBufferPointer(texts))
        }
    }

    func integer(_ index: Int) -> Int64? {
        sqlite3_column_type(statement, Int32(index)) == SQLITE_NULL
            ? nil : sqlite3_column_int64(statement, Int32(index))
    }

    func value(_ index: Int) -> SQLValue {
        let column = Int32(index)
        switch sqlite3_column_type(statement, column) {
        case SQLITE_NULL:
            return .null
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT:
            return .real(sqlite3_column_double(statement, column))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let bytes = sqlite3_column_blob(statement, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default:
            return .text(text(index) ?? "")
        }
    }
}

/// SQLite's SQL where the engines differ.
struct SQLiteDialect: SQLDialect {
    static let shared = SQLiteDialect()

    func customField(_ name: String) -> String { "json_extract(custom, '$.\(name)')" }

    var isDistinctFrom: String { "IS NOT" }

    var prefixUpperBound: String { "? || char(1114111)" }

    /// `key` is the table's `INTEGER PRIMARY KEY AUTOINCREMENT`, its rowid, which ``SQLiteTransaction`` reads back.
    func insertWithKey(into table: String, key: String, columns: [String], ignoringConflicts: Bool) -> String {
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        return "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(placeholders))"
            + (ignoringConflicts ? " ON CONFLICT DO NOTHING" : "")
    }

    func integerQuotient(_ dividend: String, _ divisor: String) -> String { "(\(dividend)) / (\(divisor))" }

    var eventTypeMatches: String { "type GLOB ?" }

    func eventTypePattern(_ type: String) -> String {
        let escaped = { (text: Substring) in
            text.map { "*?[]".contains($0) ? "[\($0)]" : String($0) }.joined()
        }
        return type.hasSuffix("*") ? escaped(type.dropLast()) + "*" : escaped(type[...])
    }

    /// The FTS5 matches first, in rowid order (`CROSS JOIN` keeps the planner
    /// from driving the join from another index and probing the full-text
    /// index once per row), so a page sorted by id stops after its rows
    /// instead of collecting every match.
    func searchSource(records: RecordTable) -> String {
        let index = records.searchTable ?? ""
        return "(SELECT rowid AS hit FROM \(index) WHERE \(index) MATCH ?) CROSS JOIN \(records.table) ON id = hit"
    }

    /// Every word as a quoted FTS5 string with a prefix star: no word is read
    /// as FTS5 syntax. (GRDB's FTS5Pattern builds the same, but opens two
    /// in-memory databases to do it: it was two thirds of a search's time.)
    func searchPattern(_ words: [String]) -> String {
        words.map { "\"\($0)\"*" }.joined(separator: " ")
    }
}
