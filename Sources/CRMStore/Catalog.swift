import CRMCore
import Foundation
import GRDB

/// A tenant as the catalog records it.
public struct TenantSummary: Sendable, Equatable {
    public var name: String
    public var suspended: Bool
    public var createdAt: String
    public var keyCount: Int
}

/// An API key's public facts; the secret is never held after creation.
public struct KeyInfo: Sendable, Equatable {
    public var id: String
    /// The key's tenant; nil for operator (`admin`) keys.
    public var tenant: String?
    public var role: Role
    public var label: String?
    public var createdAt: String
    public var revokedAt: String?
}

/// The catalog database: tenants and API keys (DESIGN.md §4).
public final class Catalog: Sendable {
    private let database: DatabasePool

    /// Opens (creating if needed) `catalog.sqlite` in `directory` and migrates it.
    public init(directory: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        database = try DatabasePool(path: directory + "/catalog.sqlite", configuration: configuration)
        // Every catalog commit (a tenant, a key) is synced. Set on the writer after the pool opened:
        // GRDB sets `synchronous = NORMAL` when it turns WAL on, after `prepareDatabase`.
        try database.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        try Self.migrator.migrate(database)
    }

    /// The writer connection's `PRAGMA synchronous` (2 is FULL: each commit synced).
    var writerSynchronousLevel: Int {
        get throws { try database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } ?? 0 }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-tenants-and-keys") { db in
            try db.execute(
                sql: """
                    CREATE TABLE tenants (
                        name TEXT PRIMARY KEY NOT NULL,
                        suspended INTEGER NOT NULL DEFAULT 0,
                        created_at TEXT NOT NULL
                    );
                    CREATE TABLE keys (
                        id TEXT PRIMARY KEY NOT NULL,
                        tenant TEXT REFERENCES tenants(name) ON DELETE CASCADE,
                        role TEXT NOT NULL,
                        label TEXT,
                        secret_digest BLOB NOT NULL,
                        created_at TEXT NOT NULL,
                        revoked_at TEXT
                    );
                    CREATE INDEX keys_tenant ON keys(tenant);
                    """
            )
        }
        return migrator
    }

    /// Whether any operator key exists (false on a fresh data directory).
    public func hasAdminKey() throws -> Bool {
        try database.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM keys WHERE role = 'admin' AND revoked_at IS NULL)")
                ?? false
        }
    }

    /// Lists a new tenant; a name already listed is a conflict. `clearingFiles`
    /// runs inside the catalog's write transaction, after the check and before
    /// the row (``TenantDirectory/discardLeftovers(of:)``); a failure there lists
    /// nothing. (Blocking work there holds only the catalog's writer, which is
    /// not an event loop.)
    public func createTenant(
        _ name: TenantName, clearingFiles: @escaping @Sendable () throws -> Void = {}
    ) async throws {
        try await database.write { db in
            if try Bool.fetchOne(
                db, sql: "SELECT EXISTS(SELECT 1 FROM tenants WHERE name = ?)", arguments: [name.value])
                == true
            {
                throw StoreError.conflict("tenant \(name) already exists")
            }
            try clearingFiles()
            try db.execute(
                sql: "INSERT INTO tenants (name, created_at) VALUES (?, ?)",
                arguments: [name.value, WallClock.now()]
            )
        }
    }

    public func tenants() async throws -> [TenantSummary] {
        try await database.read { db in
            try Row.fetchAll(db, sql: Self.tenantQuery + " GROUP BY t.name ORDER BY t.name").map(Self.tenant)
        }
    }

    public func tenant(_ name: TenantName) async throws -> TenantSummary? {
        try await database.read { db in
            try Row.fetchOne(db, sql: Self.tenantQuery + " WHERE t.name = ? GROUP BY t.name", arguments: [name.value])
                .map(Self.tenant)
        }
    }

    private static let tenantQuery = """
        SELECT t.name, t.suspended, t.created_at, COUNT(k.id) AS key_count
        FROM tenants t LEFT JOIN keys k ON k.tenant = t.name AND k.revoked_at IS NULL
        """

    private static func tenant(_ row: Row) -> TenantSummary {
        TenantSummary(
            name: row["name"], suspended: row["suspended"], createdAt: row["created_at"], keyCount: row["key_count"])
    }

    /// Suspends or resumes a tenant.
    public func setSuspended(_ name: TenantName, _ suspended: Bool) async throws {
        try await database.write { db in
            try db.execute(sql: "UPDATE tenants SET suspended = ? WHERE name = ?", arguments: [suspended, name.value])
            if db.changesCount == 0 { throw StoreError.notFound("no such tenant") }
        }
    }

    /// Removes a tenant and its keys from the catalog.
    public func dropTenant(_ name: TenantName) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM keys WHERE tenant = ?", arguments: [name.value])
            try db.execute(sql: "DELETE FROM tenants WHERE name = ?", arguments: [name.value])
            if db.changesCount == 0 { throw StoreError.notFound("no such tenant") }
        }
    }

    /// Creates a key and returns it with its secret, which is not stored.
    public func createKey(tenant: TenantName?, role: Role, label: String?) async throws -> (KeyInfo, secret: String) {
        precondition((tenant == nil) == (role == .admin), "admin keys have no tenant; other keys have one")
        let secret = KeySecret.makeSecret()
        let key = KeyInfo(
            id: KeySecret.makeID(), tenant: tenant?.value, role: role, label: label, createdAt: WallClock.now(),
            revokedAt: nil)
        try await database.write { db in
            if let tenant,
                try Bool.fetchOne(
                    db, sql: "SELECT EXISTS(SELECT 1 FROM tenants WHERE name = ?)", arguments: [tenant.value])
                    != true
            {
                throw StoreError.notFound("no such tenant")
            }
            try Self.insert(key, secret: secret, db)
        }
        return (key, secret)
    }

    /// Creates the first operator key on a fresh data directory (synchronous; start-up only).
    public func createBootstrapAdminKey() throws -> (KeyInfo, secret: String) {
        let secret = KeySecret.makeSecret()
        let key = KeyInfo(
            id: KeySecret.makeID(), tenant: nil, role: .admin, label: "bootstrap", createdAt: WallClock.now(),
            revokedAt: nil)
        try database.write { db in try Self.insert(key, secret: secret, db) }
        return (key, secret)
    }

    private static func insert(_ key: KeyInfo, secret: String, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO keys (id, tenant, role, label, secret_digest, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [
                key.id, key.tenant, key.role.rawValue, key.label, Data(KeySecret.digest(of: secret)), key.createdAt,
            ]
        )
    }

    /// Keys of one tenant, or all keys when `tenant` is nil.
    public func keys(tenant: TenantName?) async throws -> [KeyInfo] {
        try await database.read { db in
            if let tenant {
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM keys WHERE tenant = ? ORDER BY created_at, id", arguments: [tenant.value]
                )
                .map(Self.key)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM keys ORDER BY created_at, id").map(Self.key)
        }
    }

    public func key(id: String) async throws -> KeyInfo? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM keys WHERE id = ?", arguments: [id]).map(Self.key)
        }
    }

    /// Marks a key revoked; revoking twice is harmless.
    public func revokeKey(id: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                arguments: [WallClock.now(), id]
            )
            if db.changesCount == 0 { throw StoreError.notFound("no such key") }
        }
    }

    /// The key if `secret` is its secret, the key is not revoked and its tenant is active; nil otherwise.
    public func authenticate(keyID: String, secret: String) async throws -> KeyInfo? {
        if case .accepted(let key) = try await check(keyID: keyID, secret: secret) { return key }
        return nil
    }

    /// What checking a key id and secret found.
    public enum KeyCheck: Sendable, Equatable {
        /// The secret matches a live key of a live tenant.
        case accepted(KeyInfo)
        /// The key exists but the secret is wrong, or the key is revoked or its tenant suspended.
        case refused(keyID: String, tenant: String?)
        /// No key has this id.
        case unknownKey
    }

    /// Checks `secret` against key `keyID`, saying whether the key exists, so
    /// failures can be throttled per key rather than per address.
    public func check(keyID: String, secret: String) async throws -> KeyCheck {
        guard keyID.utf8.count <= 64, secret.utf8.count <= 256 else { return .unknownKey }
        return try await database.read { db -> KeyCheck in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT k.*, t.suspended FROM keys k LEFT JOIN tenants t ON t.name = k.tenant
                    WHERE k.id = ?
                    """,
                arguments: [keyID]
            )
            // Compare even when the key is unknown, so timing does not reveal which ids exist.
            let stored: [UInt8] = (row?["secret_digest"] as Data?).map(Array.init) ?? Array(repeating: 0, count: 32)
            let secretMatches = KeySecret.matches(secret, digest: stored)
            guard let row else { return .unknownKey }
            let key = Self.key(row)
            guard secretMatches, key.revokedAt == nil else { return .refused(keyID: key.id, tenant: key.tenant) }
            if key.tenant != nil, (row["suspended"] as Bool?) != false {
                return .refused(keyID: key.id, tenant: key.tenant)
            }
            return .accepted(key)
        }
    }

    private static func key(_ row: Row) -> KeyInfo {
        KeyInfo(
            id: row["id"], tenant: row["tenant"], role: Role(rawValue: row["role"]) ?? .readonly, label: row["label"],
            createdAt: row["created_at"], revokedAt: row["revoked_at"])
    }

    /// Copies the catalog, from one consistent snapshot, to `destination`.
    public func backup(to destination: String) async throws {
        try await database.read { db in
            let copy = try DatabaseQueue(path: destination)
            defer { try? copy.close() }
            try copy.writeWithoutTransaction { target in try db.backup(to: target) }
            try copy.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = DELETE") }
        }
    }

    /// Closes the catalog database.
    public func close() throws {
        try database.close()
    }
}
