import CRMCore
import CRMProtocol
import CRMStore

/// `<TYPE>.ADD|GET|SET|UPSERT|DEL|FIND` for contacts, companies, deals and
/// tickets: one set of conventions, each type's rules in its store.
enum RecordCommands {
    static let handlers: [String: CommandHandler] = {
        var handlers: [String: CommandHandler] = [:]
        for type in RecordKind.allCases {
            let prefix = type.rawValue.uppercased()
            handlers["\(prefix).ADD"] = { try add($0, type) }
            handlers["\(prefix).GET"] = { try get($0, type) }
            handlers["\(prefix).SET"] = { try set($0, type) }
            handlers["\(prefix).DEL"] = { try delete($0, type) }
            handlers["\(prefix).FIND"] = { try find($0, type) }
            if type != .ticket {
                handlers["\(prefix).UPSERT"] = { try upsert($0, type) }
            }
        }
        return handlers
    }()

    static func add(_ invocation: CommandInvocation, _ type: RecordKind) throws -> CommandOutcome {
        let parsed = try FieldArguments(invocation, from: 1, allowsOptions: false, schema: type.schema)
        let actor = invocation.session.key?.id
        return try invocation.write { .integer(Int(try $0.records(type).add(parsed.changes, actor: actor))) }
    }

    static func get(_ invocation: CommandInvocation, _ type: RecordKind) throws -> CommandOutcome {
        let reference = RecordReference(try invocation.text(1))
        let version = invocation.session.protocolVersion
        return try invocation.read(cachedRecord: (type, reference)) {
            RecordReply.record(try $0.records(type).get(reference), version: version)
        }
    }

    static func set(_ invocation: CommandInvocation, _ type: RecordKind) throws -> CommandOutcome {
        let id = try recordID(invocation, 1)
        let parsed = try FieldArguments(invocation, from: 2, allowsOptions: true, schema: type.schema)
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            let version = try transaction.records(type).set(
                id: id, parsed.changes, ifVersion: parsed.ifVersion, force: parsed.force, actor: actor)
            return .integer(Int(version))
        }
    }

    static func upsert(_ invocation: CommandInvocation, _ type: RecordKind) throws -> CommandOutcome {
        let ext = try invocation.text(1)
        let parsed = try FieldArguments(invocation, from: 2, allowsOptions: true, schema: type.schema)
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            let id = try transaction.records(type).upsert(
                ext: ext, parsed.changes, ifVersion: parsed.ifVersion, force: parsed.force, actor: actor)
            return .integer(Int(id))
        }
    }

    static func delete(_ invocation: CommandInvocation, _ type: RecordKind) throws -> CommandOutcome {
        let id = try recordID(invocation, 1)
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            try transaction.records(type).delete(id: id, actor: actor)
            return .integer(1)
        }
    }

    static func find(_ invocation: CommandInvocation, _ type: RecordKind) throws -> CommandOutcome {
        let query = try FindQuery.parse(invocation.texts(from: 1), schema: type.schema)
        let version = invocation.session.protocolVersion
        return try invocation.read(mayTakeLong: query.search != nil) {
            try RecordReply.page(of: $0.records(type), query, version: version)
        }
    }

    /// A record id: a positive integer. Anything else cannot name a record, so it is not found.
    static func recordID(_ invocation: CommandInvocation, _ index: Int, type: String? = nil) throws -> Int64 {
        guard let id = Int64(try invocation.text(index)), id > 0 else {
            throw StoreError.notFound("no such \(type ?? invocation.spec.group)")
        }
        return id
    }

    /// An enumerated argument, matched case-insensitively.
    static func choice<T: RawRepresentable & CaseIterable>(
        _ invocation: CommandInvocation, _ index: Int, _ name: String, as _: T.Type
    ) throws -> T where T.RawValue == String {
        let text = try invocation.text(index)
        guard let value = T(rawValue: text.lowercased()) else {
            throw InvalidField(name, "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    /// `REASON text` at `index`.
    static func reasonArgument(_ invocation: CommandInvocation, at index: Int) throws -> String {
        guard try invocation.text(index).uppercased() == "REASON", invocation.arguments.count == index + 2 else {
            throw CommandError.syntax("syntax error: expected REASON text")
        }
        return try invocation.text(index + 1)
    }
}
