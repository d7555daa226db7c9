import CRMCore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The PostgreSQL engine's ``SQLDatabase``: the services' statements on one
/// connection inside a transaction, run from a blocking-pool thread, which
/// waits on postgres-nio's futures (never an event loop: the store runs
/// bodies only on its own threads).
final class PostgresTransaction: SQLDatabase {
    let connection: PostgresConnection
    private let logger: Logger
    private let metrics: PostgresMetrics
    /// The stored records this transaction changed, for the record cache to
    /// forget when it commits (a new record changes none). A record updated
    /// by id is named; any other update or delete of a record table (a bulk
    /// update, or a delete whose foreign-key actions change other rows) makes
    /// the cache forget the tenant's records.
    private(set) var changedRecords = RecordChanges.none
    /// Reorders and feed gaps the transaction created, for metrics (set back when a write is undone).
    var created = (reorders: 0, feedGaps: 0)

    init(connection: PostgresConnection, logger: Logger, metrics: PostgresMetrics) {
        self.connection = connection
        self.logger = logger
        self.metrics = metrics
    }

    var dialect: any SQLDialect { PostgresDialect.shared }

    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        noteWrites(sql, arguments)
        return try timed { try answer(connection.query(query(sql, arguments), logger: logger)) }.metadata.rows ?? 0
    }

    func forEachRow(_ sql: String, _ arguments: [any SQLBindable], _ row: (any SQLColumns) throws -> Void) throws {
        noteWrites(sql, arguments)
        let result = try timed { try answer(connection.query(query(sql, arguments), logger: logger)) }
        for found in result.rows {
            try row(PostgresColumns(row: found.makeRandomAccess()))
        }
    }

    /// The insert returns its key (``PostgresDialect`` adds the `RETURNING` clause).
    func insertedKey(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int64? {
        try value(Int64.self, sql, arguments)
    }

    /// Runs each `;`-separated statement of `sql`, one round trip each.
    func run(_ sql: String) throws {
        for statement in PostgresDialect.statements(sql) {
            try runOne(statement)
        }
    }

    /// Runs the `;`-separated schema changes of `sql` (no transaction control, no
    /// queries) in one round trip, as the statements of one PL/pgSQL block: a
    /// tenant's schema is about eighty statements, and one at a time its
    /// creation (at the tenant's first AUTH) took 5-20 s on a busy server.
    func runSchemaChanges(_ sql: String) throws {
        let statements = PostgresDialect.statements(sql)
        guard statements.count > 1 else { return try run(sql) }
        try runOne("DO $crmgate_schema$ BEGIN\n" + statements.joined(separator: ";\n") + ";\nEND $crmgate_schema$")
    }

    private func runOne(_ statement: String) throws {
        _ = try timed { try answer(connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)) }
    }

    /// Waits for `query`'s answer, or for the connection to close: a query
    /// sent as PostgreSQL went away was seen never to be answered nor failed.
    private func answer(_ query: EventLoopFuture<PostgresQueryResult>) throws -> PostgresQueryResult {
        let outcome = QueryOutcome()
        query.whenComplete { outcome.set($0) }
        while true {
            if let result = outcome.wait(for: .seconds(1)) { return try result.get() }
            if connection.isClosed {
                throw StoreError.unavailable(
                    "PostgreSQL closed the connection before answering; the command's transaction rolled back: retry")
            }
        }
    }

    /// Runs one round trip, timed for the metrics; the server's errors become ``PostgresStatementError``s.
    private func timed<T>(_ roundTrip: () throws -> T) throws -> T {
        let start = ContinuousClock.now
        defer { metrics.roundTrip(ContinuousClock.now - start) }
        do {
            return try roundTrip()
        } catch let error as PSQLError {
            guard let info = error.serverInfo, let state = info[.sqlState] else { throw error }
            throw PostgresStatementError(sqlState: state, message: info[.message] ?? "")
        }
    }

    func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PostgresStatementError)?.sqlState == "23505"
    }

    func recoverable(_ statement: () throws -> Void) throws {
        try execute("SAVEPOINT recoverable", [])
        do {
            try statement()
            try execute("RELEASE SAVEPOINT recoverable", [])
        } catch {
            try execute("ROLLBACK TO SAVEPOINT recoverable", [])
            try execute("RELEASE SAVEPOINT recoverable", [])
            throw error
        }
    }

    /// The search vector is a generated column: always in step.
    func prepareSearch() throws {}

    /// PostgreSQL keeps no deleted values in reach of queries once the
    /// transaction commits; old row versions go at the next vacuum (see Ops/SCALING.md).
    func erasingSecurely(_ body: () throws -> Void) throws {
        try body()
    }

    /// `sql` with its `?` placeholders numbered as PostgreSQL takes them, and its arguments bound.
    private func query(_ sql: String, _ arguments: [any SQLBindable]) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument.sqlValue {
            case .null: bindings.appendNull()
            case .integer(let number): bindings.append(number)
            case .real(let number): bindings.append(number)
            case .text(let text): bindings.append(text)
            case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
            }
        }
        return PostgresQuery(unsafeSQL: PostgresDialect.numberingPlaceholders(sql), binds: bindings)
    }

    private func noteWrites(_ sql: String, _ arguments: [any SQLBindable]) {
        if sql.hasPrefix("INSERT INTO feed_gaps ") {
            created.feedGaps += 1
        } else if sql.contains("INSERT INTO reorders ") {
            created.reorders += 1
        }
        guard case .some(var keys) = changedRecords, !sql.hasPrefix("SELECT"), !sql.hasPrefix("INSERT") else { return }
        for statements in Self.recordStatements {
            if sql.hasPrefix(statements.updateByID), sql.hasSuffix(" WHERE id = ?"),
                case .integer(let id)? = arguments.last?.sqlValue
            {
                keys.insert(RecordCache.Key(type: statements.kind, id: id))
                changedRecords = .some(keys)
                return
            }
            if sql.contains(statements.update) || sql.contains(statements.delete) {
                changedRecords = .all
                return
            }
        }
    }

    /// What a statement changing each record table starts with, made once: ``noteWrites(_:_:)`` runs for every statement.
    private static let recordStatements = RecordKind.allCases.map { kind in
        let table = kind.table.table
        return (
            kind: kind, updateByID: "UPDATE \(table) SET ", update: "UPDATE \(table) ", delete: "DELETE FROM \(table) "
        )
    }
}

/// A query's answer, handed from the connection's event loop to the thread waiting for it.
private final class QueryOutcome: Sendable {
    private let result = Mutex<Result<PostgresQueryResult, any Error>?>(nil)
    private let arrived = DispatchSemaphore(value: 0)

    func set(_ outcome: Result<PostgresQueryResult, any Error>) {
        result.withLock { $0 = outcome }
        arrived.signal()
    }

    /// The answer, if it arrives within `timeout`.
    func wait(for timeout: Duration) -> Result<PostgresQueryResult, any Error>? {
        let milliseconds = Int(timeout.components.seconds * 1000)
        guard arrived.wait(timeout: .now() + .milliseconds(milliseconds)) == .success else { return nil }
        return result.withLock { $0 }
    }
}

/// An error PostgreSQL answered a statement with: its SQLSTATE and message
/// (never its detail, which may quote the values of a row).
public struct PostgresStatementError: Error, Equatable, CustomStringConvertible {
    public let sqlState: String
    public let message: String

    public var description: String { "PostgreSQL error \(sqlState): \(message)" }

    /// What the error means to a command, when its class says (SQLSTATE's first two characters).
    var storeError: StoreError? {
        switch sqlState.prefix(2) {
        case "53":
            .full("PostgreSQL is out of resources (\(message)); the command changed nothing")
        case "08", "57":
            .unavailable("PostgreSQL is unavailable (\(message)); the command changed nothing: retry shortly")
        case "40":
            .unavailable("PostgreSQL rolled the transaction back (\(message)); the command changed nothing: retry")
        default:
            nil
        }
    }
}

/// Which cached records a transaction's commit makes stale.
enum RecordChanges: Sendable, Equatable {
    /// These (none, when empty).
    case some(Set<RecordCache.Key>)
    /// Possibly any.
    case all

    static let none = RecordChanges.some([])
}

/// The current row of a PostgreSQL result, read as the values both engines share.
struct PostgresColumns: SQLColumns {
    let row: PostgresRandomAccessRow

    var count: Int { row.count }

    func text(_ index: Int) -> String? {
        String.decode(value(index))
    }

    func integer(_ index: Int) -> Int64? {
        Int64.decode(value(index))
    }

    func value(_ index: Int) -> SQLValue {
        let cell = row[index]
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid:
            return (try? cell.decode(Int64.self)).map(SQLValue.integer) ?? .null
        case .bool:
            return (try? cell.decode(Bool.self)).map { .integer($0 ? 1 : 0) } ?? .null
        case .float4, .float8:
            return (try? cell.decode(Double.self)).map(SQLValue.real) ?? .null
        case .numeric:
            // Sums of integers: whole numbers, read as text and parsed where an integer is wanted.
            return (try? cell.decode(Decimal.self)).map { .text("\($0)") } ?? .null
        case .bytea:
            return (try? cell.decode(ByteBuffer.self)).map { .blob(Array($0.readableBytesView)) } ?? .null
        default:
            return (try? cell.decode(String.self)).map(SQLValue.text) ?? .null
        }
    }
}
