import CRMProtocol
import CRMStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The ports a running gateway listens on.
public final class BoundPorts: Sendable {
    private let ports = Mutex<(tls: Int, plaintext: Int?)>((0, nil))

    public var tls: Int { ports.withLock { $0.tls } }
    public var plaintext: Int? { ports.withLock { $0.plaintext } }

    func set(tls: Int, plaintext: Int?) {
        ports.withLock { $0 = (tls, plaintext) }
    }
}

/// The crmgate server: TLS (and optionally loopback plaintext) listeners whose
/// connections run `TLS → RESP decoder → session`.
///
/// As a swift-service-lifecycle `Service` it runs until graceful shutdown,
/// then stops accepting, lets every connection finish its in-flight command,
/// and closes the databases.
public final class GatewayServer: Service, Sendable {
    public let services: GatewayServices
    private let tlsContext: NIOSSLContext
    private let group: any EventLoopGroup
    private let listeners = Mutex<[any Channel]>([])

    /// Prepares the data directory (certificate, catalog, bootstrap key) and TLS.
    public init(
        configuration: GatewayConfiguration, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        try configuration.validate()
        let data = try DataDirectory.prepare(configuration, logger: logger)
        let tls = try TLSPolicy.serverConfiguration(
            certificatePath: data.certificatePath, keyPath: data.keyPath, keyPassphrase: configuration.tlsKeyPassphrase,
            clientCAPath: configuration.tlsClientCAPath)
        tlsContext = try NIOSSLContext(configuration: tls)
        self.group = group
        services = GatewayServices(
            configuration: configuration, catalog: data.catalog, tenants: data.tenants, logger: logger,
            startedAtUnixSeconds: Int(Date().timeIntervalSince1970))
    }

    /// The ports bound by ``start()``.
    public var ports: BoundPorts { services.boundPorts }

    /// Binds the listeners; returns once they accept connections.
    public func start() async throws {
        let configuration = services.configuration
        let tlsChannel = try await bind(port: configuration.port, tls: tlsContext)
        var plaintextChannel: (any Channel)?
        if let plaintextPort = configuration.plaintextPort {
            plaintextChannel = try await bind(port: plaintextPort, tls: nil)
        }
        listeners.withLock { $0 = [tlsChannel] + (plaintextChannel.map { [$0] } ?? []) }
        services.boundPorts.set(
            tls: tlsChannel.localAddress?.port ?? 0, plaintext: plaintextChannel?.localAddress?.port)
        var metadata: Logger.Metadata = ["host": "\(configuration.host)", "tls_port": "\(services.boundPorts.tls)"]
        if let port = services.boundPorts.plaintext { metadata["plaintext_port"] = "\(port)" }
        services.logger.notice("crmgate is accepting connections", metadata: metadata)
    }

    /// Stops accepting, finishes in-flight commands, closes connections and databases.
    public func shutdown() async {
        services.logger.notice("shutting down: no new connections; finishing in-flight commands")
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
        services.logger.notice("shutdown complete")
    }

    /// Runs until graceful shutdown (SIGTERM/SIGINT through the `ServiceGroup`),
    /// closing idle tenant databases every half minute meanwhile.
    public func run() async throws {
        try await start()
        try? await cancelWhenGracefulShutdown { [services] in
            while true {
                try await Task.sleep(for: .seconds(30))
                await services.tenants.closeIdle(olderThan: .seconds(300))
            }
        }
        await shutdown()
    }

    private func bind(port: Int, tls: NIOSSLContext?) async throws -> any Channel {
        let services = self.services
        let limits = services.configuration.limits
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        try pipeline.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try pipeline.addHandler(ByteToMessageHandler(RESPCommandDecoder(limits: limits)))
                    try pipeline.addHandler(SessionHandler(services: services))
                }
            }
            .bind(host: services.configuration.host, port: port)
            .get()
    }
}
