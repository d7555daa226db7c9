import CRMCore
import GRDB

/// One transaction on a tenant's database, in which one or more commands run.
/// It is the storage interface the gateway sees: typed operations, no SQL.
public struct TenantTransaction {
    let db: Database

    /// Contact operations within this transaction.
    public var contacts: ContactStore { ContactStore(db: db) }

    /// Runs `body` in a savepoint: on error its changes are undone and the
    /// rest of the transaction goes on.
    public func isolated<T>(_ body: (TenantTransaction) throws -> T) -> Result<T, any Error> {
        var result: Result<T, any Error> = .failure(CancellationError())
        do {
            try db.inSavepoint {
                do {
                    result = .success(try body(self))
                    return .commit
                } catch {
                    result = .failure(error)
                    return .rollback
                }
            }
        } catch {
            result = .failure(error)
        }
        return result
    }
}

/// Contact commands' storage operations.
public struct ContactStore {
    let db: Database
    private static let table = RecordTable(schema: .contact, table: "contacts", searchTable: "contacts_fts")

    /// Creates a contact and returns its id.
    public func add(_ changes: FieldChanges, actor: String?) throws -> Int64 {
        try Self.table.insert(db, changes, actor: actor, now: WallClock.now())
    }

    public func get(id: Int64) throws -> StoredRecord {
        guard let record = try Self.table.fetch(db, id: id) else { throw StoreError.notFound("no such contact") }
        return record
    }

    /// Changes a contact and returns its new version.
    public func set(id: Int64, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?) throws -> Int64
    {
        try update(get(id: id), changes, ifVersion: ifVersion, force: force, actor: actor)
    }

    /// Creates or updates the contact whose `ext` is `ext`; returns its id.
    public func upsert(ext rawExt: String, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?)
        throws -> Int64
    {
        let ext = try RecordSchema.normalize(rawExt, for: RecordSchema.contact.field(named: "ext")!)
        if case .some(.some(let other)) = changes["ext"], other != ext {
            throw InvalidField("ext", "differs from the UPSERT key")
        }
        var changes = changes
        changes.set("ext", ext)
        if let current = try Self.table.fetch(db, ext: ext) {
            _ = try update(current, changes, ifVersion: ifVersion, force: force, actor: actor)
            return current.id
        }
        if let ifVersion {
            throw StoreError.conflict("no contact has this ext, so it has no version \(ifVersion)")
        }
        return try Self.table.insert(db, changes, actor: actor, now: WallClock.now())
    }

    public func delete(id: Int64, actor: String?) throws {
        try Self.table.delete(db, id: id, actor: actor, now: WallClock.now())
    }

    public func find(_ query: FindQuery) throws -> RecordPage {
        try Self.table.find(db, query)
    }

    private func update(
        _ current: StoredRecord, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?
    ) throws -> Int64 {
        if let ifVersion, ifVersion != current.version {
            throw StoreError.conflict("contact \(current.id) is at version \(current.version), not \(ifVersion)")
        }
        if case .some(.some(let next)) = changes["lifecycle"], let nextStage = Lifecycle(rawValue: next) {
            try Lifecycle.checkMove(from: current["lifecycle"].flatMap(Lifecycle.init), to: nextStage, force: force)
        }
        return try Self.table.update(db, current, changes, actor: actor, now: WallClock.now())
    }
}
