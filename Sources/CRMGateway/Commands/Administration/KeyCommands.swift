import CRMCore
import CRMProtocol
import CRMStore

/// KEY.*: API keys. Admin keys manage every tenant's keys; an owner manages its own tenant's.
enum KeyCommands {
    static let handlers: [String: CommandHandler] = ["KEY.CREATE": create, "KEY.LIST": list, "KEY.REVOKE": revoke]

    static let maxLabelLength = 128

    /// `KEY.CREATE tenant role [LABEL text]`; replies `[key-id, secret]`.
    static func create(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let tenantText = try invocation.text(1)
        guard let role = Role(rawValue: try invocation.text(2).lowercased()) else {
            throw CommandError(
                .invalid, "role: must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var label: String?
        if invocation.arguments.count > 3 {
            guard invocation.arguments.count == 5, try invocation.text(3).uppercased() == "LABEL" else {
                throw CommandError.syntax()
            }
            let text = try invocation.text(4)
            guard text.utf8.count <= maxLabelLength, !text.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw CommandError(.invalid, "label: at most \(maxLabelLength) bytes without control characters")
            }
            label = text
        }
        let tenant: TenantName?
        if role == .admin {
            guard tenantText == "*" else {
                throw CommandError(.invalid, "tenant: admin keys belong to no tenant; use *")
            }
            tenant = nil
        } else {
            tenant = try TenantName(tenantText)
        }
        let caller = invocation.session.key
        if caller?.role == .owner, role == .admin || tenant?.value != caller?.tenant {
            throw CommandError(.noperm, "owners create keys of their own tenant only, and no admin keys")
        }
        let services = invocation.services
        let logger = invocation.logger
        return invocation.async { [label] in
            let (key, secret) = try await services.catalog.createKey(tenant: tenant, role: role, label: label)
            logger.notice(
                "key created",
                metadata: [
                    "key_id": "\(key.id)", "tenant": "\(key.tenant ?? "*")", "role": "\(role.rawValue)",
                    "by": "\(caller?.id ?? "")",
                ])
            return .array([.bulk(key.id), .bulk(secret)])
        }
    }

    static func list(_ invocation: CommandInvocation) throws -> CommandOutcome {
        var tenant = try invocation.arguments.count > 1 ? TenantName(invocation.text(1)) : nil
        if let caller = invocation.session.key, caller.role == .owner {
            guard tenant == nil || tenant?.value == caller.tenant else { throw StoreError.notFound("no such tenant") }
            tenant = try caller.tenant.map { try TenantName($0) }
        }
        let services = invocation.services
        return invocation.async { [tenant] in
            if let tenant, try await services.catalog.tenant(tenant) == nil {
                throw StoreError.notFound("no such tenant")
            }
            return .array(
                try await services.catalog.keys(tenant: tenant).map { key in
                    .map([
                        (.bulk("id"), .bulk(key.id)),
                        (.bulk("tenant"), .bulk(key.tenant ?? "*")),
                        (.bulk("role"), .bulk(key.role.rawValue)),
                        (.bulk("label"), .bulk(key.label ?? "")),
                        (.bulk("created_at"), .bulk(key.createdAt)),
                        (.bulk("revoked_at"), key.revokedAt.map { .bulk($0) } ?? .null),
                    ])
                })
        }
    }

    /// Revokes a key and closes the connections authenticated with it.
    static func revoke(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let keyID = try invocation.text(1)
        let caller = invocation.session.key
        let services = invocation.services
        let logger = invocation.logger
        return invocation.async {
            guard let key = try await services.catalog.key(id: keyID),
                caller?.role == .admin || (key.tenant != nil && key.tenant == caller?.tenant)
            else {
                throw StoreError.notFound("no such key")
            }
            try await services.catalog.revokeKey(id: keyID)
            let closed = services.clients.close(losing: .keyRevoked(id: keyID))
            logger.notice(
                "key revoked",
                metadata: ["key_id": "\(keyID)", "closed_clients": "\(closed)", "by": "\(caller?.id ?? "")"])
            return .ok
        }
    }
}
