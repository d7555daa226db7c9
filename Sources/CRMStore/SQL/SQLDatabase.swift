/// One transaction on a tenant's database as the services see it: SQL with
/// `?` placeholders, run by whichever engine holds the tenant (SQLite or
/// PostgreSQL). The services are written once against this; each engine
/// keeps what differs in its ``SQLDialect``.
protocol SQLDatabase {
    /// The SQL that differs between engines.
    var dialect: any SQLDialect { get }

    /// Runs a statement that returns no rows; returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int

    /// Runs a query and hands `row` each result row, valid only during the call.
    func forEachRow(_ sql: String, _ arguments: [any SQLBindable], _ row: (any SQLColumns) throws -> Void) throws

    /// Runs an INSERT built by ``SQLDialect/insertWithKey(into:key:columns:ignoringConflicts:)``
    /// and returns the new row's key: nil when a conflict left the row out.
    func insertedKey(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int64?

    /// Whether `error` is a unique index rejecting a write.
    func isUniqueViolation(_ error: any Error) -> Bool

    /// Runs `statement` so that, if it fails, the transaction can go on
    /// (PostgreSQL aborts a transaction at a failed statement unless a savepoint holds it).
    func recoverable(_ statement: () throws -> Void) throws

    /// Brings the search index up to date with this transaction's writes,
    /// where the engine defers that work.
    func prepareSearch() throws

    /// Runs `body` so that what it deletes leaves no trace in the files.
    func erasingSecurely(_ body: () throws -> Void) throws
}

/// The columns of the current row of a query.
protocol SQLColumns {
    /// Column `index` as the text commands see: nil for NULL, numbers in decimal.
    func text(_ index: Int) -> String?
    /// Column `index` as an integer: nil for NULL.
    func integer(_ index: Int) -> Int64?
    /// Column `index` as it is stored.
    func value(_ index: Int) -> SQLValue
    /// How many columns the row has.
    var count: Int { get }
    /// Whether column `index` is NULL.
    func isNull(_ index: Int) -> Bool
    /// `body` run on the bytes of each of `columns` as ``text(_:)`` has them (nil
    /// for NULL), without making a `String` where the engine need not: one call
    /// a row, where a `FIND` page would make one a field.
    func withTexts<R>(_ columns: Range<Int>, _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer?>) throws -> R)
        rethrows -> R
}

extension SQLColumns {
    func isNull(_ index: Int) -> Bool { value(index) == .null }

    /// The columns' texts as ``text(_:)`` makes them, copied into one allocation so that each
    /// can be handed over by address (PostgreSQL's rows hold typed values, not text).
    func withTexts<R>(_ columns: Range<Int>, _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer?>) throws -> R)
        rethrows -> R
    {
        let texts = columns.map { text($0).map { Array($0.utf8) } }
        let bytes = UnsafeMutableRawBufferPointer.allocate(
            byteCount: texts.reduce(0) { $0 + ($1?.count ?? 0) }, alignment: 1)
        defer { bytes.deallocate() }
        var offset = 0
        let views = texts.map { text -> UnsafeRawBufferPointer? in
            guard let text else { return nil }
            let view = UnsafeMutableRawBufferPointer(rebasing: bytes[offset..<offset + text.count])
            view.copyBytes(from: text)
            offset += text.count
            return UnsafeRawBufferPointer(view)
        }
        return try views.withUnsafeBufferPointer(body)
    }
}

extension SQLDatabase {
    /// Runs a statement without arguments.
    @discardableResult
    func execute(_ sql: String) throws -> Int {
        try execute(sql, [])
    }

    /// Every row a query returns.
    func rows(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [SQLRow] {
        var rows: [SQLRow] = []
        try forEachRow(sql, arguments) { columns in
            rows.append(SQLRow(values: (0..<columns.count).map(columns.value)))
        }
        return rows
    }

    /// The first row a query returns, if any.
    func row(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> SQLRow? {
        var first: SQLRow?
        try forEachRow(sql, arguments) { columns in
            if first == nil { first = SQLRow(values: (0..<columns.count).map(columns.value)) }
        }
        return first
    }

    /// The first column of the first row, as `T`: nil when there is no row or it holds NULL.
    func value<T: SQLDecodable>(_ type: T.Type, _ sql: String, _ arguments: [any SQLBindable] = []) throws -> T? {
        var found: T?
        var read = false
        try forEachRow(sql, arguments) { columns in
            guard !read else { return }
            read = true
            found = T.decode(columns.value(0))
        }
        return found
    }

    /// Runs a statement whose parameters are named (`:name`), for SQL that uses one value in several places.
    @discardableResult
    func execute(_ sql: String, named arguments: [String: any SQLBindable]) throws -> Int {
        let (sql, positional) = NamedParameters.positional(sql, arguments)
        return try execute(sql, positional)
    }

    /// Every row a query with named parameters returns.
    func rows(_ sql: String, named arguments: [String: any SQLBindable]) throws -> [SQLRow] {
        let (sql, positional) = NamedParameters.positional(sql, arguments)
        return try rows(sql, positional)
    }

    /// The first row a query with named parameters returns, if any.
    func row(_ sql: String, named arguments: [String: any SQLBindable]) throws -> SQLRow? {
        let (sql, positional) = NamedParameters.positional(sql, arguments)
        return try row(sql, positional)
    }

    /// The first column of every row, as `T`; NULLs are left out.
    func values<T: SQLDecodable>(_ type: T.Type, _ sql: String, _ arguments: [any SQLBindable] = []) throws -> [T] {
        var values: [T] = []
        try forEachRow(sql, arguments) { columns in
            if let value = T.decode(columns.value(0)) { values.append(value) }
        }
        return values
    }
}

/// `:name` parameters, read out of SQL into the `?` placeholders both engines take.
enum NamedParameters {
    /// `sql` with each `:name` outside quotes replaced by `?`, and the arguments in that order.
    static func positional(_ sql: String, _ named: [String: any SQLBindable]) -> (String, [any SQLBindable]) {
        var out = ""
        var arguments: [any SQLBindable] = []
        var characters = sql[...]
        var quoted = false
        while let character = characters.popFirst() {
            if character == "'" { quoted.toggle() }
            guard !quoted, character == ":", let first = characters.first, first.isLetter || first == "_",
                out.last != ":"
            else {
                out.append(character)
                continue
            }
            let name = characters.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            characters = characters.dropFirst(name.count)
            guard let value = named[String(name)] else { preconditionFailure("no argument for :\(name)") }
            out.append("?")
            arguments.append(value)
        }
        return (out, arguments)
    }
}

/// The SQL that differs between engines, in one place per engine.
protocol SQLDialect: Sendable {
    /// The expression of custom field `name` (an `x_*` name, validated) in the JSON `custom` column.
    func customField(_ name: String) -> String

    /// `a <op> b` true when the two differ, NULLs included.
    var isDistinctFrom: String { get }

    /// The expression of the smallest text above every text starting with the bound prefix.
    var prefixUpperBound: String { get }

    /// An INSERT of `columns` (bound in that order) into `table`, run by
    /// ``SQLDatabase/insertedKey(_:_:)``, which returns the new row's `key`,
    /// allocated as SQLite's AUTOINCREMENT does: one more than the largest ever
    /// used, never reused, and not used up by a write that is undone, so a
    /// tenant's ids and event numbers have no gaps. With `ignoringConflicts`, a
    /// row a unique index rejects inserts nothing.
    func insertWithKey(into table: String, key: String, columns: [String], ignoringConflicts: Bool) -> String

    /// The integer quotient of two integer expressions, truncated toward zero.
    func integerQuotient(_ dividend: String, _ divisor: String) -> String

    /// A condition on the event column `type` matching one bound pattern.
    var eventTypeMatches: String { get }

    /// The pattern for ``eventTypeMatches`` of `type`, where a trailing `*` matches any suffix.
    func eventTypePattern(_ type: String) -> String

    /// The rows of `records` matching the bound search pattern, as a `FROM`
    /// source whose matched id column is `hit`, in id order.
    func searchSource(records: RecordTable) -> String

    /// The bound search pattern for `words`: every word matched as a prefix.
    func searchPattern(_ words: [String]) -> String
}
