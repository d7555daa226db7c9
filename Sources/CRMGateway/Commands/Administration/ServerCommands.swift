import CRMCore
import CRMProtocol
import Foundation

/// COMMAND, from the command table.
enum ServerCommands {
    static let handlers: [String: CommandHandler] = [
        "COMMAND": { invocation in
            .reply(.array(invocation.services.commandTable.topLevel.map { info($0, invocation) }))
        },
        "COMMAND COUNT": { .reply(.integer($0.services.commandTable.topLevel.count)) },
        "COMMAND LIST": { .reply(.array($0.services.commandTable.topLevel.map { .bulk($0.name.lowercased()) })) },
        "COMMAND INFO": commandInfo,
        "COMMAND DOCS": commandDocs,
    ]

    private static func named(_ invocation: CommandInvocation) throws -> [CommandSpec?] {
        let table = invocation.services.commandTable
        guard invocation.arguments.count > 2 else { return table.topLevel }
        return try invocation.texts(from: 2).map { table[$0.uppercased()] }
    }

    static func commandInfo(_ invocation: CommandInvocation) throws -> CommandOutcome {
        .reply(.array(try named(invocation).map { $0.map { info($0, invocation) } ?? .null }))
    }

    static func commandDocs(_ invocation: CommandInvocation) throws -> CommandOutcome {
        .reply(
            .map(try named(invocation).compactMap { $0 }.map { (.bulk($0.name.lowercased()), docs($0, invocation)) }))
    }

    /// A Redis 7 `COMMAND INFO` entry: name, arity, flags, key positions, ACL categories, tips, key specs, subcommands.
    private static func info(_ spec: CommandSpec, _ invocation: CommandInvocation) -> RESPValue {
        let flags: [String] = spec.flags.map { flag in
            switch flag {
            case .noauth: "no_auth"
            case .write: "write"
            case .readonly: "readonly"
            case .fast: "fast"
            case .admin: "admin"
            case .pubsub: "pubsub"
            }
        }
        return .array([
            .bulk(spec.name.lowercased().replacingOccurrences(of: " ", with: "|")),
            .integer(spec.arity),
            .array(flags.map { .simpleString($0) }),
            .integer(0), .integer(0), .integer(0),
            .array([.simpleString("@\(spec.group)")] + spec.roles.map { .simpleString("@role:\($0.rawValue)") }),
            .array([]),
            .array([]),
            .array(invocation.services.commandTable.subcommands(of: spec).map { info($0, invocation) }),
        ])
    }

    /// A Redis 7 `COMMAND DOCS` entry, plus crmgate's roles, example and errors.
    private static func docs(_ spec: CommandSpec, _ invocation: CommandInvocation) -> RESPValue {
        var fields: [(key: RESPValue, value: RESPValue)] = [
            (.bulk("summary"), .bulk(spec.summary)),
            (.bulk("since"), .bulk(spec.since)),
            (.bulk("group"), .bulk(spec.group)),
        ]
        if let complexity = spec.complexity {
            fields.append((.bulk("complexity"), .bulk(complexity)))
        }
        if !spec.arguments.isEmpty {
            fields.append((.bulk("arguments"), .array(spec.arguments.map(argumentDocs))))
        }
        fields.append((.bulk("syntax"), .bulk(spec.syntax)))
        fields.append((.bulk("roles"), .array(spec.roles.map { .bulk($0.rawValue) })))
        if let example = spec.example {
            fields.append((.bulk("example"), .bulk(example)))
        }
        if !spec.errors.isEmpty {
            fields.append((.bulk("errors"), .array(spec.errors.map { .bulk($0) })))
        }
        let subcommands = invocation.services.commandTable.subcommands(of: spec)
        if !subcommands.isEmpty {
            fields.append(
                (
                    .bulk("subcommands"),
                    .map(
                        subcommands.map {
                            (.bulk($0.name.lowercased().replacingOccurrences(of: " ", with: "|")), docs($0, invocation))
                        })
                ))
        }
        return .map(fields)
    }

    private static func argumentDocs(_ argument: CommandArgument) -> RESPValue {
        var fields: [(key: RESPValue, value: RESPValue)] = [
            (.bulk("name"), .bulk(argument.name)),
            (.bulk("type"), .bulk(argument.type)),
        ]
        if let token = argument.token {
            fields.append((.bulk("token"), .bulk(token)))
        }
        var flags: [RESPValue] = []
        if argument.optional == true { flags.append(.simpleString("optional")) }
        if argument.multiple == true { flags.append(.simpleString("multiple")) }
        if !flags.isEmpty {
            fields.append((.bulk("flags"), .array(flags)))
        }
        if let values = argument.values {
            fields.append((.bulk("values"), .array(values.map { .bulk($0) })))
        }
        if let arguments = argument.arguments {
            fields.append((.bulk("arguments"), .array(arguments.map(argumentDocs))))
        }
        return .map(fields)
    }
}
