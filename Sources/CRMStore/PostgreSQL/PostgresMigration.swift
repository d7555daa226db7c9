import CRMCore
import Crypto
import Foundation
import GRDB

/// `crmgate migrate`: copies the catalog and tenants of a SQLite data
/// directory into a PostgreSQL store, table by table, and verifies each
/// table's row count and checksum on both sides before the tenant's copy
/// commits. The source is opened read-only and left as it was.
///
/// Each tenant is copied in one transaction, under its advisory lock, which
/// also records it in `crmgate.migrations` with its checksum: an interrupted
/// run leaves no half tenant, and running again skips what is recorded.
public struct PostgresMigration: Sendable {
    /// What copying one table found.
    public struct TableCopy: Sendable, Equatable {
        public let table: String
        public let rows: Int
        /// SHA-256 of the table's rows in key order, the same read from either side.
        public let checksum: String
    }

    /// What happened to one tenant.
    public enum TenantOutcome: Sendable, Equatable {
        case copied([TableCopy])
        /// Recorded as copied by an earlier run, from a source with the same checksum.
        case alreadyCopied
        /// Listed but never used: it has no file, and its schema is made at its first use.
        case neverUsed
    }

    /// Tables in copy order (what a row refers to first), with the columns that order their rows.
    static let tenantTables: [(table: String, key: [String])] = [
        ("companies", ["id"]), ("contacts", ["id"]), ("deals", ["id"]), ("tickets", ["id"]), ("activities", ["id"]),
        ("events", ["seq"]), ("event_links", ["record_type", "record_id", "seq"]), ("company_stages", ["seq"]),
        ("consent_changes", ["seq"]), ("pipeline_stages", ["pipeline", "position"]), ("service_levels", ["priority"]),
        ("cost_rates", ["item"]), ("inventory", ["company", "sku"]), ("reorders", ["id"]), ("feeds", ["name"]),
        ("feed_gaps", ["feed", "from_seq"]),
    ]

    private let source: String
    private let store: PostgresStore

    /// A migration from the data directory `source` (whose server must be stopped) into `store`.
    public init(from source: String, to store: PostgresStore) {
        self.source = source
        self.store = store
    }

    /// The tenants the source's catalog lists.
    public func sourceTenants() async throws -> [TenantName] {
        try await Self.readOnly(source + "/catalog.sqlite").read { db in
            try String.fetchAll(db, sql: "SELECT name FROM tenants ORDER BY name").map { try TenantName($0) }
        }
    }

    /// Copies the catalog's rows for `tenants` (their keys; with every tenant, the operator keys too)
    /// unless present already, and verifies them; returns the rows it compared.
    public func copyCatalog(tenants: [TenantName], all: Bool) async throws -> [TableCopy] {
        let names = tenants.map(\.value)
        let placeholders = Array(repeating: "?", count: names.count).joined(separator: ", ")
        let tenantFilter = names.isEmpty ? "FALSE" : "name IN (\(placeholders))"
        let keyFilter =
            (names.isEmpty ? "FALSE" : "tenant IN (\(placeholders))") + (all ? " OR tenant IS NULL" : "")
        let queue = try Self.readOnly(source + "/catalog.sqlite")
        let tenantRows = try await queue.read { db in
            try Self.rows(
                SQLiteTransaction(db: db), "tenants", ["name", "suspended", "created_at"], ["name"], tenantFilter, names
            )
        }
        let keyColumns = ["id", "tenant", "role", "label", "secret_digest", "created_at", "revoked_at"]
        let keyRows = try await queue.read { db in
            try Self.rows(SQLiteTransaction(db: db), "keys", keyColumns, ["id"], keyFilter, names)
        }
        return try await store.transaction(schema: PostgresSchema.catalog) { db in
            try Self.insert(db, "tenants", ["name", "suspended", "created_at"], tenantRows, ignoringDuplicates: true)
            try Self.insert(db, "keys", keyColumns, keyRows, ignoringDuplicates: true)
            var copies: [TableCopy] = []
            for (table, columns, key, filter, arguments, expected) in [
                ("tenants", ["name", "suspended", "created_at"], ["name"], tenantFilter, names, tenantRows),
                ("keys", keyColumns, ["id"], keyFilter, names, keyRows),
            ] {
                let copied = try Self.rows(db, table, columns, key, filter, arguments)
                try Self.verify(table, source: expected, copied: copied)
                copies.append(TableCopy(table: table, rows: copied.count, checksum: Self.checksum(copied)))
            }
            return copies
        }
    }

    /// Copies one tenant's tables into its schema and verifies them, unless an earlier run did.
    public func copyTenant(_ name: TenantName) async throws -> TenantOutcome {
        let path = source + "/tenants/\(name.value).sqlite"
        guard FileManager.default.fileExists(atPath: path) else {
            return .neverUsed
        }
        let queue = try Self.readOnly(path)
        let sourceTables = try await queue.read { db in
            let sqlite = SQLiteTransaction(db: db)
            return try Self.tenantTables.map { table, key in
                let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table])
                return (table, columns, key, try Self.rows(sqlite, table, columns, key, nil, []))
            }
        }
        let counters = try await queue.read { db in
            try Row.fetchAll(db, sql: "SELECT name, seq FROM sqlite_sequence").map { ($0[0] as String, $0[1] as Int64) }
        }
        let checksum = Self.checksum(sourceTables.flatMap { $0.3 })
        let schema = PostgresSchema.tenant(name)
        return try await store.transaction(schema: schema, lock: PostgresSchema.lockKey(name)) { db in
            let recorded = try db.value(
                String.self, "SELECT checksum FROM crmgate.migrations WHERE tenant = ?", [name.value])
            if let recorded {
                guard recorded == checksum else {
                    throw StoreError.conflict(
                        "tenant \(name) was copied by an earlier run from a source that has changed since; "
                            + "it may have been written on PostgreSQL already: drop schema \(schema) there to copy it again"
                    )
                }
                return .alreadyCopied
            }
            let exists =
                try db.value(
                    Bool.self, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?)", [schema]) ?? false
            guard !exists else {
                throw StoreError.conflict(
                    "tenant \(name) already has schema \(schema) in PostgreSQL (it was used there): "
                        + "drop it to copy the SQLite tenant over it")
            }
            try PostgresSchema.migrateTenant(db, schema: schema)
            // The defaults a new schema starts with come over from the source like the rest.
            try db.execute("DELETE FROM pipeline_stages")
            try db.execute("DELETE FROM service_levels")
            var copies: [TableCopy] = []
            for (table, columns, key, rows) in sourceTables {
                try Self.insert(db, table, columns, rows, ignoringDuplicates: false)
                let copied = try Self.rows(db, table, columns, key, nil, [])
                try Self.verify(table, source: rows, copied: copied)
                copies.append(TableCopy(table: table, rows: copied.count, checksum: Self.checksum(copied)))
            }
            for (table, last) in counters where PostgresSchema.counted.contains(table) {
                try db.execute("UPDATE id_counters SET last = ? WHERE name = ?", [last, table])
            }
            try db.execute(
                "INSERT INTO crmgate.migrations (tenant, copied_at, checksum) VALUES (?, ?, ?)",
                [name.value, WallClock.now(), checksum])
            return .copied(copies)
        }
    }

    /// A read-only connection to a SQLite file of the source.
    private static func readOnly(_ path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(path: path, configuration: configuration)
    }

    /// The rows of `table`'s `columns` in `key` order, optionally filtered.
    private static func rows(
        _ db: any SQLDatabase, _ table: String, _ columns: [String], _ key: [String], _ filter: String?,
        _ arguments: [any SQLBindable]
    ) throws -> [SQLRow] {
        try db.rows(
            "SELECT \(columns.joined(separator: ", ")) FROM \(table)" + (filter.map { " WHERE \($0)" } ?? "")
                + " ORDER BY \(key.joined(separator: ", "))", arguments)
    }

    /// Inserts `rows` in statements of up to 500 rows.
    private static func insert(
        _ db: any SQLDatabase, _ table: String, _ columns: [String], _ rows: [SQLRow], ignoringDuplicates: Bool
    ) throws {
        let row = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(rows.count, start + 500)]
            try db.execute(
                "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
                    + Array(repeating: row, count: chunk.count).joined(separator: ", ")
                    + (ignoringDuplicates ? " ON CONFLICT DO NOTHING" : ""),
                chunk.flatMap { $0.values.map { $0 as any SQLBindable } })
            start += chunk.count
        }
    }

    private static func verify(_ table: String, source: [SQLRow], copied: [SQLRow]) throws {
        guard source.count == copied.count else {
            throw StoreError.conflict("\(table): \(source.count) rows in SQLite but \(copied.count) in PostgreSQL")
        }
        guard checksum(source) == checksum(copied) else {
            throw StoreError.conflict("\(table): the rows copied into PostgreSQL differ from SQLite's")
        }
    }

    /// SHA-256 over the rows' values, each written with its type, in order.
    static func checksum(_ rows: [SQLRow]) -> String {
        var hash = SHA256()
        for row in rows {
            for value in row.values {
                let text: String
                switch value {
                case .null: text = "n"
                case .integer(let number): text = "i\(number)"
                case .real(let number): text = "r\(number)"
                case .text(let string): text = "t" + string
                case .blob(let bytes): text = "b" + bytes.map { String($0, radix: 16) }.joined(separator: ".")
                }
                hash.update(data: Data((text + "\u{1f}").utf8))
            }
            hash.update(data: Data("\u{1e}".utf8))
        }
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
