import Foundation

/// The process's file descriptor limit: raised at start from the soft to the
/// hard `RLIMIT_NOFILE`, and split between connections and open tenants.
enum DescriptorLimit {
    /// Descriptors an idle open tenant holds (its database, WAL and shared
    /// memory on the writer connection); a busy one also opens readers.
    static let perOpenTenant = 4
    /// Kept for listeners, the catalog, logs, backups and the metrics port.
    static let reserved = 256

    /// Raises the soft limit to the hard one; returns the limit in force.
    static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// How many tenants may be open at once within `limit` descriptors, once
    /// `maxClients` connections have theirs: at most `configured`.
    static func openTenants(configured: Int, limit: Int, maxClients: Int) -> Int {
        max(1, min(configured, (limit - maxClients - reserved) / perOpenTenant))
    }

    /// Descriptors the process has open now; `Int.max` if it cannot even open
    /// `/proc/self/fd` to count them, which means it is out of them.
    static var inUse: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? Int.max
    }
}
