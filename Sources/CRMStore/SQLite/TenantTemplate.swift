import Foundation
import GRDB

/// An empty, fully migrated tenant database kept beside the tenants
/// (`tenants/.template-vN.sqlite`, N the schema version), so creating a
/// tenant is a file copy instead of running every migration.
///
/// A copy is written under a temporary name, synced, and renamed into place:
/// a crash leaves either no file or a whole one, never half a database.
/// Leftover temporary files are removed when the directory opens.
struct TenantTemplate: Sendable {
    let path: String
    /// The template's bytes, read once.
    private let bytes: Data
    private let durability: Durability

    static let temporarySuffix = ".creating"

    /// Builds the template for the current schema if it is missing, and clears leftovers of interrupted creates.
    init(directory: String, durability: Durability) throws {
        path = "\(directory)/.template-v\(TenantMigrations.version).sqlite"
        self.durability = durability
        let files = FileManager.default
        for name in try files.contentsOfDirectory(atPath: directory) where name.hasSuffix(Self.temporarySuffix) {
            try files.removeItem(atPath: "\(directory)/\(name)")
        }
        if !files.fileExists(atPath: path) {
            let building = path + Self.temporarySuffix
            let queue = try DatabaseQueue(path: building)
            try TenantMigrations.migrate(queue)
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "VACUUM")
            }
            try queue.close()
            try Self.syncAndRename(building, to: path, directory: directory)
        }
        bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    }

    /// Writes a new tenant database at `destination` from the template,
    /// replacing any file a dropped tenant or an interrupted create left there.
    func instantiate(at destination: String) throws {
        let directory = (destination as NSString).deletingLastPathComponent
        let temporary = destination + Self.temporarySuffix
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.failure("create \(temporary)") }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw Self.failure("write \(temporary)") }
        if durability == .full, fsync(descriptor) != 0 { throw Self.failure("sync \(temporary)") }
        for stale in [destination + "-wal", destination + "-shm"] where FileManager.default.fileExists(atPath: stale) {
            try FileManager.default.removeItem(atPath: stale)
        }
        guard rename(temporary, destination) == 0 else { throw Self.failure("rename \(temporary)") }
        if durability == .full { try Self.syncDirectory(directory) }
    }

    private static func syncAndRename(_ source: String, to destination: String, directory: String) throws {
        let descriptor = open(source, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open \(source)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw failure("sync \(source)") }
        guard rename(source, destination) == 0 else { throw failure("rename \(source)") }
        try syncDirectory(directory)
    }

    /// Makes a rename or a removal durable: the directory's entries are on disk once this returns.
    static func syncDirectory(_ directory: String) throws {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open \(directory)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw failure("sync \(directory)") }
    }

    private static func failure(_ what: String) -> any Error {
        StoreError.unavailable("cannot \(what): \(String(cString: strerror(errno)))")
    }
}
