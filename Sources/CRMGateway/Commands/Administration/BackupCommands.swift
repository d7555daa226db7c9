import CRMCore
import CRMProtocol
import CRMStore
import Foundation

/// `BACKUP` and `TENANT.RESTORE`: online backups into the backup directory, and bringing a tenant back from one.
enum BackupCommands {
    static let handlers: [String: CommandHandler] = ["BACKUP": backup, "TENANT.RESTORE": restore]

    /// `BACKUP [TENANT name] TO backup`: the catalog and every tenant (or one), each from a consistent snapshot.
    static func backup(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let options = try OptionArguments(invocation.texts(from: 1), tokens: ["TENANT": 1, "TO": 1])
        guard let name = options.value("TO") else { throw CommandError.syntax("BACKUP needs TO name") }
        let only = try options.value("TENANT").map { try TenantName($0) }
        let services = invocation.services
        try services.tenants.checkFileBackups()
        let logger = invocation.logger
        let backup = try backupSet(name, services: services)
        return invocation.async {
            let started = ContinuousClock.now
            var tenants = try await services.catalog.tenants().compactMap { try? TenantName($0.name) }
            if let only {
                guard tenants.contains(only) else { throw StoreError.notFound("no such tenant") }
                tenants = [only]
            }
            try await backup.write(catalog: services.catalog, tenants: tenants, from: services.tenants)
            let elapsed = ContinuousClock.now - started
            logger.notice(
                "backup written", metadata: ["path": "\(backup.path)", "tenants": "\(tenants.count)"])
            return .map([
                (.bulk("path"), .bulk(backup.path)),
                (.bulk("tenants"), .integer(tenants.count)),
                (
                    .bulk("milliseconds"),
                    .integer(
                        Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000))
                ),
            ])
        }
    }

    /// `TENANT.RESTORE name FROM backup`: closes the tenant's sessions and replaces its database with the backup's.
    /// The tenant's keys are the catalog's current ones; it stays suspended while the copy is made.
    static func restore(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let name = try TenantName(invocation.text(1))
        guard try invocation.text(2).uppercased() == "FROM" else {
            throw CommandError.syntax("TENANT.RESTORE name FROM backup")
        }
        let services = invocation.services
        try services.tenants.checkFileBackups()
        let logger = invocation.logger
        let backup = try backupSet(try invocation.text(3), services: services)
        return invocation.async {
            guard FileManager.default.fileExists(atPath: backup.tenantPath(name)) else {
                throw StoreError.notFound("the backup holds no tenant \(name)")
            }
            let existing = try await services.catalog.tenant(name)
            if existing == nil { try await services.catalog.createTenant(name) }
            try await services.catalog.setSuspended(name, true)
            services.clients.close(losing: .tenantSuspended(name))
            do {
                try await services.tenants.restore(name, from: backup.tenantPath(name))
            } catch {
                if existing?.suspended != true { try? await services.catalog.setSuspended(name, false) }
                throw error
            }
            if existing?.suspended != true { try await services.catalog.setSuspended(name, false) }
            logger.notice("tenant restored", metadata: ["tenant": "\(name)", "from": "\(backup.path)"])
            return .ok
        }
    }

    private static func backupSet(_ name: String, services: GatewayServices) throws -> BackupSet {
        do {
            return try BackupSet(name: name, in: services.configuration.backupDirectoryPath)
        } catch {
            throw CommandError(.invalid, "backup: \(error.description)")
        }
    }
}
