import CRMStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The storage engine the storage-touching suites run on: SQLite files by
/// default, or PostgreSQL when `CRMGATE_TEST_POSTGRES` names a server
/// (`postgresql://user@host:port/db`; `Ops/test-postgres` starts one and runs
/// the suites with it). Each test gets a database of its own there.
public enum TestStorage {
    /// The PostgreSQL server to test against, if any.
    public static let postgresURL: PostgresURL? = ProcessInfo.processInfo.environment["CRMGATE_TEST_POSTGRES"]
        .map { text in
            do throws(PostgresURLError) {
                return try PostgresURL(text)
            } catch {
                fatalError("CRMGATE_TEST_POSTGRES: \(error.description)")
            }
        }

    /// Whether the suites run on PostgreSQL.
    public static var isPostgres: Bool { postgresURL != nil }

    /// The catalog and tenants of a test: in `directory`, or in its PostgreSQL database.
    public static func open(in directory: TemporaryDirectory) async throws -> (Catalog, TenantDirectory) {
        guard let database = try await database(of: directory) else {
            return (try Catalog(directory: directory.path), try TenantDirectory(root: directory.path + "/tenants"))
        }
        let store = try await database.store()
        return (Catalog(postgres: store), TenantDirectory(postgres: store))
    }

    /// The URL of `directory`'s PostgreSQL database (made at the first call, dropped with the
    /// directory), for a gateway's `storage`; nil on SQLite.
    public static func postgresURL(of directory: TemporaryDirectory) async throws -> PostgresURL? {
        try await database(of: directory)?.url
    }

    /// Every row of every table of `schema` in `directory`'s PostgreSQL
    /// database, each as PostgreSQL's text of the row (e.g. `(1,acme,…)`), by table.
    public static func postgresRows(of directory: TemporaryDirectory, schema: String) async throws -> [String: [String]]
    {
        guard let database = try await database(of: directory) else { return [:] }
        let tables = try await database.texts(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = '\(schema)'")
        var rows: [String: [String]] = [:]
        for table in tables {
            rows[table] = try await database.texts("SELECT t::text FROM \"\(schema)\".\"\(table)\" t")
        }
        return rows
    }

    /// The schemas of `directory`'s PostgreSQL database.
    public static func postgresSchemas(of directory: TemporaryDirectory) async throws -> [String] {
        try await database(of: directory)?.texts("SELECT nspname::text FROM pg_namespace") ?? []
    }

    /// Ends the connections on which gateways on `directory`'s PostgreSQL database hear each other
    /// (as a network fault or an administrator would); returns how many it ended.
    @discardableResult
    public static func terminateListeners(of directory: TemporaryDirectory) async throws -> Int {
        try await database(of: directory)?.texts(
            """
            SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity
            WHERE datname = current_database() AND (query LIKE 'LISTEN%' OR query LIKE '%pg_notify($1, $2) AS beat')
            """
        ).count ?? 0
    }

    private static func database(of directory: TemporaryDirectory) async throws -> TestDatabase? {
        if let database = directory.kept.lazy.compactMap({ $0 as? TestDatabase }).first { return database }
        guard let database = try await TestDatabase.create() else { return nil }
        directory.keep(database)
        return database
    }
}

/// A database created for one test on the test server, and a small store on
/// it for the tests that use the store without a gateway (made at their first
/// use: a store is a gateway to the others on the database, and holds connections).
final class TestDatabase: Sendable {
    let url: PostgresURL
    private let opened = Mutex<Task<PostgresStore, any Error>?>(nil)

    private init(url: PostgresURL) {
        self.url = url
    }

    static func create() async throws -> TestDatabase? {
        guard TestStorage.postgresURL != nil else { return nil }
        let name = "crmgate_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await onServer("CREATE DATABASE \(name)")
        var url = TestStorage.postgresURL!
        url.database = name
        return TestDatabase(url: url)
    }

    /// The database's store, opened at the first call.
    func store() async throws -> PostgresStore {
        try await opened.withLock { opened in
            if let opened { return opened }
            let opening = Task { [url] in try await PostgresStore(url: url, connections: 4) }
            opened = opening
            return opening
        }.value
    }

    /// The first column of each row `sql` returns, as text, on this database.
    func texts(_ sql: String) async throws -> [String] {
        let connection = try await Self.connect(url)
        defer { Task { try? await connection.close() } }
        var texts: [String] = []
        for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: connection.logger) {
            texts.append(try row.decode(String.self))
        }
        return texts
    }

    private static func connect(_ url: PostgresURL) async throws -> PostgresConnection {
        let configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: .disable)
        return try await PostgresConnection.connect(
            configuration: configuration, id: 1, logger: Logger(label: "test-postgres"))
    }

    /// Runs `sql` on the test server's own database.
    private static func onServer(_ sql: String) async throws {
        guard let server = TestStorage.postgresURL else { return }
        let connection = try await connect(server)
        defer { Task { try? await connection.close() } }
        do {
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: connection.logger)
        } catch {
            throw TestStorageError(description: String(reflecting: error))
        }
    }

    /// Drops the database once the test is done with it (best effort: the cluster is the test run's own).
    deinit {
        let opened = opened.withLock { $0 }
        Task { [url] in
            if let store = try? await opened?.value { await store.shutdown() }
            try? await Self.onServer("DROP DATABASE IF EXISTS \(url.database) WITH (FORCE)")
        }
    }
}

struct TestStorageError: Error, CustomStringConvertible {
    let description: String
}
