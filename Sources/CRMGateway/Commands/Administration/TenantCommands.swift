import CRMCore
import CRMProtocol
import CRMStore

/// TENANT.*: operators create, inspect, suspend, resume and drop tenants.
enum TenantCommands {
    static let handlers: [String: CommandHandler] = [
        "TENANT.CREATE": create, "TENANT.LIST": list, "TENANT.INFO": info, "TENANT.SUSPEND": suspend,
        "TENANT.RESUME": resume, "TENANT.DROP": drop,
    ]

    static func create(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let name = try TenantName(invocation.text(1))
        let services = invocation.services
        let logger = invocation.logger
        // In one catalog transaction: the name is checked, files a dropped tenant of that name left
        // are removed, then the row. The database is made from the template at the tenant's first
        // use, so a crash at any point leaves either no tenant or a whole, empty one.
        let tenants = services.tenants
        return invocation.async {
            try await services.catalog.createTenant(name) { try tenants.discardLeftovers(of: name) }
            logger.info("tenant created", metadata: ["tenant": "\(name)"])
            return .ok
        }
    }

    static func list(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let services = invocation.services
        return invocation.async {
            .array(
                try await services.catalog.tenants().map { tenant in
                    .map(summaryFields(tenant))
                })
        }
    }

    static func info(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let name = try TenantName(invocation.text(1))
        let services = invocation.services
        return invocation.async {
            guard let tenant = try await services.catalog.tenant(name) else {
                throw StoreError.notFound("no such tenant")
            }
            let clients = services.clients.all().filter { client in client.details.withLock { $0.tenant } == name.value
            }
            let bytes = await services.tenants.sizeOnDisk(of: name)
            return .map(
                summaryFields(tenant) + [
                    (.bulk("connected_clients"), .integer(clients.count)),
                    (.bulk("database_bytes"), .integer(bytes)),
                ])
        }
    }

    static func suspend(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try setSuspended(invocation, true)
    }

    static func resume(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try setSuspended(invocation, false)
    }

    /// Suspends a tenant, closing its sessions, or resumes it.
    private static func setSuspended(_ invocation: CommandInvocation, _ suspended: Bool) throws -> CommandOutcome {
        let name = try TenantName(invocation.text(1))
        let services = invocation.services
        let logger = invocation.logger
        return invocation.async {
            try await services.catalog.setSuspended(name, suspended)
            guard suspended else {
                logger.notice("tenant resumed", metadata: ["tenant": "\(name)"])
                return .ok
            }
            let closed = services.clients.close(losing: .tenantSuspended(name))
            logger.notice("tenant suspended", metadata: ["tenant": "\(name)", "closed_clients": "\(closed)"])
            return .ok
        }
    }

    /// `TENANT.DROP name CONFIRM name`: closes its sessions, forgets it and deletes its file.
    static func drop(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let name = try TenantName(invocation.text(1))
        guard try invocation.text(2).uppercased() == "CONFIRM" else { throw CommandError.syntax() }
        guard try invocation.text(3) == name.value else {
            throw CommandError(.invalid, "confirm: must repeat the tenant name")
        }
        let services = invocation.services
        let logger = invocation.logger
        return invocation.async {
            guard try await services.catalog.tenant(name) != nil else { throw StoreError.notFound("no such tenant") }
            services.clients.close(losing: .tenantDropped(name))
            try await services.catalog.dropTenant(name)
            try await services.tenants.remove(name)
            logger.notice("tenant dropped", metadata: ["tenant": "\(name)"])
            return .ok
        }
    }

    private static func summaryFields(_ tenant: TenantSummary) -> [(key: RESPValue, value: RESPValue)] {
        [
            (.bulk("name"), .bulk(tenant.name)),
            (.bulk("status"), .bulk(tenant.suspended ? "suspended" : "active")),
            (.bulk("created_at"), .bulk(tenant.createdAt)),
            (.bulk("keys"), .integer(tenant.keyCount)),
        ]
    }
}
