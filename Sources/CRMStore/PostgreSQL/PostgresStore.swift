import CRMCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// A PostgreSQL server holding the catalog and every tenant's schema:
/// postgres-nio's pooled client, and the threads store bodies run on while
/// they wait for its answers (a bounded pool: never an event loop).
public final class PostgresStore: Sendable {
    public let url: PostgresURL
    /// Connections at most: the pool's size.
    public let connections: Int
    let client: PostgresClient
    private let running: Task<Void, Never>
    private let threads: NIOThreadPool
    let logger: Logger
    /// The pool's use, errors and round trips, for `INFO storage` and `/metrics`.
    public let metrics: PostgresMetrics
    /// Names this gateway's commits in the notices every gateway sharing the database hears.
    let instanceID: String
    /// Whether the tenants' record caches may serve: only while ``changes`` listens, within its lease.
    let cacheTrust: CacheTrust
    /// Hears the other gateways' commits, and tells them of this one's.
    let changes: PostgresChangeListener
    /// Who is told of the other gateways' commits (the tenants' directory) and catalog changes (the gateway).
    private let changeHandlers = Mutex<[@Sendable (PostgresChangeListener.Report) -> Void]>([])

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
        let listenerConfiguration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: url.requiresTLS ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable)
        let metrics = PostgresMetrics()
        let cacheTrust = CacheTrust()
        let instanceID = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        self.instanceID = instanceID
        self.cacheTrust = cacheTrust
        changes = PostgresChangeListener(origin: instanceID, trust: cacheTrust)
        self.url = url
        self.connections = connections
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
        changes.start(configuration: listenerConfiguration, logger: logger) { [self] report in
            for handler in changeHandlers.withLock({ $0 }) { handler(report) }
            // The caches were emptied (notices may have been missed) before they serve again.
            if case .listening = report { cacheTrust.grant() }
        }
    }

    /// Whether this gateway hears the other gateways' commits now (its record caches serve only then).
    public var hearsOtherGateways: Bool { changes.isListening }
    /// Other gateways' commits heard of since start.
    public var noticesReceived: Int { changes.notices }

    /// Has `handler` told (on the listener's task, in order) of the other
    /// gateways' commits and catalog changes, and of whether they are heard.
    func onChanges(_ handler: @escaping @Sendable (PostgresChangeListener.Report) -> Void) {
        changeHandlers.withLock { $0.append(handler) }
    }

    /// Has `handler` told (on the listener's task) when another gateway takes access away, to close
    /// the sessions concerned here too.
    public func onAccessWithdrawn(_ handler: @escaping @Sendable (AccessWithdrawal) -> Void) {
        onChanges { report in
            if case .withdrawn(let withdrawal) = report { handler(withdrawal) }
        }
    }

    /// Tells the other gateways, in the catalog transaction `db`, that it takes access away.
    func announce(_ withdrawal: AccessWithdrawal, in db: any SQLDatabase) throws {
        try notify(withdrawal.payload(origin: instanceID), in: db)
    }

    /// Announces a commit to the other gateways: in the committing transaction, so only a commit is
    /// announced. Returns the notice's number, for ``confirm(_:)``.
    func announce(
        tenant: TenantName, newestSeq: Int64, records: RecordChanges, in transaction: PostgresTransaction
    ) throws -> Int {
        let notice = PostgresChangeNotice(
            origin: instanceID, number: changes.peers.noticeNumber(), tenant: tenant.value, newestSeq: newestSeq,
            records: records)
        try notify(notice.payload, in: transaction)
        return notice.number
    }

    /// Sends `payload` on the gateways' channel when the transaction `db` commits (and only then).
    private func notify(_ payload: String, in db: any SQLDatabase) throws {
        try db.execute("SELECT pg_notify(?, ?)", [PostgresChangeListener.channel, payload])
    }

    /// Returns once the other gateways acted on the committed notice `number` (or could no longer be serving what it changed).
    func confirm(_ number: Int) async {
        await changes.peers.confirm(number)
    }

    /// How long a command waits for a connection before it is answered that
    /// PostgreSQL is unreachable (the pool keeps reconnecting, with backoff, meanwhile).
    static let connectionWait = Duration.seconds(5)

    /// Runs `body` in a transaction on a pooled connection, on one of the
    /// store's threads. With `schema`, unqualified names are that schema's;
    /// with `lock`, the transaction first takes that advisory lock (one
    /// writer per tenant, across every gateway). A thrown error rolls it back.
    /// No connection within ``connectionWait``, or one lost on the way, is
    /// ``StoreError/unavailable(_:)``: nothing was acknowledged, retry.
    func transaction<T: Sendable>(
        schema: String?, readOnly: Bool = false, lock: Int64? = nil,
        _ body: @escaping @Sendable (PostgresTransaction) throws -> T
    ) async throws -> T {
        metrics.started()
        defer { metrics.finished() }
        // Not a task group: one would wait, past the deadline, for a pool request that ignores cancellation.
        let pending = PendingTransaction<T>()
        do {
            return try await withCheckedThrowingContinuation { continuation in
                pending.start(continuation)
                let work = Task { [self] in
                    do {
                        let result = try await client.withConnection { connection in
                            guard pending.connect() else { throw ConnectionWaitExpired() }
                            return try await run(body, on: connection, schema: schema, readOnly: readOnly, lock: lock)
                        }
                        pending.finish(.success(result))
                    } catch {
                        pending.finish(.failure(error))
                    }
                }
                Task {
                    try? await Task.sleep(for: Self.connectionWait)
                    if pending.expire() { work.cancel() }
                }
            }
        } catch let error as PostgresStatementError {
            metrics.failed()
            throw error
        } catch let error as PSQLError where error.serverInfo == nil {
            // The connection went away (refused, reset, timed out): nothing was acknowledged.
            metrics.failed()
            throw StoreError.unavailable("PostgreSQL is unreachable (\(Self.reason(error))); retry shortly")
        } catch  where !pending.isConnected {
            // No connection came: the wait expired, or the pool gave up reconnecting for now.
            metrics.failed()
            throw StoreError.unavailable(
                "PostgreSQL is unreachable (no connection within \(Self.connectionWait)); the command changed nothing: retry shortly"
            )
        }
    }

    /// `body` in a transaction on `connection`, on one of the store's threads.
    private func run<T: Sendable>(
        _ body: @escaping @Sendable (PostgresTransaction) throws -> T, on connection: PostgresConnection,
        schema: String?, readOnly: Bool, lock: Int64?
    ) async throws -> T {
        try await threads.runIfActive { [logger, metrics] in
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

    /// What BACKUP and TENANT.RESTORE answer on PostgreSQL: its own tools do that job.
    public static let backupAdvice =
        "BACKUP and TENANT.RESTORE copy SQLite files; on PostgreSQL use its tools: pg_dump --schema=crmgate"
        + " --schema='\"tenant_<name>\"' for the catalog and a tenant (pg_restore brings them back), or"
        + " pg_basebackup and streaming replicas for the whole database (Ops/SCALING.md)"

    /// Closes the connections and stops the threads.
    public func shutdown() async {
        await changes.stop()
        running.cancel()
        await running.value
        try? await threads.shutdownGracefully()
    }

    /// What went wrong, readably: PostgreSQL's own message, or the client's
    /// error code (a `PSQLError`'s description hides both).
    static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            return error.serverInfo?[.message] ?? "\(error.code)"
        }
        return "\(error)"
    }
}

/// No pooled connection came within ``PostgresStore/connectionWait``.
private struct ConnectionWaitExpired: Error {}

/// A transaction waiting for its connection, then running: answered once,
/// by its result, or by the connection wait expiring first (after which a
/// connection that comes runs nothing).
private final class PendingTransaction<T: Sendable>: Sendable {
    private enum Phase {
        case waiting
        case connected
        case answered
    }

    private let state = Mutex<(phase: Phase, continuation: CheckedContinuation<T, any Error>?)>((.waiting, nil))

    var isConnected: Bool { state.withLock { $0.phase == .connected } }

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// A connection came: true if it is still wanted.
    func connect() -> Bool {
        state.withLock { state in
            guard state.phase == .waiting else { return false }
            state.phase = .connected
            return true
        }
    }

    /// The connection wait is over: true if no connection came, and the caller was answered so.
    func expire() -> Bool {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard state.phase == .waiting else { return nil }
            state.phase = .answered
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(throwing: ConnectionWaitExpired())
        return continuation != nil
    }

    func finish(_ result: Result<T, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>? in
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: result)
    }
}
