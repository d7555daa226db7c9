import CRMProtocol
import CRMStore
import Foundation
import NIOCore

/// Everything that shapes a running gateway; the `crmgate` executable fills it from flags.
public struct GatewayConfiguration: Sendable {
    public var dataDirectory = "./crmgate-data"
    public var host = "127.0.0.1"
    /// TLS port; 0 picks a free port (tests).
    public var port = 7379
    /// Plaintext port, off unless set. Loopback only unless ``allowInsecurePlaintext``.
    public var plaintextPort: Int?
    public var allowInsecurePlaintext = false
    /// PEM certificate chain and key; nil means the development certificate in `DATA/tls/`.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// Passphrase of an encrypted `tlsKeyPath`.
    public var tlsKeyPassphrase: String?
    /// PEM CA for client certificates: when set, ERP keys authenticate only on
    /// connections presenting a certificate from it whose common name is their tenant.
    public var tlsClientCAPath: String?
    public var limits = ProtocolLimits.default
    public var maxClients = 10_000
    public var durability = Durability.full
    /// Tenant databases open at once; an idle open tenant costs about 100 KiB and
    /// 3 file descriptors. Lowered at start if the descriptor limit cannot hold it.
    public var maxOpenTenants = 10_000
    /// Records each open tenant keeps in memory for `GET`s (about 1 KiB each, with its encoded reply); 0 turns the cache off.
    public var recordCacheEntries = 100_000
    /// The PostgreSQL holding the catalog and every tenant (`--storage
    /// postgresql://user@host:port/db`); nil: SQLite files in the data directory.
    /// Its password comes from the URL, `CRMGATE_POSTGRES_PASSWORD` or
    /// ``storagePasswordFile``, and is never logged.
    public var storage: PostgresURL?
    /// A file holding the PostgreSQL password (its first line).
    public var storagePasswordFile: String?
    /// Connections to PostgreSQL at most (the pool's size, and the threads waiting on them).
    public var postgresConnections = 16
    /// Event-loop threads serving connections; nil: ``defaultEventLoopThreads``.
    public var eventLoopThreads: Int?

    /// Half the CPU cores, at least one: the other half is left to the tenants'
    /// SQLite writers and readers (and anything else on the machine). On the
    /// 2-core bench machine, where `redis-benchmark` shares the cores, one
    /// event loop answered cached reads as fast as two (within that machine's
    /// noise) with half the p99 at `-P 1`, and writes about as fast (`Ops/bench`).
    public static var defaultEventLoopThreads: Int { max(1, System.coreCount / 2) }
    /// Largest size a tenant's database may grow to; writes past it answer `-LIMIT`. nil: the disk is the limit.
    public var maxTenantBytes: Int?
    /// Commands per second one tenant's sessions may run together (burst: one
    /// second's worth); past it commands answer `-LIMIT … retry in N ms`. nil: unlimited.
    public var tenantRateLimit: Int?
    /// The same, per key.
    public var keyRateLimit: Int?
    /// Consecutive failed AUTHs with one key before that key is made to wait.
    public var authFailuresBeforeThrottle = 5
    /// Consecutive failed AUTHs with key ids that do not exist, from one
    /// address, before that address's unknown-key attempts are made to wait.
    /// Much higher than the per-key ceiling: many tenants' ERPs may share an address.
    public var unknownKeyFailuresBeforeThrottle = 100
    /// How long a connection may stay open without authenticating; nil: no deadline.
    public var authTimeout: Duration? = .seconds(10)
    /// How long a graceful shutdown waits for in-flight commands.
    public var shutdownGracePeriod = Duration.seconds(10)
    /// Bytes a connection may have written but not yet delivered before a
    /// pub/sub push disconnects it (Redis's `client-output-buffer-limit pubsub`
    /// hard limit, whose soft limit is also 8 MiB).
    public var clientOutputLimit = 8 * 1024 * 1024
    /// Connections that run no command for this long are closed (Redis's
    /// `timeout`); subscribers and blocked reads are exempt. nil never closes them.
    public var idleTimeout: Duration? = .seconds(300)

    /// Where `BACKUP … TO name` writes; nil means `DATA/backups`.
    public var backupDirectory: String?

    /// The backup directory in effect.
    public var backupDirectoryPath: String { backupDirectory ?? dataDirectory + "/backups" }

    /// Commands at least this slow (microseconds, read to reply) go to the slow log; negative: none.
    public var slowlogThresholdMicroseconds = 10_000
    /// Entries the slow log keeps.
    public var slowlogMaxLength = 128
    /// HTTP port serving Prometheus metrics at `/metrics`; nil: off.
    public var metricsPort: Int?
    /// Address of the metrics listener; loopback unless the operator exposes it.
    public var metricsHost = "127.0.0.1"

    /// `trace` … `critical`.
    public var logLevel = "info"
    public var logFormat = LogOutput.Format.logfmt

    public init() {}

    /// Rejects settings that would be unsafe or cannot work.
    public func validate() throws(ConfigurationError) {
        if let plaintextPort {
            guard (0...65535).contains(plaintextPort) else { throw ConfigurationError("--plaintext-port out of range") }
            guard Self.isLoopback(host) || allowInsecurePlaintext else {
                throw ConfigurationError(
                    "refusing plaintext on non-loopback host \(host); add --allow-insecure-plaintext to force it")
            }
        }
        guard (0...65535).contains(port) else { throw ConfigurationError("--port out of range") }
        if let eventLoopThreads, !(1...1024).contains(eventLoopThreads) {
            throw ConfigurationError("--threads must be between 1 and 1024")
        }
        guard (tlsCertificatePath == nil) == (tlsKeyPath == nil) else {
            throw ConfigurationError("--tls-cert and --tls-key go together")
        }
        guard clientOutputLimit >= 64 * 1024 else {
            throw ConfigurationError("the client output limit must be at least 64 KiB")
        }
        guard LogOutput.level(logLevel) != nil else { throw ConfigurationError("unknown log level \(logLevel)") }
        if let metricsPort, !(0...65535).contains(metricsPort) {
            throw ConfigurationError("--metrics-port out of range")
        }
        guard slowlogMaxLength >= 0 else { throw ConfigurationError("the slow log length must not be negative") }
        guard maxClients > 0 else { throw ConfigurationError("max clients must be positive") }
        if let authTimeout, authTimeout < .milliseconds(100) {
            throw ConfigurationError("the AUTH timeout must be at least 100 ms (or off)")
        }
        if let idleTimeout, idleTimeout < .milliseconds(100) {
            throw ConfigurationError("the idle timeout must be at least 100 ms (or off)")
        }
        if let maxTenantBytes, maxTenantBytes < 1024 * 1024 {
            throw ConfigurationError("--max-tenant-size must be at least 1 MiB")
        }
        for (name, limit) in [("--tenant-rate", tenantRateLimit), ("--key-rate", keyRateLimit)] {
            if let limit, limit <= 0 { throw ConfigurationError("\(name) must be positive") }
        }
        guard recordCacheEntries >= 0 else { throw ConfigurationError("--record-cache-entries must not be negative") }
        guard (1...1000).contains(postgresConnections) else {
            throw ConfigurationError("postgres_connections must be between 1 and 1000")
        }
        guard (1...1_000_000).contains(maxOpenTenants) else {
            throw ConfigurationError("--max-open-tenants must be between 1 and 1,000,000")
        }
    }

    /// ``storage`` with its password filled in from the environment or
    /// ``storagePasswordFile`` when the URL has none.
    public func storageWithPassword(environment: [String: String]) throws(ConfigurationError) -> PostgresURL? {
        guard var url = storage else { return nil }
        if url.password == nil, let password = environment["CRMGATE_POSTGRES_PASSWORD"], !password.isEmpty {
            url.password = password
        } else if url.password == nil, let storagePasswordFile {
            guard let text = try? String(contentsOfFile: storagePasswordFile, encoding: .utf8) else {
                throw ConfigurationError("cannot read storage_password_file \(storagePasswordFile)")
            }
            url.password = text.split(whereSeparator: \.isNewline).first.map(String.init)
        }
        return url
    }

    /// Every port the server will listen on, with its host and the flag that sets it.
    var listeners: [(port: Int, host: String, flag: String)] {
        [(port, host, "--port")] + [plaintextPort.map { ($0, host, "--plaintext-port") }].compactMap { $0 }
            + [metricsPort.map { ($0, metricsHost, "--metrics-port") }].compactMap { $0 }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// A configuration that cannot be used, with the reason.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
