import CRMCore
import CRMStore
import Foundation

/// A backup on disk: `BACKUP_DIR/NAME/catalog.sqlite` and
/// `BACKUP_DIR/NAME/tenants/TENANT.sqlite`, each a consistent single-file
/// SQLite copy. Names are plain words, so a backup never lands outside the
/// backup directory.
public struct BackupSet: Sendable {
    public let path: String

    /// The backup `name` under `directory`; the name is letters, digits, `-`, `_` and `.`, up to 64.
    public init(name: String, in directory: String) throws(ConfigurationError) {
        let allowed = name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
        guard allowed, (1...64).contains(name.utf8.count), !name.hasPrefix(".") else {
            throw ConfigurationError(
                "a backup name is 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'")
        }
        self.init(path: directory + "/" + name)
    }

    /// The backup at `path` (`crmgate restore --from`).
    public init(path: String) {
        self.path = path
    }

    public var catalogPath: String { path + "/catalog.sqlite" }

    public func tenantPath(_ name: TenantName) -> String { path + "/tenants/\(name.value).sqlite" }

    /// The tenants the backup holds.
    public func tenants() throws -> [TenantName] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path + "/tenants")) ?? []
        return try files.filter { $0.hasSuffix(".sqlite") }.sorted().map { try TenantName(String($0.dropLast(7))) }
    }

    /// Writes the catalog and `tenants` (a consistent copy of each) into a new backup directory.
    func write(catalog: Catalog, tenants: [TenantName], from directory: TenantDirectory) async throws {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw CommandError(.conflict, "a backup named \((path as NSString).lastPathComponent) exists already")
        }
        try FileManager.default.createDirectory(
            atPath: path + "/tenants", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            try await catalog.backup(to: catalogPath)
            for tenant in tenants {
                try await directory.backup(tenant, to: tenantPath(tenant))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// Restores a whole backup into `dataDirectory`, which must hold no catalog yet (`crmgate restore`).
    /// Returns the tenants restored.
    public func restoreAll(into dataDirectory: String) throws -> [TenantName] {
        let files = FileManager.default
        guard !files.fileExists(atPath: dataDirectory + "/catalog.sqlite") else {
            throw ConfigurationError(
                "\(dataDirectory) already has a catalog: restore into a new data directory, or one tenant with --tenant"
            )
        }
        try files.createDirectory(
            atPath: dataDirectory + "/tenants", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        try DatabaseCopy.copy(from: catalogPath, to: dataDirectory + "/catalog.sqlite")
        let tenants = try tenants()
        for tenant in tenants {
            try DatabaseCopy.copy(from: tenantPath(tenant), to: dataDirectory + "/tenants/\(tenant.value).sqlite")
        }
        return tenants
    }

    /// Restores one tenant's database into a stopped server's `dataDirectory`.
    public func restore(_ tenant: TenantName, into dataDirectory: String) throws {
        let destination = dataDirectory + "/tenants/\(tenant.value).sqlite"
        for file in [destination, destination + "-wal", destination + "-shm"]
        where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.removeItem(atPath: file)
        }
        try DatabaseCopy.copy(from: tenantPath(tenant), to: destination)
    }
}
