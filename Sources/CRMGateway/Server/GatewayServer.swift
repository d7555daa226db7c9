import CRMProtocol
import CRMStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The ports a running gateway listens on.
public final class BoundPorts: Sendable {
    private let ports = Mutex<(tls: Int, plaintext: Int?, metrics: Int?)>((0, nil, nil))

    public var tls: Int { ports.withLock { $0.tls } }
    public var plaintext: Int? { ports.withLock { $0.plaintext } }
    /// The Prometheus `/metrics` HTTP port, if enabled.
    public var metrics: Int? { ports.withLock { $0.metrics } }

    func set(tls: Int, plaintext: Int?, metrics: Int?) {
        ports.withLock { $0 = (tls, plaintext, metrics) }
    }
}

/// The crmgate server: TLS (and optionally loopback plaintext) listeners whose
/// connections run `TLS → session → connection state (deadlines, shutdown)`.
///
/// As a swift-service-lifecycle `Service` it runs until graceful shutdown,
/// then stops accepting, lets every connection finish its in-flight command,
/// and closes the databases.
public final class GatewayServer: Service, Sendable {
    public let services: GatewayServices
    /// The TLS context new connections get; SIGHUP swaps in one read afresh from the files.
    private let tlsContext: Mutex<NIOSSLContext>
    private let certificatePath: String
    private let keyPath: String
    private let group: any EventLoopGroup
    private let listeners = Mutex<[any Channel]>([])

    /// Held from start to ``shutdown()``: one server per data directory.
    private let directoryLock: DataDirectoryLock

    /// Checks that the ports are free, then locks and prepares the data
    /// directory (certificate, catalog, bootstrap key) and TLS. A port in use
    /// or a directory another server holds is refused before anything is
    /// written into the directory.
    public init(
        configuration: GatewayConfiguration, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws {
        try configuration.validate()
        for (port, host, flag) in configuration.listeners {
            try ListenAddress.checkFree(host: host, port: port, flag: flag)
        }
        let metrics = GatewayMetrics(
            table: .standard,
            slowLog: SlowLog(
                thresholdMicroseconds: configuration.slowlogThresholdMicroseconds,
                maxLength: configuration.slowlogMaxLength))
        let data = try await DataDirectory.prepare(configuration, logger: logger, metrics: metrics.store)
        directoryLock = data.lock
        certificatePath = data.certificatePath
        keyPath = data.keyPath
        tlsContext = Mutex(
            try Self.tlsContext(certificatePath: data.certificatePath, keyPath: data.keyPath, configuration))
        self.group = group
        services = GatewayServices(
            configuration: configuration, catalog: data.catalog, tenants: data.tenants, logger: logger,
            startedAtUnixSeconds: Int(Date().timeIntervalSince1970), metrics: metrics,
            descriptorLimit: data.descriptorLimit)
        // Access another gateway on the same PostgreSQL took away ends here too.
        data.tenants.postgres?.onAccessWithdrawn { [clients = services.clients, logger] withdrawal in
            let closed = clients.close(losing: withdrawal)
            logger.notice(
                "closed sessions after another gateway's change",
                metadata: ["change": "\(withdrawal)", "closed_clients": "\(closed)"])
        }
    }

    /// The ports bound by ``start()``.
    public var ports: BoundPorts { services.boundPorts }

    /// Binds the listeners; returns once they accept connections.
    public func start() async throws {
        let configuration = services.configuration
        let tlsChannel = try await bind(port: configuration.port, tls: true)
        var plaintextChannel: (any Channel)?
        if let plaintextPort = configuration.plaintextPort {
            plaintextChannel = try await bind(port: plaintextPort, tls: false)
        }
        var metricsChannel: (any Channel)?
        if let metricsPort = configuration.metricsPort {
            metricsChannel = try await bindMetrics(port: metricsPort)
        }
        listeners.withLock { $0 = [tlsChannel] + [plaintextChannel, metricsChannel].compactMap { $0 } }
        services.boundPorts.set(
            tls: tlsChannel.localAddress?.port ?? 0, plaintext: plaintextChannel?.localAddress?.port,
            metrics: metricsChannel?.localAddress?.port)
        var metadata: Logger.Metadata = ["host": "\(configuration.host)", "tls_port": "\(services.boundPorts.tls)"]
        if let port = services.boundPorts.plaintext { metadata["plaintext_port"] = "\(port)" }
        if let port = services.boundPorts.metrics { metadata["metrics_port"] = "\(port)" }
        services.logger.notice("crmgate is accepting connections", metadata: metadata)
    }

    /// Stops accepting, finishes in-flight commands, closes connections and databases.
    public func shutdown() async {
        services.logger.notice("shutting down: no new connections; finishing in-flight commands")
        SystemdNotifier.notify("STOPPING=1")
        for listener in listeners.withLock({ $0 }) {
            try? await listener.close()
        }
        let closed = services.clients.closeAllGracefully()
        let clients = services.clients
        let gracePeriod = services.configuration.shutdownGracePeriod
        let forceClose = Task {
            try await Task.sleep(for: gracePeriod)
            clients.close { _ in true }
        }
        for future in closed {
            _ = try? await future.get()
        }
        forceClose.cancel()
        await services.tenants.closeAll()
        try? services.catalog.close()
        await services.tenants.postgres?.shutdown()
        directoryLock.release()
        services.logger.notice("shutdown complete")
    }

    /// Runs until graceful shutdown (SIGTERM/SIGINT through the `ServiceGroup`),
    /// reloading the certificate on SIGHUP meanwhile. Run ``housekeeping``
    /// beside it in the same group, after it, so it stops first.
    public func run() async throws {
        // Trapped before the server says it is ready: a reload sent at once must not end it.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        try await start()
        SystemdNotifier.notify("READY=1\nSTATUS=accepting connections on port \(services.boundPorts.tls)")
        await cancelWhenGracefulShutdown {
            for await _ in hangups { self.reloadCertificates() }
        }
        await shutdown()
    }

    /// The service that samples figures and closes idle tenants while the server runs.
    public var housekeeping: TenantHousekeeping { TenantHousekeeping(services: services) }

    /// Reads the certificate and key again and uses them for new connections;
    /// connections already open keep theirs. On failure the old ones stay.
    @discardableResult
    public func reloadCertificates() -> Bool {
        do {
            let context = try Self.tlsContext(
                certificatePath: certificatePath, keyPath: keyPath, services.configuration)
            tlsContext.withLock { $0 = context }
            services.logger.notice("reloaded the TLS certificate", metadata: ["certificate": "\(certificatePath)"])
            return true
        } catch {
            services.logger.error(
                "cannot reload the TLS certificate; keeping the current one",
                metadata: ["certificate": "\(certificatePath)", "error": "\(error)"])
            return false
        }
    }

    /// The server's TLS context under ``TLSPolicy``, read from the certificate and key files.
    private static func tlsContext(
        certificatePath: String, keyPath: String, _ configuration: GatewayConfiguration
    ) throws -> NIOSSLContext {
        try NIOSSLContext(
            configuration: TLSPolicy.serverConfiguration(
                certificatePath: certificatePath, keyPath: keyPath, keyPassphrase: configuration.tlsKeyPassphrase,
                clientCAPath: configuration.tlsClientCAPath))
    }

    private func bind(port: Int, tls: Bool) async throws -> any Channel {
        let services = self.services
        let contexts = tls ? self : nil
        let host = services.configuration.host
        do {
            return try await bootstrap(services: services, contexts: contexts).bind(host: host, port: port).get()
        } catch {
            throw ListenAddress.failure(
                host: host, port: port, flag: tls ? "--port" : "--plaintext-port", error: error)
        }
    }

    private func bootstrap(services: GatewayServices, contexts: GatewayServer?) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let context = contexts?.tlsContext.withLock({ $0 }) {
                        try pipeline.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try pipeline.addHandler(SessionHandler(services: services))
                    try pipeline.addHandler(ConnectionStateHandler(services: services))
                }
            }
    }

    private func bindMetrics(port: Int) async throws -> any Channel {
        let metrics = services.metrics
        let host = services.configuration.metricsHost
        do {
            return try await metricsBootstrap(metrics).bind(host: host, port: port).get()
        } catch {
            throw ListenAddress.failure(host: host, port: port, flag: "--metrics-port", error: error)
        }
    }

    private func metricsBootstrap(_ metrics: GatewayMetrics) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsEndpoint(metrics: metrics))
                }
            }
    }
}
