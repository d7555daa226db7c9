import CRMStore
import Foundation
import Logging

/// The data directory's fixed layout, prepared on start: `crmgate.lock`,
/// `tls/` (development certificate), `catalog.sqlite` and `tenants/` (unless
/// the catalog and tenants are in PostgreSQL), and `admin.key` on first start.
struct DataDirectory {
    /// This server's hold on the directory: nothing else is touched before it is taken.
    let lock: DataDirectoryLock
    /// The file descriptor limit in force, raised to the hard limit while preparing.
    let descriptorLimit: Int
    let catalog: Catalog
    let tenants: TenantDirectory
    let certificatePath: String
    let keyPath: String

    static func prepare(_ configuration: GatewayConfiguration, logger: Logger, metrics: StoreMetrics) async throws
        -> DataDirectory
    {
        let root = configuration.dataDirectory
        let files = FileManager.default
        try files.createDirectory(
            atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // Key hashes and customer data live here: nobody but the server's user may look in.
        if let mode = try files.attributesOfItem(atPath: root)[.posixPermissions] as? Int, mode & 0o077 != 0 {
            try files.setAttributes([.posixPermissions: 0o700], ofItemAtPath: root)
            logger.notice(
                "made the data directory private (mode 0700)",
                metadata: ["path": "\(root)", "was": "\(String(mode, radix: 8))"])
        }
        let lock = try DataDirectoryLock.acquire(root)

        let certificatePath: String
        let keyPath: String
        if let configuredCertificate = configuration.tlsCertificatePath, let configuredKey = configuration.tlsKeyPath {
            certificatePath = configuredCertificate
            keyPath = configuredKey
        } else {
            let paths = DevelopmentCertificate.paths(in: root)
            if try DevelopmentCertificate.ensure(in: root) {
                logger.notice(
                    "generated a development CA and server certificate (SAN localhost, 127.0.0.1, ::1)",
                    metadata: ["ca": "\(paths.ca)", "certificate": "\(paths.certificate)", "key": "\(paths.key)"])
            }
            certificatePath = paths.certificate
            keyPath = paths.key
        }

        let postgres = try await Self.connect(configuration, logger: logger)
        let catalog = try postgres.map(Catalog.init(postgres:)) ?? Catalog(directory: root)
        if try await !catalog.hasAdminKey() {
            let (key, secret) = try await catalog.createBootstrapAdminKey()
            let keyFile = root + "/admin.key"
            try PrivateFile.write("\(key.id) \(secret)\n", to: keyFile, mode: 0o600)
            logger.notice(
                "created the bootstrap admin key; its secret is only in the key file",
                metadata: ["key_id": "\(key.id)", "key_file": "\(keyFile)"])
        }
        let descriptors = DescriptorLimit.raise()
        // A tenant open on PostgreSQL holds no file: only SQLite tenants are budgeted descriptors.
        let maxOpen =
            postgres != nil
            ? configuration.maxOpenTenants
            : DescriptorLimit.openTenants(
                configured: configuration.maxOpenTenants, limit: descriptors, maxClients: configuration.maxClients)
        var limits: Logger.Metadata = ["limit": "\(descriptors)", "max_open_tenants": "\(maxOpen)"]
        if maxOpen < configuration.maxOpenTenants {
            limits["configured_max_open_tenants"] = "\(configuration.maxOpenTenants)"
            logger.warning(
                "too few file descriptors for max_open_tenants; raise the hard RLIMIT_NOFILE", metadata: limits)
        } else {
            logger.notice("file descriptors", metadata: limits)
        }
        let tenants =
            try postgres.map {
                TenantDirectory(
                    postgres: $0, maxOpen: configuration.maxOpenTenants,
                    recordCacheCapacity: configuration.recordCacheEntries, metrics: metrics)
            }
            ?? TenantDirectory(
                root: root + "/tenants", durability: configuration.durability, maxOpen: maxOpen,
                recordCacheCapacity: configuration.recordCacheEntries, maxDatabaseBytes: configuration.maxTenantBytes,
                metrics: metrics)
        return DataDirectory(
            lock: lock, descriptorLimit: descriptors, catalog: catalog, tenants: tenants,
            certificatePath: certificatePath, keyPath: keyPath)
    }

    /// The PostgreSQL store `--storage` names, reached and its catalog schema
    /// created; nil for SQLite. A server that cannot reach it does not start.
    private static func connect(_ configuration: GatewayConfiguration, logger: Logger) async throws -> PostgresStore? {
        guard let url = try configuration.storageWithPassword(environment: ProcessInfo.processInfo.environment) else {
            return nil
        }
        do {
            let store = try await PostgresStore(
                url: url, connections: configuration.postgresConnections, logger: Logger(label: "crmgate.postgres"))
            if configuration.maxTenantBytes != nil {
                logger.warning("max_tenant_size is not enforced on PostgreSQL: set quotas or monitor there")
            }
            logger.notice(
                "storage: PostgreSQL",
                metadata: ["url": "\(url)", "connections": "\(configuration.postgresConnections)"])
            return store
        } catch let error as StoreError {
            guard case .unavailable(let reason) = error else { throw error }
            throw ConfigurationError(reason)
        }
    }
}
