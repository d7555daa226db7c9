import Foundation
import GRDB

/// Consistent copies of SQLite databases, taken while the server writes to
/// them: SQLite's online backup API copies every page from one read snapshot.
public enum DatabaseCopy {
    /// Copies the database at `source` (its WAL included) into a new single
    /// file at `destination` (rollback journal, no `-wal` beside it).
    /// Blocking: call it off the event loops.
    public static func copy(from source: String, to destination: String) throws {
        guard FileManager.default.fileExists(atPath: source) else {
            throw StoreError.notFound("no database at \(source)")
        }
        let reader = try DatabaseQueue(path: source)
        defer { try? reader.close() }
        let writer = try DatabaseQueue(path: destination)
        defer { try? writer.close() }
        try reader.backup(to: writer)
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
        }
    }

    /// `PRAGMA integrity_check` of the database at `path`: "ok", or SQLite's findings.
    public static func integrityCheck(_ path: String) throws -> String {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { try String.fetchAll($0, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }
}
