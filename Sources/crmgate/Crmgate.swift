import ArgumentParser
import CRMGateway
import CRMProtocol
import CRMStore
import Logging
import ServiceLifecycle

/// `crmgate`: the server executable.
@main
struct Crmgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crmgate",
        abstract: "A multi-tenant CRM gateway speaking the Redis protocol over TLS.",
        subcommands: [Serve.self, Reference.self],
        defaultSubcommand: Serve.self
    )
}

/// `crmgate reference`: prints the command reference (Protocols/COMMANDS.md) from the compiled-in table.
struct Reference: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the command reference as Markdown.")

    @Option(help: "Directory of recorded sessions (GROUP.md) to embed under each group.")
    var sessions: String?

    func run() throws {
        let transcripts = try sessions.map(CommandReference.sessions(in:)) ?? [:]
        print(CommandReference.markdown(.standard, sessions: transcripts), terminator: "")
    }
}

/// `crmgate [serve]`: runs the server until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway (the default).")

    @Option(help: "Directory for the catalog, tenant databases, certificates and keys.")
    var dataDir = "./crmgate-data"

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "TLS port (0 picks a free port).")
    var port = 7379

    @Option(help: "PEM certificate chain. Without it a development certificate is generated in DATA/tls/.")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(
        help:
            "PEM CA of client certificates: ERP keys then authenticate only with a certificate from it naming their tenant (CN)."
    )
    var tlsClientCa: String?

    @Option(help: "Also listen without TLS on this port (loopback hosts only, unless --allow-insecure-plaintext).")
    var plaintextPort: Int?

    @Flag(help: "Allow --plaintext-port on a non-loopback host.")
    var allowInsecurePlaintext = false

    @Option(help: "Most simultaneous connections.")
    var maxClients = 10_000

    @Option(help: "full: commits survive power loss (synchronous=FULL); normal: commits survive a process crash.")
    var durability: Durability = .full

    @Option(help: "Records each open tenant keeps in memory for GETs (about 1 KiB each); 0 turns the cache off.")
    var recordCacheEntries = 100_000

    @Option(
        help: "Largest size of one tenant's database in MiB; writes past it answer -LIMIT. 0: the disk is the limit.")
    var maxTenantSize = 0

    @Option(help: "Commands per second all of one tenant's connections may run (0: unlimited); past it -LIMIT.")
    var tenantRate = 0

    @Option(help: "Commands per second one key may run (0: unlimited); past it -LIMIT.")
    var keyRate = 0

    @Option(help: "Close connections that run no command for this many seconds (subscribers exempt); 0 never does.")
    var idleTimeout = 300

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("unknown log level \(logLevel)")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "crmgate")

        var configuration = GatewayConfiguration()
        configuration.dataDirectory = dataDir
        configuration.host = host
        configuration.port = port
        configuration.tlsCertificatePath = tlsCert
        configuration.tlsKeyPath = tlsKey
        configuration.tlsClientCAPath = tlsClientCa
        configuration.plaintextPort = plaintextPort
        configuration.allowInsecurePlaintext = allowInsecurePlaintext
        configuration.maxClients = maxClients
        configuration.durability = durability
        configuration.recordCacheEntries = recordCacheEntries
        configuration.maxTenantBytes = maxTenantSize > 0 ? maxTenantSize * 1024 * 1024 : nil
        configuration.tenantRateLimit = tenantRate > 0 ? tenantRate : nil
        configuration.keyRateLimit = keyRate > 0 ? keyRate : nil
        configuration.idleTimeout = idleTimeout > 0 ? .seconds(idleTimeout) : nil

        let server: GatewayServer
        do {
            server = try GatewayServer(configuration: configuration, logger: logger)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

extension Durability: ExpressibleByArgument {}
