import CRMCore

/// Access the catalog took away: a revoked key's sessions and a suspended or
/// dropped tenant's sessions close, on every gateway sharing the catalog, not
/// only on the one that ran the command.
public enum AccessWithdrawal: Equatable, Sendable {
    case keyRevoked(id: String)
    case tenantSuspended(TenantName)
    case tenantDropped(TenantName)
}
