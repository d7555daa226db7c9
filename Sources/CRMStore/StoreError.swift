import CRMCore
import GRDB

/// Failures the store reports to commands. Field validation failures are
/// ``CRMCore/InvalidField``; anything else from SQLite propagates as is.
public enum StoreError: Error, Equatable, Sendable {
    /// The addressed record, tenant or key does not exist (or belongs to another tenant).
    case notFound(String)
    /// A precondition such as `IFVERSION` or name uniqueness failed.
    case conflict(String)
    /// The tenant's database cannot grow: its size limit is reached or the disk is full.
    case full(String)
    /// The tenant's database cannot be opened or created now (the process is
    /// out of file descriptors, or a file operation failed); nothing changed.
    case unavailable(String)
    /// The command is not available on this storage engine; the message says what to use instead.
    case unsupported(String)

    /// `error` as a store error, when the engine's error code says what went wrong.
    public static func classify(_ error: any Error) -> StoreError? {
        if let error = error as? PostgresStatementError { return error.storeError }
        guard let error = error as? DatabaseError else { return nil }
        switch error.resultCode {
        case .SQLITE_FULL:
            return .full("the tenant's database is full (its size limit or the disk); the command changed nothing")
        case .SQLITE_CANTOPEN:
            return .unavailable(
                "the server cannot open another file now (out of file descriptors?); the command changed nothing: retry"
            )
        default:
            return nil
        }
    }
}
