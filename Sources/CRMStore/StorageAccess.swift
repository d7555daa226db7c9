/// What a transaction may do, as a type: the storage facets offer their
/// changing methods only to ``TenantWriter``s, so a write inside a read body
/// does not compile (as GRDB's `DatabaseReader` and `DatabaseWriter`).
public protocol StorageAccess: Sendable {}

/// Reads on a snapshot.
public enum ReadAccess: StorageAccess {}

/// Reads and writes in a group commit.
public enum WriteAccess: StorageAccess {}

/// A read snapshot of a tenant's database.
public typealias TenantReader = TenantTransaction<ReadAccess>

/// A write transaction on a tenant's database; it reads as well.
public typealias TenantWriter = TenantTransaction<WriteAccess>
