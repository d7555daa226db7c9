import CRMCore
import CRMStore

/// One-operation transactions, so tests read like the commands they stand for.
extension TenantDatabase {
    func add(_ changes: FieldChanges, actor: String?) async throws -> Int64 {
        try await write { try $0.contacts.add(changes, actor: actor) }
    }

    func get(id: Int64) async throws -> StoredRecord {
        try await read { try $0.contacts.get(.id(id)) }
    }

    func set(id: Int64, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?) async throws -> Int64 {
        try await write { try $0.contacts.set(id: id, changes, ifVersion: ifVersion, force: force, actor: actor) }
    }

    func upsert(ext: String, _ changes: FieldChanges, ifVersion: Int64?, force: Bool, actor: String?) async throws
        -> Int64
    {
        try await write { try $0.contacts.upsert(ext: ext, changes, ifVersion: ifVersion, force: force, actor: actor) }
    }

    func delete(id: Int64, actor: String?) async throws {
        try await write { try $0.contacts.delete(id: id, actor: actor) }
    }

    func find(_ query: FindQuery) async throws -> RecordPage {
        try await read { try $0.contacts.find(query) }
    }
}
