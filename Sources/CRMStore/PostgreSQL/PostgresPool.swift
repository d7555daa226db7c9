import Logging
import PostgresNIO
import Synchronization

/// postgres-nio's `PostgresClient`, supervised: should it make no connection
/// for two connection waits in a row while PostgreSQL answers other
/// connections (the change listener's), it is replaced by a fresh one. Under
/// load, after PostgreSQL restarted, a client was seen to stay without
/// connections for good, every request waiting out its deadline.
final class PostgresPool: Sendable {
    private struct Current {
        var client: PostgresClient
        var running: Task<Void, Never>
        /// Connection waits that expired in a row.
        var stalls = 0
        let since = ContinuousClock.now
    }

    private let configuration: PostgresClient.Configuration
    private let logger: Logger
    private let current: Mutex<Current>

    init(configuration: PostgresClient.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        current = Mutex(Current(client: client, running: Task { await client.run() }))
    }

    /// The client to use now.
    var client: PostgresClient { current.withLock { $0.client } }

    /// A connection came: the client works.
    func connected() {
        current.withLock { $0.stalls = 0 }
    }

    /// A connection wait of `wait` expired. If it is the second in a row, the client is older than
    /// `wait` and `serverAnswers`, replaces the client (its requests still waiting are cancelled with it).
    func stalled(wait: Duration, serverAnswers: Bool) {
        let replaced = current.withLock { current -> Task<Void, Never>? in
            current.stalls += 1
            guard current.stalls >= 2, ContinuousClock.now - current.since > wait, serverAnswers else { return nil }
            let old = current.running
            let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
            current = Current(client: client, running: Task { await client.run() })
            return old
        }
        guard let replaced else { return }
        logger.warning("replaced the PostgreSQL pool: it made no connection while the server answered")
        replaced.cancel()
    }

    /// Closes the connections.
    func shutdown() async {
        let running = current.withLock { $0.running }
        running.cancel()
        await running.value
    }
}
