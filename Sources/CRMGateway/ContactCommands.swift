import CRMCore
import CRMProtocol
import CRMStore

/// CONTACT.ADD|GET|SET|UPSERT|DEL|FIND against the session's own tenant database.
enum ContactCommands {
    static let handlers: [String: CommandHandler] = [
        "CONTACT.ADD": add, "CONTACT.GET": get, "CONTACT.SET": set, "CONTACT.UPSERT": upsert, "CONTACT.DEL": delete,
        "CONTACT.FIND": find,
    ]

    static func add(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let contacts = try invocation.tenantDatabase().contacts
        let parsed = try FieldArguments(invocation, from: 1, allowsOptions: false)
        let actor = invocation.session.key?.id
        return invocation.async { .integer(Int(try await contacts.add(parsed.changes, actor: actor))) }
    }

    static func get(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let contacts = try invocation.tenantDatabase().contacts
        let id = try recordID(invocation, 1)
        return invocation.async { RecordReply.record(try await contacts.get(id: id)) }
    }

    static func set(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let contacts = try invocation.tenantDatabase().contacts
        let id = try recordID(invocation, 1)
        let parsed = try FieldArguments(invocation, from: 2, allowsOptions: true)
        let actor = invocation.session.key?.id
        return invocation.async {
            .integer(
                Int(
                    try await contacts.set(
                        id: id, parsed.changes, ifVersion: parsed.ifVersion, force: parsed.force, actor: actor)))
        }
    }

    static func upsert(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let contacts = try invocation.tenantDatabase().contacts
        let ext = try invocation.text(1)
        let parsed = try FieldArguments(invocation, from: 2, allowsOptions: true)
        let actor = invocation.session.key?.id
        return invocation.async {
            .integer(
                Int(
                    try await contacts.upsert(
                        ext: ext, parsed.changes, ifVersion: parsed.ifVersion, force: parsed.force, actor: actor)))
        }
    }

    static func delete(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let contacts = try invocation.tenantDatabase().contacts
        let id = try recordID(invocation, 1)
        let actor = invocation.session.key?.id
        return invocation.async {
            try await contacts.delete(id: id, actor: actor)
            return .integer(1)
        }
    }

    static func find(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let contacts = try invocation.tenantDatabase().contacts
        let query = try FindQuery.parse(invocation.texts(from: 1), schema: .contact)
        return invocation.async { RecordReply.page(try await contacts.find(query)) }
    }

    /// A record id: a positive integer. Anything else cannot name a record, so it is not found.
    static func recordID(_ invocation: CommandInvocation, _ index: Int) throws -> Int64 {
        guard let id = Int64(try invocation.text(index)), id > 0 else {
            throw StoreError.notFound("no such \(invocation.spec.group)")
        }
        return id
    }
}
