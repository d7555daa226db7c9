import CRMCore
import CRMProtocol
import CRMStore
import Foundation
import Synchronization

/// `INFO` and `SLOWLOG`: what operators read about a running server.
enum InfoCommands {
    static let handlers: [String: CommandHandler] = [
        "INFO": info, "DBSIZE": dbsize, "SLOWLOG GET": slowlogGet,
        "SLOWLOG LEN": { .reply(.integer($0.services.metrics.slowLog.count)) },
        "SLOWLOG RESET": { invocation in
            invocation.services.metrics.slowLog.reset()
            return .reply(.ok)
        },
    ]

    /// Sections in the order INFO prints them; some only for admin keys.
    static let sections = [
        "server", "clients", "memory", "stats", "commandstats", "persistence", "keyspace", "tenants", "storage",
        "feeds",
    ]
    static let adminSections: Set = ["commandstats", "tenants", "storage", "feeds"]

    /// Whose figures an `INFO` shows: an admin key sees the server's, a tenant
    /// key only its own tenant's, and nothing of the host or other tenants.
    enum Viewer: Sendable {
        case admin
        case tenant(name: String, counters: TenantActivity.Counters, database: TenantDatabase)
    }

    /// `INFO [section ...]` in Redis's `# Section` / `key:value` text format.
    static func info(_ invocation: CommandInvocation) throws -> CommandOutcome {
        var wanted = Set(try invocation.texts(from: 1).map { $0.lowercased() })
        if wanted.isEmpty || !wanted.isDisjoint(with: ["all", "default", "everything"]) {
            wanted = Set(sections)
        }
        let viewer = try Self.viewer(invocation)
        if case .tenant = viewer { wanted.subtract(adminSections) }
        let services = invocation.services
        let shown = wanted
        return invocation.async {
            var text = ""
            for section in sections where shown.contains(section) {
                let lines = try await Self.lines(of: section, for: viewer, services: services)
                text += "# \(section.prefix(1).uppercased() + section.dropFirst())\r\n"
                text += lines.map { "\($0):\($1)\r\n" }.joined() + "\r\n"
            }
            return .bulk(text)
        }
    }

    /// `DBSIZE`: the tenant's records of every type.
    static func dbsize(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try invocation.read(mayTakeLong: true) { transaction in
            .integer(try transaction.recordCounts().reduce(0) { $0 + $1.count })
        }
    }

    private static func viewer(_ invocation: CommandInvocation) throws(CommandError) -> Viewer {
        guard let tenant = invocation.session.key?.tenant else { return .admin }
        guard let counters = invocation.session.activity else { return .admin }
        return .tenant(name: tenant, counters: counters, database: try invocation.tenantDatabase())
    }

    private static func lines(of section: String, for viewer: Viewer, services: GatewayServices) async throws
        -> [(String, String)]
    {
        guard case .tenant(let name, let counters, let database) = viewer else {
            return try await serverLines(of: section, services: services)
        }
        func count(_ counter: borrowing Atomic<Int>) -> String { String(counter.load(ordering: .relaxed)) }
        let statistics = services.statistics
        switch section {
        case "server":
            return [
                ("crmgate_version", ConnectionCommands.serverVersion), ("redis_version", "7.2.0"),
                ("redis_mode", "standalone"), ("tenant", name),
                ("uptime_in_seconds", String(statistics.uptimeSeconds)),
                ("server_time_unix", String(statistics.startedAtUnixSeconds + statistics.uptimeSeconds)),
            ]
        case "clients":
            return [
                ("connected_clients", count(counters.connectedClients)),
                ("blocked_clients", count(counters.blockedClients)),
            ]
        case "memory":
            // What the tenant holds in the server's memory: its cached records, at about 1 KiB each.
            let cached = database.recordCache.count
            return [
                ("used_memory", String(cached * 1024)), ("used_memory_peak", String(cached * 1024)),
                ("maxmemory", "0"), ("cached_records", String(cached)),
            ]
        case "stats":
            return [
                ("total_connections_received", count(counters.connectionsReceived)),
                ("total_commands_processed", count(counters.commandsProcessed)),
                ("total_error_replies", count(counters.errorReplies)),
                ("auth_failures", count(counters.authFailures)),
                ("rate_limited_commands", count(counters.rateLimited)),
                ("pubsub_messages", count(counters.pubsubMessages)),
            ]
        case "persistence":
            return persistence(services.tenants.writeStatistics(of: database.name), services)
                + [("database_bytes", String(await services.tenants.sizeOnDisk(of: database.name)))]
        case "keyspace":
            let counts = try await database.read { try $0.recordCounts() }
            let total = counts.reduce(0) { $0 + $1.count }
            let types = counts.map { "\($0.table)=\($0.count)" }.joined(separator: ",")
            return [("db0", "keys=\(total),expires=0,avg_ttl=0,\(types)")]
        default:
            return []
        }
    }

    /// The server-wide figures admin keys see.
    private static func serverLines(of section: String, services: GatewayServices) async throws -> [(String, String)] {
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
                ("blocked_clients", count(statistics.blockedClients)),
                ("maxclients", String(services.configuration.maxClients)),
            ]
        case "memory":
            let memory = services.memory
            return [
                ("used_memory", String(memory.used)), ("used_memory_rss", String(memory.resident)),
                ("used_memory_peak", String(memory.peakUsed)), ("maxmemory", "0"),
            ]
        case "stats":
            return [
                ("total_connections_received", count(statistics.connectionsReceived)),
                ("total_commands_processed", String(services.metrics.commands.answered)),
                ("total_error_replies", count(statistics.errorReplies)),
                ("rejected_connections", count(statistics.rejectedConnections)),
                ("auth_failures", count(statistics.authFailures)),
                ("auth_timeouts", count(statistics.authTimeouts)),
                ("protocol_errors", count(statistics.protocolErrors)),
                ("pubsub_messages", count(statistics.pubsubMessages)),
                ("client_output_limit_disconnections", count(statistics.outputLimitDisconnections)),
                ("rate_limited_commands", count(statistics.rateLimited)),
                ("idle_disconnections", count(statistics.idleDisconnections)),
                ("slowlog_len", String(services.metrics.slowLog.count)),
                ("reads_on_event_loops", String(services.tenants.metrics.readsInline)),
                ("reads_on_reader_threads", String(services.tenants.metrics.readsOnReaders)),
            ]
        case "commandstats":
            return services.metrics.commandStatistics
        case "persistence":
            return persistence(services.tenants.statistics, services)
        case "keyspace":
            // Admin keys read no tenant's records; each tenant's INFO shows its own.
            return []
        case "tenants":
            let tenants = try await services.catalog.tenants()
            return [
                ("tenants", String(tenants.count)),
                ("suspended_tenants", String(tenants.filter(\.suspended).count)),
                ("open_tenant_databases", String(services.tenants.openCount)),
                ("max_open_tenant_databases", String(services.tenants.maxOpen)),
                ("tenant_opens", String(services.tenants.openings)),
                ("tenant_sqlite_memory_bytes", String(services.tenants.sqliteMemory)),
                ("open_file_descriptors", String(DescriptorLimit.inUse)),
                ("max_file_descriptors", String(services.descriptorLimit)),
            ]
        case "storage":
            guard let postgres = services.tenants.postgres else {
                return [("storage", "sqlite"), ("tenants_directory", services.tenants.root)]
            }
            let metrics = postgres.metrics
            let inFlight = metrics.transactionsInFlight
            return [
                ("storage", "postgresql"),
                ("postgres_url", "\(postgres.url)"),
                ("postgres_pool_size", String(postgres.connections)),
                ("postgres_connections_in_use", String(min(inFlight, postgres.connections))),
                ("postgres_waiting_for_connection", String(max(0, inFlight - postgres.connections))),
                ("postgres_errors", String(metrics.errors)),
                ("postgres_statements", String(metrics.statementCount)),
                ("postgres_round_trip_mean_us", String(format: "%.1f", metrics.meanRoundTripMicroseconds)),
                ("postgres_other_gateways_heard", postgres.hearsOtherGateways ? "1" : "0"),
                ("postgres_other_gateways_commits", String(postgres.noticesReceived)),
            ]
        default:
            return [
                ("reorders_created", String(services.tenants.metrics.reordersCreated)),
                ("feed_gaps", String(services.tenants.metrics.feedGaps)),
            ]
        }
    }

    /// The durability setting and the group commits `writes` counted (the server's, or one tenant's).
    private static func persistence(_ writes: WriteStatistics, _ services: GatewayServices) -> [(String, String)] {
        [
            ("durability", services.configuration.durability.rawValue),
            ("group_commits", String(writes.committedBatches)),
            ("group_commit_writes", String(writes.committedWrites)),
            ("group_commit_largest_batch", String(writes.largestBatchSize)),
            ("wal_syncs", String(services.tenants.walSyncs)),
        ]
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
                        .bulk(entry.tenant), .bulk(entry.keyID),
                    ])
                }))
    }
}
