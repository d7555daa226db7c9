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
        let parsed = try FieldArguments(invocation, from: 1, allowsOptions: false)
        let actor = invocation.session.key?.id
        return try invocation.write { .integer(Int(try $0.contacts.add(parsed.changes, actor: actor))) }
    }

    static func get(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try recordID(invocation, 1)
        return try invocation.read { RecordReply.record(try $0.contacts.get(id: id)) }
    }

    static func set(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try recordID(invocation, 1)
        let parsed = try FieldArguments(invocation, from: 2, allowsOptions: true)
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            let version = try transaction.contacts.set(
                id: id, parsed.changes, ifVersion: parsed.ifVersion, force: parsed.force, actor: actor)
            return .integer(Int(version))
        }
    }

    static func upsert(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let ext = try invocation.text(1)
        let parsed = try FieldArguments(invocation, from: 2, allowsOptions: true)
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            let id = try transaction.contacts.upsert(
                ext: ext, parsed.changes, ifVersion: parsed.ifVersion, force: parsed.force, actor: actor)
            return .integer(Int(id))
        }
    }

    static func delete(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try recordID(invocation, 1)
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            try transaction.contacts.delete(id: id, actor: actor)
            return .integer(1)
        }
    }

    static func find(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let query = try FindQuery.parse(invocation.texts(from: 1), schema: .contact)
        return try invocation.read { RecordReply.page(try $0.contacts.find(query)) }
    }

    /// A record id: a positive integer. Anything else cannot name a record, so it is not found.
    static func recordID(_ invocation: CommandInvocation, _ index: Int) throws -> Int64 {
        guard let id = Int64(try invocation.text(index)), id > 0 else {
            throw StoreError.notFound("no such \(invocation.spec.group)")
        }
        return id
    }
}
