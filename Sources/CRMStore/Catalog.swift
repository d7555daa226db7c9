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

/// The catalog: tenants and API keys (DESIGN.md §4), in `catalog.sqlite`
/// in the data directory, or in the `crmgate` schema of a PostgreSQL store.
public final class Catalog: Sendable {
    private enum Engine {
        case sqlite(DatabasePool)
        case postgres(PostgresStore)
    }

    private let engine: Engine

    /// Opens (creating if needed) `catalog.sqlite` in `directory` and migrates it.
    public init(directory: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        let database = try DatabasePool(path: directory + "/catalog.sqlite", configuration: configuration)
        // Every catalog commit (a tenant, a key) is synced. Set on the writer after the pool opened:
        // GRDB sets `synchronous = NORMAL` when it turns WAL on, after `prepareDatabase`.
        try database.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        try Self.migrator.migrate(database)
        engine = .sqlite(database)
    }

    /// The catalog in a PostgreSQL store (its schema is created with the store).
    public init(postgres store: PostgresStore) {
        engine = .postgres(store)
    }

    /// The writer connection's `PRAGMA synchronous` (2 is FULL: each commit synced).
    var writerSynchronousLevel: Int {
        get throws {
            guard case .sqlite(let database) = engine else { return 2 }
            return try database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } ?? 0
        }
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

    /// Runs `body` on a snapshot of the catalog.
    private func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T {
        switch engine {
        case .sqlite(let database):
            return try await database.read { try body(SQLiteTransaction(db: $0)) }
        case .postgres(let store):
            return try await store.transaction(schema: PostgresSchema.catalog, readOnly: true) { try body($0) }
        }
    }

    /// Tells the other gateways sharing PostgreSQL, with the transaction `db`, of access taken away
    /// (with SQLite, this server is the only one).
    private func announce(_ withdrawal: AccessWithdrawal, in db: any SQLDatabase) throws {
        if case .postgres(let store) = engine { try store.announce(withdrawal, in: db) }
    }

    /// Runs `body` in a catalog transaction, committed (synced) before it returns.
    private func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) throws -> T) async throws -> T {
        switch engine {
        case .sqlite(let database):
            return try await database.write { try body(SQLiteTransaction(db: $0)) }
        case .postgres(let store):
            return try await store.transaction(schema: PostgresSchema.catalog) { try body($0) }
        }
    }

    /// Whether any operator key exists (false on a fresh data directory).
    public func hasAdminKey() async throws -> Bool {
        try await read { db in
            try db.value(Bool.self, "SELECT EXISTS(SELECT 1 FROM keys WHERE role = 'admin' AND revoked_at IS NULL)")
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
        try await write { db in
            if try db.value(Bool.self, "SELECT EXISTS(SELECT 1 FROM tenants WHERE name = ?)", [name.value]) == true {
                throw StoreError.conflict("tenant \(name) already exists")
            }
            try clearingFiles()
            try db.execute("INSERT INTO tenants (name, created_at) VALUES (?, ?)", [name.value, WallClock.now()])
        }
    }

    public func tenants() async throws -> [TenantSummary] {
        try await read { db in
            try db.rows(Self.tenantQuery + " GROUP BY t.name ORDER BY t.name").map(Self.tenant)
        }
    }

    public func tenant(_ name: TenantName) async throws -> TenantSummary? {
        try await read { db in
            try db.row(Self.tenantQuery + " WHERE t.name = ? GROUP BY t.name", [name.value]).map(Self.tenant)
        }
    }

    private static let tenantQuery = """
        SELECT t.name, t.suspended, t.created_at, COUNT(k.id) AS key_count
        FROM tenants t LEFT JOIN keys k ON k.tenant = t.name AND k.revoked_at IS NULL
        """

    private static func tenant(_ row: SQLRow) -> TenantSummary {
        TenantSummary(name: row[0], suspended: row[1], createdAt: row[2], keyCount: row[3])
    }

    /// Suspends or resumes a tenant.
    public func setSuspended(_ name: TenantName, _ suspended: Bool) async throws {
        try await write { [self] db in
            let changed = try db.execute("UPDATE tenants SET suspended = ? WHERE name = ?", [suspended, name.value])
            if changed == 0 { throw StoreError.notFound("no such tenant") }
            if suspended { try announce(.tenantSuspended(name), in: db) }
        }
    }

    /// Removes a tenant and its keys from the catalog.
    public func dropTenant(_ name: TenantName) async throws {
        try await write { [self] db in
            try db.execute("DELETE FROM keys WHERE tenant = ?", [name.value])
            if try db.execute("DELETE FROM tenants WHERE name = ?", [name.value]) == 0 {
                throw StoreError.notFound("no such tenant")
            }
            try announce(.tenantDropped(name), in: db)
        }
    }

    /// Creates a key and returns it with its secret, which is not stored.
    public func createKey(tenant: TenantName?, role: Role, label: String?) async throws -> (KeyInfo, secret: String) {
        precondition((tenant == nil) == (role == .admin), "admin keys have no tenant; other keys have one")
        let secret = KeySecret.makeSecret()
        let key = KeyInfo(
            id: KeySecret.makeID(), tenant: tenant?.value, role: role, label: label, createdAt: WallClock.now(),
            revokedAt: nil)
        try await write { db in
            if let tenant,
                try db.value(Bool.self, "SELECT EXISTS(SELECT 1 FROM tenants WHERE name = ?)", [tenant.value]) != true
            {
                throw StoreError.notFound("no such tenant")
            }
            try Self.insert(key, secret: secret, db)
        }
        return (key, secret)
    }

    /// Creates the first operator key on a fresh store (start-up only).
    public func createBootstrapAdminKey() async throws -> (KeyInfo, secret: String) {
        let secret = KeySecret.makeSecret()
        let key = KeyInfo(
            id: KeySecret.makeID(), tenant: nil, role: .admin, label: "bootstrap", createdAt: WallClock.now(),
            revokedAt: nil)
        try await write { db in try Self.insert(key, secret: secret, db) }
        return (key, secret)
    }

    private static func insert(_ key: KeyInfo, secret: String, _ db: any SQLDatabase) throws {
        try db.execute(
            "INSERT INTO keys (id, tenant, role, label, secret_digest, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [key.id, key.tenant, key.role.rawValue, key.label, Data(KeySecret.digest(of: secret)), key.createdAt])
    }

    private static let keyColumns = "id, tenant, role, label, created_at, revoked_at"

    /// Keys of one tenant, or all keys when `tenant` is nil.
    public func keys(tenant: TenantName?) async throws -> [KeyInfo] {
        try await read { db in
            if let tenant {
                return try db.rows(
                    "SELECT \(Self.keyColumns) FROM keys WHERE tenant = ? ORDER BY created_at, id", [tenant.value]
                ).map(Self.key)
            }
            return try db.rows("SELECT \(Self.keyColumns) FROM keys ORDER BY created_at, id").map(Self.key)
        }
    }

    public func key(id: String) async throws -> KeyInfo? {
        try await read { db in
            try db.row("SELECT \(Self.keyColumns) FROM keys WHERE id = ?", [id]).map(Self.key)
        }
    }

    /// Marks a key revoked; revoking twice is harmless.
    public func revokeKey(id: String) async throws {
        try await write { [self] db in
            let changed = try db.execute(
                "UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", [WallClock.now(), id])
            if changed == 0 { throw StoreError.notFound("no such key") }
            try announce(.keyRevoked(id: id), in: db)
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
        return try await read { db -> KeyCheck in
            let row = try db.row(
                """
                SELECT k.id, k.tenant, k.role, k.label, k.created_at, k.revoked_at, k.secret_digest, t.suspended
                FROM keys k LEFT JOIN tenants t ON t.name = k.tenant WHERE k.id = ?
                """, [keyID])
            // Compare even when the key is unknown, so timing does not reveal which ids exist.
            let stored: [UInt8] = row.map { Array($0[6] as Data) } ?? Array(repeating: 0, count: 32)
            let secretMatches = KeySecret.matches(secret, digest: stored)
            guard let row else { return .unknownKey }
            let key = Self.key(row)
            guard secretMatches, key.revokedAt == nil else { return .refused(keyID: key.id, tenant: key.tenant) }
            if key.tenant != nil, (row[7] as Bool?) != false {
                return .refused(keyID: key.id, tenant: key.tenant)
            }
            return .accepted(key)
        }
    }

    /// A key from the columns ``keyColumns`` lists, in that order.
    private static func key(_ row: SQLRow) -> KeyInfo {
        KeyInfo(
            id: row[0], tenant: row[1], role: Role(rawValue: row[2]) ?? .readonly, label: row[3], createdAt: row[4],
            revokedAt: row[5])
    }

    /// Copies the catalog, from one consistent snapshot, to `destination`.
    public func backup(to destination: String) async throws {
        guard case .sqlite(let database) = engine else { throw StoreError.unsupported(PostgresStore.backupAdvice) }
        try await database.read { db in
            let copy = try DatabaseQueue(path: destination)
            defer { try? copy.close() }
            try copy.writeWithoutTransaction { target in try db.backup(to: target) }
            try copy.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = DELETE") }
        }
    }

    /// Closes the catalog database (a PostgreSQL store closes with its owner).
    public func close() throws {
        if case .sqlite(let database) = engine { try database.close() }
    }
}
