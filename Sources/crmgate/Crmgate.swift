import ArgumentParser
import CRMCore
import CRMGateway
import CRMProtocol
import CRMStore
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle

/// `crmgate`: the server executable.
@main
struct Crmgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crmgate",
        abstract: "A multi-tenant CRM gateway speaking the Redis protocol over TLS.",
        subcommands: [Serve.self, CheckConfig.self, Restore.self, Migrate.self, Reference.self],
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

/// `crmgate check-config FILE [flags]`: validates and prints the effective configuration.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract:
            "Validate a configuration file (with any flags) and print the effective configuration, secrets masked.")

    @Argument(help: "The TOML configuration file.")
    var file: String

    @OptionGroup var overrides: ServerOptions

    func run() throws {
        let configuration = try overrides.configuration(file: file)
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.description)
        }
        print(ConfigurationFile.describe(configuration), terminator: "")
    }
}

/// `crmgate restore --from BACKUP --data-dir DIR [--tenant NAME]`: brings back a
/// backup written by `BACKUP … TO`, with the server stopped.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a backup (BACKUP ... TO) into a new data directory, or one tenant into a stopped server's.")

    @Option(help: "The backup's directory (BACKUP_DIR/NAME).")
    var from: String

    @Option(help: "The data directory to restore into; without --tenant it must hold no catalog yet.")
    var dataDir: String

    @Option(help: "Restore only this tenant's database (the server must be stopped; or use TENANT.RESTORE).")
    var tenant: String?

    func run() throws {
        let backup = BackupSet(path: from)
        do {
            // A running server holds the directory: restoring under it would be overwritten or lost.
            let lock = try FileManager.default.fileExists(atPath: dataDir) ? DataDirectoryLock.acquire(dataDir) : nil
            defer { lock?.release() }
            if let tenant {
                try backup.restore(try TenantName(tenant), into: dataDir)
                print("restored tenant \(tenant) into \(dataDir)")
            } else {
                let tenants = try backup.restoreAll(into: dataDir)
                print("restored the catalog and \(tenants.count) tenants into \(dataDir)")
            }
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}

/// `crmgate migrate --from DATA_DIR --to postgresql://… [--tenant NAME]`: copies
/// a stopped server's catalog and tenants into PostgreSQL, verifying every table.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Copy a data directory's catalog and tenants (or one, with --tenant) into PostgreSQL, verifying each \
            table's rows and checksum; resumable, and the source is left untouched.
            """)

    @Option(help: "The data directory to copy from (its server must be stopped).")
    var from: String

    @Option(help: "The PostgreSQL to copy into: postgresql://user@host:port/db (password: CRMGATE_POSTGRES_PASSWORD).")
    var to: String

    @Option(help: "Copy only this tenant (and its keys).")
    var tenant: String?

    @Option(help: "A file whose first line is the PostgreSQL password.")
    var passwordFile: String?

    func run() async throws {
        var configuration = GatewayConfiguration()
        do throws(PostgresURLError) {
            configuration.storage = try PostgresURL(to)
        } catch {
            throw ValidationError("--to: \(error.description)")
        }
        configuration.storagePasswordFile = passwordFile
        guard FileManager.default.fileExists(atPath: from + "/catalog.sqlite") else {
            throw ValidationError("\(from) holds no catalog.sqlite: not a crmgate data directory")
        }
        do {
            // A server writing the source meanwhile would make the copy stale: it must be stopped.
            let lock = try DataDirectoryLock.acquire(from)
            defer { lock.release() }
            let url = try configuration.storageWithPassword(environment: ProcessInfo.processInfo.environment)!
            let store = try await PostgresStore(url: url, connections: 2)
            do {
                try await copy(into: store)
            } catch {
                await store.shutdown()
                throw error
            }
            await store.shutdown()
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        } catch let error as StoreError {
            FileHandle.standardError.write(Data("crmgate migrate: \(Self.describe(error))\n".utf8))
            throw ExitCode.failure
        }
    }

    private func copy(into store: PostgresStore) async throws {
        let migration = PostgresMigration(from: from, to: store)
        let listed = try await migration.sourceTenants()
        var tenants = listed
        if let tenant {
            let name = try TenantName(tenant)
            guard listed.contains(name) else { throw StoreError.notFound("\(from) lists no tenant \(tenant)") }
            tenants = [name]
        }
        for copy in try await migration.copyCatalog(tenants: tenants, all: tenant == nil) {
            print(Self.line("catalog", copy))
        }
        var copied = 0
        for name in tenants {
            switch try await migration.copyTenant(name) {
            case .alreadyCopied:
                print("tenant \(name): already copied by an earlier run, from the same rows")
            case .neverUsed:
                print("tenant \(name): never used, nothing to copy (its schema is made at its first use)")
            case .copied(let tables):
                copied += 1
                print("tenant \(name): copied")
                for table in tables { print(Self.line("  ", table)) }
            }
        }
        print(
            "copied \(copied) of \(tenants.count) tenants into \(store.url) (the others: see above); \(from) is unchanged"
        )
    }

    private static func line(_ prefix: String, _ copy: PostgresMigration.TableCopy) -> String {
        let table = copy.table.padding(toLength: 16, withPad: " ", startingAt: 0)
        return
            "\(prefix) \(table) \(String(copy.rows).leftPadded(8)) rows  sha256 \(copy.checksum.prefix(16))  verified"
    }

    private static func describe(_ error: StoreError) -> String {
        switch error {
        case .notFound(let message), .conflict(let message), .full(let message), .unavailable(let message),
            .unsupported(let message):
            message
        }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: " ", count: max(0, width - count)) + self
    }
}

/// `crmgate [serve]`: runs the server until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway (the default).")

    @Option(help: "TOML configuration file (Ops/crmgate.toml documents every key); flags override it.")
    var config: String?

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = try options.configuration(file: config)
        let level = LogOutput.level(configuration.logLevel) ?? .info
        let format = configuration.logFormat
        LoggingSystem.bootstrap { label in LogOutput(label: label, level: level, format: format) }
        let logger = Logger(label: "crmgate")
        SQLiteLibrary.configureForServer()

        let eventLoops = MultiThreadedEventLoopGroup(
            numberOfThreads: configuration.eventLoopThreads ?? GatewayConfiguration.defaultEventLoopThreads)
        do {
            let server = try await GatewayServer(configuration: configuration, logger: logger, group: eventLoops)
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: server), .init(service: server.housekeeping)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        } catch let error as ConfigurationError {
            // A port in use or a directory another server holds: one plain line, no usage text.
            FileHandle.standardError.write(Data("crmgate: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
        try await eventLoops.shutdownGracefully()
    }
}

/// The flags that set the server's configuration; each overrides the configuration file.
struct ServerOptions: ParsableArguments {
    @Option(help: "Directory for the catalog, tenant databases, certificates and keys (default ./crmgate-data).")
    var dataDir: String?

    @Option(help: "Where BACKUP ... TO name writes (default DATA/backups).")
    var backupDir: String?

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(help: "TLS port; 0 picks a free port (default 7379).")
    var port: Int?

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

    @Option(help: "Most simultaneous connections (default 10000).")
    var maxClients: Int?

    @Option(help: "full (default): commits survive power loss; normal: commits survive a process crash.")
    var durability: Durability?

    @Option(help: "Tenant databases open at once (default 10000; lowered to fit the file descriptor limit).")
    var maxOpenTenants: Int?

    @Option(help: "Records each open tenant keeps in memory for GETs (about 1 KiB each; default 100000; 0 off).")
    var recordCacheEntries: Int?

    @Option(
        help: """
            Keep the catalog and tenants in PostgreSQL (postgresql://user@host:port/db) instead of SQLite files; \
            the password from CRMGATE_POSTGRES_PASSWORD or storage_password_file.
            """)
    var storage: String?

    @Option(help: "Event-loop threads serving connections (default: half the CPU cores, at least one).")
    var threads: Int?

    @Option(help: "Largest size of one tenant's database in MiB; writes past it answer -LIMIT (0: the disk).")
    var maxTenantSize: Int?

    @Option(help: "Commands per second all of one tenant's connections may run (0: unlimited); past it -LIMIT.")
    var tenantRate: Int?

    @Option(help: "Commands per second one key may run (0: unlimited); past it -LIMIT.")
    var keyRate: Int?

    @Option(help: "Close connections that run no command for this many seconds (default 300; 0 never).")
    var idleTimeout: Int?

    @Option(help: "Close connections that have not authenticated within this many seconds (default 10; 0 never).")
    var authTimeout: Int?

    @Option(help: "Serve Prometheus metrics over HTTP on this port, at /metrics (loopback; 0 off).")
    var metricsPort: Int?

    @Option(help: "Commands at least this slow (microseconds) go to SLOWLOG (default 10000; -1 none).")
    var slowlogThreshold: Int?

    @Option(help: "Log level: trace, debug, info (default), notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "Log format: logfmt (default) or json.")
    var logFormat: LogOutput.Format?

    /// The configuration file's settings (or the defaults) with these flags on top.
    func configuration(file: String?) throws -> GatewayConfiguration {
        var configuration: GatewayConfiguration
        do {
            configuration = try file.map(ConfigurationFile.load) ?? GatewayConfiguration()
        } catch {
            throw ValidationError(error.description)
        }
        if let dataDir { configuration.dataDirectory = dataDir }
        if let backupDir { configuration.backupDirectory = backupDir }
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let tlsCert { configuration.tlsCertificatePath = tlsCert }
        if let tlsKey { configuration.tlsKeyPath = tlsKey }
        if let tlsClientCa { configuration.tlsClientCAPath = tlsClientCa }
        if let plaintextPort { configuration.plaintextPort = plaintextPort }
        if allowInsecurePlaintext { configuration.allowInsecurePlaintext = true }
        if let maxClients { configuration.maxClients = maxClients }
        if let durability { configuration.durability = durability }
        if let recordCacheEntries { configuration.recordCacheEntries = recordCacheEntries }
        if let maxOpenTenants { configuration.maxOpenTenants = maxOpenTenants }
        if let storage {
            do throws(PostgresURLError) {
                configuration.storage = storage.isEmpty ? nil : try PostgresURL(storage)
            } catch {
                throw ValidationError("--storage: \(error.description)")
            }
        }
        if let threads { configuration.eventLoopThreads = threads > 0 ? threads : nil }
        if let maxTenantSize { configuration.maxTenantBytes = maxTenantSize > 0 ? maxTenantSize << 20 : nil }
        if let tenantRate { configuration.tenantRateLimit = tenantRate > 0 ? tenantRate : nil }
        if let keyRate { configuration.keyRateLimit = keyRate > 0 ? keyRate : nil }
        if let idleTimeout { configuration.idleTimeout = idleTimeout > 0 ? .seconds(idleTimeout) : nil }
        if let authTimeout { configuration.authTimeout = authTimeout > 0 ? .seconds(authTimeout) : nil }
        if let metricsPort { configuration.metricsPort = metricsPort > 0 ? metricsPort : nil }
        if let slowlogThreshold { configuration.slowlogThresholdMicroseconds = slowlogThreshold }
        if let logLevel { configuration.logLevel = logLevel }
        if let logFormat { configuration.logFormat = logFormat }
        return configuration
    }
}

extension Durability: ExpressibleByArgument {}
extension LogOutput.Format: ExpressibleByArgument {}
