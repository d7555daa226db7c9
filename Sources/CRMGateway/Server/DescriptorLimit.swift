import Foundation

/// The process's file descriptor limit: raised at start from the soft to the
/// hard `RLIMIT_NOFILE`, and split between connections and open tenants.
enum DescriptorLimit {
    /// Descriptors an open tenant is budgeted: its writer's database, WAL and
    /// shared memory; the database descriptors SQLite keeps of its closed
    /// connections, one read-write (the background checkpointer's) and one
    /// read-only (its readers'); and one to spare. Busy tenants' readers take
    /// more for a while (a tenant idle for ten seconds closes them): the
    /// count each second keeps a quarter of the limit for them
    /// (``TenantDirectory/relieveDescriptorPressure(inUse:limit:threshold:)``).
    static let perOpenTenant = 6
    /// Kept for listeners, the catalog, logs, backups, the metrics port, and
    /// libdispatch: its thread-pool monitor aborts the process when it cannot
    /// open `/proc/self/task/<tid>/stat`, so the process must never run out.
    static let reserved = 512

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
