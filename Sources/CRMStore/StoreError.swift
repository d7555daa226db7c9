import CRMCore

/// Failures the store reports to commands. Field validation failures are
/// ``CRMCore/InvalidField``; anything else from SQLite propagates as is.
public enum StoreError: Error, Equatable, Sendable {
    /// The addressed record, tenant or key does not exist (or belongs to another tenant).
    case notFound(String)
    /// A precondition such as `IFVERSION` or name uniqueness failed.
    case conflict(String)
}
