import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// A PostgreSQL server holding the catalog and every tenant's schema:
/// postgres-nio's pooled client, and the threads store bodies run on while
/// they wait for its answers (a bounded pool: never an event loop).
public final class PostgresStore: Sendable {
    public let url: PostgresURL
    let client: PostgresClient
    private let threads: NIOThreadPool
    private let running: Task<Void, Never>
    let logger: Logger
    let metrics: PostgresMetrics

    /// Connects to `url` (at most `connections` at a time) and checks that the
    /// server answers; throws ``StoreError/unavailable(_:)`` saying why if it does not.
    public init(url: PostgresURL, connections: Int = 16, logger: Logger = Logger(label: "crmgate.postgres"))
        async throws
    {
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: url.requiresTLS ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.maximumConnections = connections
        configuration.options.connectTimeout = .seconds(5)
        let metrics = PostgresMetrics()
        self.url = url
        self.logger = logger
        self.metrics = metrics
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        threads = NIOThreadPool(numberOfThreads: connections)
        threads.start()
        running = Task { [client] in await client.run() }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [client] in _ = try await client.query("SELECT 1") }
                group.addTask {
                    try await Task.sleep(for: .seconds(10))
                    throw StoreError.unavailable("no answer within 10 s")
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            await shutdown()
            throw StoreError.unavailable("cannot reach PostgreSQL at \(url): \(Self.reason(error))")
        }
        try await transaction(schema: nil) { try PostgresSchema.createCatalog($0) }
    }

    /// Runs `body` in a transaction on a pooled connection, on one of the
    /// store's threads. With `schema`, unqualified names are that schema's;
    /// with `lock`, the transaction first takes that advisory lock (one
    /// writer per tenant, across every gateway). A thrown error rolls it back.
    func transaction<T: Sendable>(
        schema: String?, readOnly: Bool = false, lock: Int64? = nil,
        _ body: @escaping @Sendable (PostgresTransaction) throws -> T
    ) async throws -> T {
        let start = ContinuousClock.now
        metrics.started()
        defer { metrics.finished(after: ContinuousClock.now - start) }
        do {
            return try await client.withConnection { [threads, logger] connection in
                try await threads.runIfActive { [metrics] in
                    let transaction = PostgresTransaction(connection: connection, logger: logger, metrics: metrics)
                    try transaction.run(readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN")
                    // The schema and the tenant's lock in one round trip.
                    var setup: [String] = []
                    if let schema { setup.append("set_config('search_path', \(PostgresSchema.literal(schema)), true)") }
                    if let lock { setup.append("pg_advisory_xact_lock(\(lock))") }
                    if !setup.isEmpty { try transaction.run("SELECT " + setup.joined(separator: ", ")) }
                    do {
                        let result = try body(transaction)
                        try transaction.run("COMMIT")
                        return result
                    } catch {
                        try? transaction.run("ROLLBACK")
                        throw error
                    }
                }
            }
        } catch let error as PSQLError where error.serverInfo == nil {
            // No answer from the server (refused, reset, timed out): the command changed nothing it acknowledged.
            metrics.failed()
            throw StoreError.unavailable("PostgreSQL is unreachable (\(Self.reason(error))); retry shortly")
        } catch let error as PostgresStatementError {
            metrics.failed()
            throw error
        }
    }

    /// What BACKUP and TENANT.RESTORE answer on PostgreSQL: its own tools do that job.
    public static let backupAdvice =
        "BACKUP and TENANT.RESTORE copy SQLite files; on PostgreSQL use its tools: pg_dump --schema=crmgate"
        + " --schema='\"tenant_<name>\"' for the catalog and a tenant (pg_restore brings them back), or"
        + " pg_basebackup and streaming replicas for the whole database (Ops/SCALING.md)"

    /// Closes the connections and stops the threads.
    public func shutdown() async {
        running.cancel()
        await running.value
        try? await threads.shutdownGracefully()
    }

    private static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            return error.serverInfo?[.message] ?? "\(error.code)"
        }
        return "\(error)"
    }
}
