import CRMCore
import GRDB

/// Contact commands' storage operations, each one transaction.
public struct ContactRepository: Sendable {
    let database: TenantDatabase
    private static let table = RecordTable(schema: .contact, table: "contacts", searchTable: "contacts_fts")

    /// Creates a contact and returns its id.
    public func add(_ changes: FieldChanges, actor: String?) async throws -> Int64 {
        try await database.write { db in
            try Self.table.insert(db, changes, actor: actor, now: WallClock.now())
        }
    }

    public func get(id: Int64) async throws -> StoredRecord {
        try await database.read { db in
            guard let record = try Self.table.fetch(db, id: id) else { throw StoreError.notFound("no such contact") }
            return record
        }
    }

    /// Changes a contact and returns its new version.
    public func set(id: Int64, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?) async throws
        -> Int64
    {
        try await database.write { db in
            guard let current = try Self.table.fetch(db, id: id) else { throw StoreError.notFound("no such contact") }
            return try Self.update(db, current, changes, ifVersion: ifVersion, force: force, actor: actor)
        }
    }

    /// Creates or updates the contact whose `ext` is `ext`; returns its id.
    public func upsert(ext: String, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?)
        async throws -> Int64
    {
        let ext = try RecordSchema.normalize(ext, for: RecordSchema.contact.field(named: "ext")!)
        if case .some(.some(let other)) = changes["ext"], other != ext {
            throw InvalidField("ext", "differs from the UPSERT key")
        }
        var changes = changes
        changes.set("ext", ext)
        return try await database.write { [changes] db in
            if let current = try Self.table.fetch(db, ext: ext) {
                _ = try Self.update(db, current, changes, ifVersion: ifVersion, force: force, actor: actor)
                return current.id
            }
            if let ifVersion {
                throw StoreError.conflict("no contact has this ext, so it has no version \(ifVersion)")
            }
            return try Self.table.insert(db, changes, actor: actor, now: WallClock.now())
        }
    }

    public func delete(id: Int64, actor: String?) async throws {
        try await database.write { db in
            try Self.table.delete(db, id: id, actor: actor, now: WallClock.now())
        }
    }

    public func find(_ query: FindQuery) async throws -> RecordPage {
        try await database.read { db in try Self.table.find(db, query) }
    }

    private static func update(
        _ db: Database, _ current: StoredRecord, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?
    ) throws -> Int64 {
        if let ifVersion, ifVersion != current.version {
            throw StoreError.conflict("contact \(current.id) is at version \(current.version), not \(ifVersion)")
        }
        if case .some(.some(let next)) = changes["lifecycle"], let nextStage = Lifecycle(rawValue: next) {
            try Lifecycle.checkMove(from: current["lifecycle"].flatMap(Lifecycle.init), to: nextStage, force: force)
        }
        return try table.update(db, current, changes, actor: actor, now: WallClock.now())
    }
}
