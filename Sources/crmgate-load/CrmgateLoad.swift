import ArgumentParser
import CRMLoad
import Foundation

/// `crmgate-load`: a load generator for crmgate — many tenants, command
/// mixes with realistic arguments, closed or constant-rate (open) loops with
/// HDR-histogram latencies, and a check that every acknowledged write is there.
@main
struct CrmgateLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crmgate-load",
        abstract: "Load generator for crmgate: many tenants, command mixes, constant-rate latency, durability check.",
        subcommands: [Run.self, Verify.self, Wake.self], defaultSubcommand: Run.self)
}

/// Where the server is and how to trust it.
struct ServerOptions: ParsableArguments {
    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server TLS port.") var port = 7379
    @Option(help: "CA certificate (PEM) that signed the server's certificate.") var cacert = "./crmgate-data/tls/ca.pem"

    /// A plan of `mix` against this server.
    func plan(mix: String) throws -> LoadPlan {
        var plan = LoadPlan(mix: try CommandMix(mix))
        plan.host = host
        plan.port = port
        plan.caPath = cacert
        return plan
    }
}

/// One plain line on stderr and exit 1, for anything the tool cannot go on with.
func fail(_ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("crmgate-load: \(error)\n".utf8))
    return ExitCode.failure
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a load (the default).",
        discussion: """
            Closed loop (as redis-benchmark) unless --rate: then requests are due on a fixed schedule and \
            latency counts from when each was due (wrk2), so a stalled server shows in the percentiles.
            """)

    @OptionGroup var server: ServerOptions
    @Option(help: "Create this many tenants with an admin key for the run (dropped afterwards unless --keep).")
    var setup: Int?
    @Option(help: "The admin key file --setup uses (`key-id secret`).") var adminKey = "./crmgate-data/admin.key"
    @Option(help: "Use the tenants of this file (`tenant key-id secret` lines) instead of --setup.")
    var keys: String?
    @Option(help: "Use only the first N tenants of --keys (with --setup: how many to create).") var tenants: Int?
    @Option(help: "Connections per tenant.") var connections = 1
    @Option(help: "Requests in flight per connection.") var pipeline = 1
    @Option(help: "Event loops the connections are spread over.") var threads = 2
    @Option(help: "Commands and weights, e.g. CONTACT.ADD:40,CONTACT.GET:30,INV.ADJ:15.")
    var mix = "CONTACT.ADD:40,CONTACT.GET:30,CONTACT.FIND:10,INV.ADJ:15,DEAL.MOVE:5"
    @Option(help: "Contacts added to each tenant before the run, for reads to pick from.") var seed = 0
    @Option(help: "Open loop: requests per second over all connections.") var rate: Double?
    @Option(help: "Seconds to measure (after the warm-up).") var duration: Double = 10
    @Option(help: "Seconds of load before measuring (not counted).") var warmup: Double = 0
    @Option(help: "Stop after this many requests (instead of --duration).") var requests: Int?
    @Flag(help: "Keep the tenants --setup created.") var keep = false
    @Flag(
        name: .customLong("switch"),
        help:
            "Before every request, authenticate as the next of the run's tenants, in a shuffled order (tenant switching, cold opens)."
    )
    var switchTenants = false
    @Flag(help: "After the run, read back every acknowledged write and report what is missing or wrong.")
    var verify = false
    @Option(help: "Write the report's figures as JSON to this file.") var json: String?
    @Option(help: "Write the acknowledged writes (and the tenants' keys) here, for `crmgate-load verify` later.")
    var journal: String?

    func validate() throws {
        guard connections > 0, pipeline > 0, threads > 0, duration > 0, warmup >= 0, seed >= 0 else {
            throw ValidationError("--connections, --pipeline, --threads and --duration must be positive")
        }
        if setup != nil && keys != nil { throw ValidationError("--setup and --keys exclude each other") }
    }

    func run() throws {
        do {
            if let rate, !(rate > 0 && rate <= 10_000_000) {
                throw LoadError("--rate must be more than 0 and at most 10,000,000 requests/s, not \(rate)")
            }
            var plan = try server.plan(mix: mix)
            plan.tenants =
                keys.map(LoadPlan.Tenants.file) ?? .setup(count: setup ?? tenants ?? 1, adminKeyFile: adminKey)
            plan.tenantLimit = tenants
            plan.connectionsPerTenant = connections
            plan.pipeline = pipeline
            plan.threads = threads
            plan.seed = seed
            plan.rate = rate
            plan.duration = requests == nil ? .milliseconds(Int(duration * 1000)) : nil
            plan.warmup = .milliseconds(Int(warmup * 1000))
            plan.requests = requests
            plan.keep = keep
            plan.switchTenants = switchTenants
            try execute(plan)
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }

    private func execute(_ plan: LoadPlan) throws {
        // Ctrl-C, from the start (even during set-up), ends the run early; the report covers what ran.
        // Unblocked: a parent may have started this process with SIGINT blocked.
        signal(SIGINT) { _ in LoadRun.interrupted.store(true, ordering: .relaxed) }
        var interrupt = sigset_t()
        sigemptyset(&interrupt)
        sigaddset(&interrupt, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &interrupt, nil)
        let load = try LoadRun(plan: plan)
        let (tenants, creationSeconds) = try load.prepareTenants()
        let created = creationSeconds.map { Double(tenants.count) / max($0, 0.001) }
        if let creationSeconds, let created {
            print(
                String(
                    format: "crmgate-load: TENANT.CREATE x %d in %.2f s (%.0f/s), pipelined on one connection",
                    tenants.count, creationSeconds, created))
        }
        let seeded = try load.seed(tenants)
        let shape =
            plan.switchTenants
            ? "\(plan.connectionsPerTenant) connections switching over \(tenants.count) tenants"
            : "\(tenants.count) tenants x \(plan.connectionsPerTenant) connections"
        print(
            "crmgate-load: \(shape), pipeline \(plan.pipeline), "
                + (plan.rate.map { "open loop at \(Int($0)) req/s" } ?? "closed loop") + ", mix \(plan.mix)")
        let (report, journal) = try load.run(tenants: tenants, seeded: seeded) { line in
            print(line)
            fflush(nil)
        }
        signal(SIGINT, SIG_DFL)
        print(report.text)
        if let json {
            var document = report.json
            document["tenants"] = tenants.count
            if let created { document["tenants_created_per_second"] = created }
            document["connections"] =
                plan.switchTenants ? plan.connectionsPerTenant : tenants.count * plan.connectionsPerTenant
            document["pipeline"] = plan.pipeline
            try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
                .write(to: URL(fileURLWithPath: json))
        }
        if let path = self.journal { try journal.save(to: path) }
        var problems: [String] = []
        if verify {
            let (checked, found) = try load.verify(journal)
            problems = found
            print("verify: \(checked) acknowledged writes checked, \(found.count) missing or wrong")
            for problem in found.prefix(20) { print("  \(problem)") }
        }
        if case .setup = plan.tenants, !plan.keep { try load.dropTenants(tenants) }
        if !problems.isEmpty { throw ExitCode(2) }
    }
}

/// `crmgate-load verify --journal FILE`: checks a journal's acknowledged writes
/// against the server, e.g. after killing and restarting it mid-run.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that every write a run's journal holds is there.")

    @OptionGroup var server: ServerOptions
    @Option(help: "The journal a run wrote with --journal.") var journal: String

    func run() throws {
        do {
            let plan = try server.plan(mix: "PING")
            let load = try LoadRun(plan: plan)
            let (checked, problems) = try load.verify(try Journal.load(from: journal))
            print("verify: \(checked) acknowledged writes checked, \(problems.count) missing or wrong")
            for problem in problems.prefix(20) { print("  \(problem)") }
            if !problems.isEmpty { throw ExitCode(2) }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }
}

/// `crmgate-load wake`: how soon a reader blocked in `EVENTS.READ` hears of a
/// write, on the writer's gateway or on another gateway sharing its database.
struct Wake: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time how soon a blocked EVENTS.READ wakes after a write is acknowledged.",
        discussion: """
            Each round a reader blocks in EVENTS.READ on --reader-port (another gateway on the same database, \
            or by default the writer's), then a writer adds a contact through --port; the round records the time \
            from the write's acknowledgement to the reader's reply (negative: the reader heard first).
            """)

    @OptionGroup var server: ServerOptions
    @Option(help: "Port of the gateway the reader blocks on (default: --port).") var readerPort: Int?
    @Option(help: "The admin key file (`key-id secret`) that creates the run's tenant, dropped afterwards.")
    var adminKey = "./crmgate-data/admin.key"
    @Option(help: "Use the first tenant of this file (`tenant key-id secret` lines) instead.") var keys: String?
    @Option(help: "Rounds to time.") var rounds = 200
    @Option(help: "Write the figures as JSON to this file.") var json: String?

    func validate() throws {
        guard rounds > 0 else { throw ValidationError("--rounds must be positive") }
    }

    func run() throws {
        do {
            var plan = try server.plan(mix: "CONTACT.ADD")
            plan.tenants = keys.map(LoadPlan.Tenants.file) ?? .setup(count: 1, adminKeyFile: adminKey)
            plan.tenantLimit = 1
            let load = try LoadRun(plan: plan)
            let tenants = try load.prepareTenants().tenants
            let report = try load.measureWake(as: tenants[0], readerPort: readerPort ?? server.port, rounds: rounds)
            print(
                "crmgate-load: writer on port \(server.port), reader on port \(readerPort ?? server.port); \(report.text)"
            )
            if let json {
                try JSONSerialization.data(withJSONObject: report.json, options: [.prettyPrinted, .sortedKeys])
                    .write(to: URL(fileURLWithPath: json))
            }
            if keys == nil { try load.dropTenants(tenants) }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(error)
        }
    }
}
