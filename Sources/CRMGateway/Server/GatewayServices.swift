import CRMProtocol
import CRMStore
import Logging

/// The shared state every session's commands work against.
public final class GatewayServices: Sendable {
    public let configuration: GatewayConfiguration
    public let catalog: Catalog
    public let tenants: TenantDirectory
    public let clients = ClientRegistry()
    public let statistics: ServerStatistics
    /// Each tenant's own figures, which are all its keys' `INFO` shows.
    let tenantActivity = TenantActivity()
    /// Each event loop's end-of-turn writer of replies.
    let replyFlushers = PerEventLoop { ReplyFlusher(eventLoop: $0) }
    /// The process's heap and resident memory, for `INFO memory`.
    let memory = MemoryUsage()
    let throttle: AuthThrottle
    let rateLimits: RateLimits
    /// Command counts and times, the slow log, Prometheus metrics.
    public let metrics: GatewayMetrics
    let commandTable: CommandTable
    let dispatcher: CommandDispatcher
    let logger: Logger
    /// The file descriptor limit in force (raised at start to the hard limit by ``DataDirectory``).
    let descriptorLimit: Int
    /// The TLS port actually bound (differs from the configured one when that is 0).
    let boundPorts: BoundPorts

    init(
        configuration: GatewayConfiguration, catalog: Catalog, tenants: TenantDirectory, logger: Logger,
        startedAtUnixSeconds: Int, metrics: GatewayMetrics, descriptorLimit: Int
    ) {
        self.metrics = metrics
        self.descriptorLimit = descriptorLimit
        self.configuration = configuration
        self.catalog = catalog
        self.tenants = tenants
        self.logger = logger
        self.statistics = ServerStatistics(startedAtUnixSeconds: startedAtUnixSeconds)
        self.throttle = AuthThrottle(
            failuresBeforeBlock: configuration.authFailuresBeforeThrottle,
            unknownKeyFailuresBeforeBlock: configuration.unknownKeyFailuresBeforeThrottle)
        self.rateLimits = RateLimits(configuration: configuration)
        self.commandTable = .standard
        self.dispatcher = CommandDispatcher(table: .standard, handlers: CommandDispatcher.allHandlers)
        self.boundPorts = BoundPorts()
    }
}
