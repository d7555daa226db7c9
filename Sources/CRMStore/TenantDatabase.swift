import CRMCore
import Foundation
import GRDB

/// How hard a commit works to survive failures (issue: `durability = full | normal`).
public enum Durability: String, Sendable, CaseIterable {
    /// `synchronous=FULL`: a committed write survives power loss.
    case full
    /// `synchronous=NORMAL` in WAL mode: survives a process crash, may lose the last commits on power loss.
    case normal
}

/// One tenant's SQLite database: WAL readers beside one group-committing writer.
///
/// This is the whole storage interface the gateway sees: typed operations,
/// no SQL, so another backend can stand behind the same methods.
public final class TenantDatabase: Sendable {
    public let name: TenantName
    public let path: String
    private let database: DatabasePool
    private let writer: GroupCommitWriter

    /// Opens (creating if needed) the database file and runs pending migrations.
    /// Blocking: call it off the event loops.
    init(name: TenantName, path: String, durability: Durability, statistics: WriteStatistics) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "tenant.\(name)"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
        }
        self.name = name
        self.path = path
        database = try DatabasePool(path: path, configuration: configuration)
        try TenantMigrations.migrator.migrate(database)
        writer = GroupCommitWriter(database: database, label: name.value, statistics: statistics)
    }

    /// Runs a read against a consistent snapshot, off the caller's thread.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await database.read(body)
    }

    /// Runs a write in the next group commit; returns once it is durable.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await writer.write(body)
    }

    /// Contact operations.
    public var contacts: ContactRepository { ContactRepository(database: self) }

    /// Waits for queued writes, then closes every connection.
    func close() throws {
        writer.drain()
        try database.close()
    }
}
