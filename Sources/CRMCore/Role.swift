/// The role of an API key, deciding which commands it may run (DESIGN.md §4).
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    /// An operator: manages tenants and keys, sees server state, reads no tenant's CRM data.
    case admin
    /// Everything within its tenant, including the tenant's keys.
    case owner
    /// CRM reads and writes; no erasure, no keys.
    case agent
    /// Feeds, inventory, reorders, and reads.
    case erp
    /// Reads only.
    case readonly

    public static func < (lhs: Role, rhs: Role) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
