import CRMCore
import CRMProtocol
import Foundation

/// COMMAND (from the command table) and INFO.
enum ServerCommands {
    static let handlers: [String: CommandHandler] = [
        "COMMAND": { invocation in
            .reply(.array(invocation.services.commandTable.topLevel.map { info($0, invocation) }))
        },
        "COMMAND COUNT": { .reply(.integer($0.services.commandTable.topLevel.count)) },
        "COMMAND LIST": { .reply(.array($0.services.commandTable.topLevel.map { .bulk($0.name.lowercased()) })) },
        "COMMAND INFO": commandInfo,
        "COMMAND DOCS": commandDocs,
        "INFO": info,
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

    /// `INFO [section ...]` in Redis's `# Section` / `key:value` text format.
    static func info(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let known = ["server", "clients", "stats", "persistence"]
        var wanted = try invocation.texts(from: 1).map { $0.lowercased() }
        if wanted.isEmpty || wanted.contains(where: { ["all", "default", "everything"].contains($0) }) {
            wanted = known
        }
        let services = invocation.services
        let statistics = services.statistics
        var text = ""
        for section in known where wanted.contains(section) {
            let lines: [(String, String)]
            switch section {
            case "server":
                lines = [
                    ("crmgate_version", ConnectionCommands.serverVersion),
                    ("redis_version", "7.2.0"),
                    ("redis_mode", "standalone"),
                    (
                        "os",
                        ProcessInfo.processInfo.operatingSystemVersionString.replacingOccurrences(of: "\n", with: " ")
                    ),
                    ("process_id", String(ProcessInfo.processInfo.processIdentifier)),
                    ("tcp_port", String(services.boundPorts.tls)),
                    ("plaintext_port", services.boundPorts.plaintext.map(String.init) ?? "off"),
                    ("uptime_in_seconds", String(statistics.uptimeSeconds)),
                    ("server_time_unix", String(statistics.startedAtUnixSeconds + statistics.uptimeSeconds)),
                ]
            case "clients":
                lines = [
                    ("connected_clients", String(services.clients.count)),
                    ("maxclients", String(services.configuration.maxClients)),
                ]
            case "stats":
                lines = [
                    ("total_connections_received", String(statistics.connectionsReceived.load(ordering: .relaxed))),
                    ("total_commands_processed", String(statistics.commandsProcessed.load(ordering: .relaxed))),
                    ("total_error_replies", String(statistics.errorReplies.load(ordering: .relaxed))),
                    ("rejected_connections", String(statistics.rejectedConnections.load(ordering: .relaxed))),
                    ("auth_failures", String(statistics.authFailures.load(ordering: .relaxed))),
                    ("protocol_errors", String(statistics.protocolErrors.load(ordering: .relaxed))),
                    ("pubsub_messages", String(statistics.pubsubMessages.load(ordering: .relaxed))),
                    (
                        "client_output_limit_disconnections",
                        String(statistics.outputLimitDisconnections.load(ordering: .relaxed))
                    ),
                    ("rate_limited_commands", String(statistics.rateLimited.load(ordering: .relaxed))),
                    ("idle_disconnections", String(statistics.idleDisconnections.load(ordering: .relaxed))),
                ]
            default:
                let writes = services.tenants.statistics
                lines = [
                    ("durability", services.configuration.durability.rawValue),
                    ("open_tenant_databases", String(services.tenants.openCount)),
                    ("max_open_tenant_databases", String(services.tenants.maxOpen)),
                    ("group_commits", String(writes.committedBatches)),
                    ("group_commit_writes", String(writes.committedWrites)),
                    ("group_commit_largest_batch", String(writes.largestBatchSize)),
                ]
            }
            text += "# \(section.prefix(1).uppercased() + section.dropFirst())\r\n"
            text += lines.map { "\($0):\($1)\r\n" }.joined() + "\r\n"
        }
        return .reply(.bulk(text))
    }
}
