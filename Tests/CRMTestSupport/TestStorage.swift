import CRMStore
import Foundation
import Logging
import PostgresNIO

/// The storage engine the storage-touching suites run on: SQLite files by
/// default, or PostgreSQL when `CRMGATE_TEST_POSTGRES` names a server
/// (`postgresql://user@host:port/db`; `Ops/test-postgres` starts one and runs
/// the suites with it). Each test gets a database of its own there.
public enum TestStorage {
    /// The PostgreSQL server to test against, if any.
    public static let postgresURL: PostgresURL? = ProcessInfo.processInfo.environment["CRMGATE_TEST_POSTGRES"]
        .flatMap { try? PostgresURL($0) }

    /// Whether the suites run on PostgreSQL.
    public static var isPostgres: Bool { postgresURL != nil }

    /// The catalog and tenants of a test: in `directory`, or in a fresh PostgreSQL database.
    public static func open(in directory: TemporaryDirectory) async throws -> (Catalog, TenantDirectory) {
        guard let database = try await TestDatabase.create() else {
            return (try Catalog(directory: directory.path), try TenantDirectory(root: directory.path + "/tenants"))
        }
        directory.keep(database)
        return (Catalog(postgres: database.store), TenantDirectory(postgres: database.store))
    }

    /// A fresh PostgreSQL database's URL for a test, or nil on SQLite; the database is dropped with `directory`.
    public static func freshPostgresURL(keptBy directory: TemporaryDirectory) async throws -> PostgresURL? {
        guard let database = try await TestDatabase.create() else { return nil }
        directory.keep(database)
        return database.store.url
    }
}

/// A database created for one test on the test server, with a small store on it.
final class TestDatabase: @unchecked Sendable {
    let store: PostgresStore

    private init(store: PostgresStore) {
        self.store = store
    }

    static func create() async throws -> TestDatabase? {
        guard let server = TestStorage.postgresURL else { return nil }
        let name = "crmgate_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let configuration = PostgresConnection.Configuration(
            host: server.host, port: server.port, username: server.user, password: server.password,
            database: server.database, tls: .disable)
        let connection = try await PostgresConnection.connect(
            configuration: configuration, id: 1, logger: Logger(label: "test-postgres"))
        _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: connection.logger)
        try await connection.close()
        var url = server
        url.database = name
        return TestDatabase(store: try await PostgresStore(url: url, connections: 4))
    }

    deinit {
        Task { [store] in await store.shutdown() }
    }
}
