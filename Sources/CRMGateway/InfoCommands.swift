import CRMCore
import CRMProtocol
import Foundation
import Synchronization

/// `INFO` and `SLOWLOG`: what operators read about a running server.
enum InfoCommands {
    static let handlers: [String: CommandHandler] = [
        "INFO": info, "SLOWLOG GET": slowlogGet, "SLOWLOG LEN": { .reply(.integer($0.services.metrics.slowLog.count)) },
        "SLOWLOG RESET": { invocation in
            invocation.services.metrics.slowLog.reset()
            return .reply(.ok)
        },
    ]

    /// Sections in the order INFO prints them; the server-wide ones only for admin keys.
    static let sections = ["server", "clients", "stats", "commandstats", "persistence", "tenants", "feeds"]
    static let adminSections: Set = ["commandstats", "tenants", "feeds"]

    /// `INFO [section ...]` in Redis's `# Section` / `key:value` text format.
    static func info(_ invocation: CommandInvocation) throws -> CommandOutcome {
        var wanted = Set(try invocation.texts(from: 1).map { $0.lowercased() })
        if wanted.isEmpty || !wanted.isDisjoint(with: ["all", "default", "everything"]) {
            wanted = Set(sections)
        }
        if invocation.session.role != .admin { wanted.subtract(adminSections) }
        let services = invocation.services
        let shown = wanted
        return invocation.async {
            var text = ""
            for section in sections where shown.contains(section) {
                let lines = try await Self.lines(of: section, services: services)
                text += "# \(section.prefix(1).uppercased() + section.dropFirst())\r\n"
                text += lines.map { "\($0):\($1)\r\n" }.joined() + "\r\n"
            }
            return .bulk(text)
        }
    }

    private static func lines(of section: String, services: GatewayServices) async throws -> [(String, String)] {
        let statistics = services.statistics
        func count(_ counter: borrowing Atomic<Int>) -> String { String(counter.load(ordering: .relaxed)) }
        switch section {
        case "server":
            return [
                ("crmgate_version", ConnectionCommands.serverVersion), ("redis_version", "7.2.0"),
                ("redis_mode", "standalone"),
                ("os", ProcessInfo.processInfo.operatingSystemVersionString.replacingOccurrences(of: "\n", with: " ")),
                ("process_id", String(ProcessInfo.processInfo.processIdentifier)),
                ("tcp_port", String(services.boundPorts.tls)),
                ("plaintext_port", services.boundPorts.plaintext.map(String.init) ?? "off"),
                ("metrics_port", services.boundPorts.metrics.map(String.init) ?? "off"),
                ("uptime_in_seconds", String(statistics.uptimeSeconds)),
                ("server_time_unix", String(statistics.startedAtUnixSeconds + statistics.uptimeSeconds)),
            ]
        case "clients":
            return [
                ("connected_clients", String(services.clients.count)),
                ("maxclients", String(services.configuration.maxClients)),
            ]
        case "stats":
            return [
                ("total_connections_received", count(statistics.connectionsReceived)),
                ("total_commands_processed", String(services.metrics.commands.answered)),
                ("total_error_replies", count(statistics.errorReplies)),
                ("rejected_connections", count(statistics.rejectedConnections)),
                ("auth_failures", count(statistics.authFailures)),
                ("protocol_errors", count(statistics.protocolErrors)),
                ("pubsub_messages", count(statistics.pubsubMessages)),
                ("client_output_limit_disconnections", count(statistics.outputLimitDisconnections)),
                ("rate_limited_commands", count(statistics.rateLimited)),
                ("idle_disconnections", count(statistics.idleDisconnections)),
                ("slowlog_len", String(services.metrics.slowLog.count)),
            ]
        case "commandstats":
            return services.metrics.commandStatistics
        case "persistence":
            let writes = services.tenants.statistics
            return [
                ("durability", services.configuration.durability.rawValue),
                ("group_commits", String(writes.committedBatches)),
                ("group_commit_writes", String(writes.committedWrites)),
                ("group_commit_largest_batch", String(writes.largestBatchSize)),
            ]
        case "tenants":
            let tenants = try await services.catalog.tenants()
            return [
                ("tenants", String(tenants.count)),
                ("suspended_tenants", String(tenants.filter(\.suspended).count)),
                ("open_tenant_databases", String(services.tenants.openCount)),
                ("max_open_tenant_databases", String(services.tenants.maxOpen)),
            ]
        default:
            return [
                ("reorders_created", String(services.tenants.metrics.reordersCreated)),
                ("feed_gaps", String(services.tenants.metrics.feedGaps)),
            ]
        }
    }

    /// `SLOWLOG GET [count]`: newest first, as Redis answers it.
    static func slowlogGet(_ invocation: CommandInvocation) throws -> CommandOutcome {
        var count = 10
        if invocation.arguments.count > 2 {
            guard let requested = Int(try invocation.text(2)), requested >= -1 else {
                throw CommandError(.err, "count should be greater than or equal to -1")
            }
            count = requested == -1 ? Int.max : requested
        }
        return .reply(
            .array(
                invocation.services.metrics.slowLog.newest(count).map { entry in
                    .array([
                        .integer(entry.id), .integer(entry.unixSeconds), .integer(entry.microseconds),
                        .array(entry.arguments.map { .bulk($0) }), .bulk(entry.client), .bulk(entry.clientName),
                    ])
                }))
    }
}
