import CRMProtocol
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Everything a run is told on the command line.
public struct LoadPlan: Sendable {
    public enum Tenants: Sendable {
        /// Create this many tenants with an admin key (from this file), and drop them after unless `keep`.
        case setup(count: Int, adminKeyFile: String)
        /// Use the tenants of a `tenant key-id secret` file.
        case file(String)
    }

    public var host = "127.0.0.1"
    public var port = 7379
    public var caPath: String? = "./crmgate-data/tls/ca.pem"
    public var tenants = Tenants.setup(count: 1, adminKeyFile: "./crmgate-data/admin.key")
    /// Use only the first N tenants of a keys file.
    public var tenantLimit: Int?
    public var connectionsPerTenant = 1
    public var pipeline = 1
    public var threads = 2
    public var mix: CommandMix
    /// Contacts added to each tenant before the run, for reads to pick from.
    public var seed = 0
    /// Open loop: requests per second over all connections; nil runs closed loop.
    public var rate: Double?
    public var duration: Duration? = .seconds(10)
    public var warmup: Duration = .zero
    public var requests: Int?
    public var keep = false
    /// Each connection authenticates as a random one of all the run's tenants before every request.
    public var switchTenants = false

    public init(mix: CommandMix) {
        self.mix = mix
    }
}

/// Runs a plan: prepares tenants, drives the connections, prints progress
/// each second, and returns the report and the journal of acknowledged writes.
public final class LoadRun: Sendable {
    /// Set (by a SIGINT handler) to end the run early; the report covers what ran.
    public static let interrupted = Atomic<Bool>(false)

    public let plan: LoadPlan
    let tls: NIOSSLContext?

    public init(plan: LoadPlan) throws {
        self.plan = plan
        if let caPath = plan.caPath {
            var configuration = TLSConfiguration.makeClientConfiguration()
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
            } catch {
                throw LoadError("cannot read the CA certificate \(caPath) (check --cacert)")
            }
            tls = try NIOSSLContext(configuration: configuration)
        } else {
            tls = nil
        }
    }

    private var serverName: String? {
        plan.host.hasPrefix("127.") || plan.host == "::1" ? "localhost" : plan.host
    }

    /// Connects to the plan's server, or to another `port` on its host.
    func client(port: Int? = nil) throws -> BlockingClient {
        let port = port ?? plan.port
        do {
            return try BlockingClient.connect(host: plan.host, port: port, tls: tls, serverName: serverName)
        } catch {
            throw LoadError(
                "cannot connect to \(plan.host):\(port): \(error) (is crmgate running? check --host, --port)")
        }
    }

    /// Connects as `tenant` (to the plan's server, or to another `port` on its host) and checks the key.
    func client(as tenant: TenantCredentials, port: Int? = nil) throws -> BlockingClient {
        let client = try client(port: port)
        let reply: RESPValue
        do {
            reply = try client.send("AUTH", tenant.keyID, tenant.secret)
        } catch {
            client.close()
            throw LoadError(
                "no TLS session with \(plan.host):\(port ?? plan.port): \(error) (check --cacert: it must be the CA that signed the server's certificate)"
            )
        }
        guard reply.errorMessage == nil else {
            client.close()
            throw LoadError("tenant \(tenant.name): AUTH refused: \(reply.errorMessage!)")
        }
        return client
    }

    // MARK: tenants

    /// The tenants to load: created now (with an admin key), or read from a file;
    /// with how long the `TENANT.CREATE`s took, if it created them.
    public func prepareTenants() throws -> (tenants: [TenantCredentials], creationSeconds: Double?) {
        var creationSeconds: Double?
        var tenants: [TenantCredentials]
        switch plan.tenants {
        case .file(let path):
            tenants = try TenantCredentials.read(file: path)
            if let limit = plan.tenantLimit { tenants = Array(tenants.prefix(limit)) }
            guard !tenants.isEmpty else { throw LoadError("\(path) names no tenant") }
        case .setup(let count, let adminKeyFile):
            let words = (try? String(contentsOfFile: adminKeyFile, encoding: .utf8))?.split(
                whereSeparator: \.isWhitespace)
            guard let words, words.count == 2 else {
                throw LoadError("--setup needs an admin key: \(adminKeyFile) must hold `key-id secret` (--admin-key)")
            }
            let admin = try client(
                as: TenantCredentials(name: "(admin)", keyID: String(words[0]), secret: String(words[1])))
            defer { admin.close() }
            let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
            let names = (0..<count).map { "load-\(run)-\($0)" }
            let creating = ContinuousClock.now
            let created = try admin.pipeline(names.map { ["TENANT.CREATE", $0] })
            let took = ContinuousClock.now - creating
            creationSeconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
            if let failed = created.first(where: { $0.errorMessage != nil }) {
                throw LoadError("TENANT.CREATE: \(failed.errorMessage!)")
            }
            let keys = try admin.pipeline(names.map { ["KEY.CREATE", $0, "owner", "LABEL", "crmgate-load"] })
            tenants = try zip(names, keys).map { name, key in
                guard let pair = key.elements, pair.count == 2, let id = pair[0].string, let secret = pair[1].string
                else { throw LoadError("KEY.CREATE \(name): \(key.errorMessage ?? "unexpected reply")") }
                return TenantCredentials(name: name, keyID: id, secret: secret)
            }
        }
        return (tenants, creationSeconds)
    }

    /// Gives each tenant the company feeds report on, and `seed` contacts; returns the seeded ids by tenant.
    public func seed(_ tenants: [TenantCredentials]) throws -> [String: [Int64]] {
        var seeded: [String: [Int64]] = [:]
        // Only a mix that names the company needs it, and only --seed the contacts.
        guard plan.mix.usesCompany || plan.seed > 0 else { return seeded }
        for tenant in tenants {
            let client = try client(as: tenant)
            defer { client.close() }
            _ = try client.send("COMPANY.UPSERT", "load-co", "name", "Load Co")
            guard plan.seed > 0 else { continue }
            let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
            let replies = try client.pipeline(
                (0..<plan.seed).map { ["CONTACT.ADD", "email", "seed\($0)-\(run)@load.example", "lifecycle", "lead"] })
            seeded[tenant.name] = replies.compactMap { reply in
                if case .integer(let id) = reply { return Int64(id) }
                return nil
            }
        }
        return seeded
    }

    /// Drops the tenants `--setup` created.
    public func dropTenants(_ tenants: [TenantCredentials]) throws {
        guard case .setup(_, let adminKeyFile) = plan.tenants else { return }
        let words = try String(contentsOfFile: adminKeyFile, encoding: .utf8).split(whereSeparator: \.isWhitespace)
        let admin = try client(
            as: TenantCredentials(name: "(admin)", keyID: String(words[0]), secret: String(words[1])))
        defer { admin.close() }
        _ = try admin.pipeline(tenants.map { ["TENANT.DROP", $0.name, "CONFIRM", $0.name] })
    }

    // MARK: the run

    /// Drives the connections until the duration or request budget is spent (or Ctrl-C).
    public func run(
        tenants: [TenantCredentials], seeded: [String: [Int64]], progress: @escaping (String) -> Void
    ) throws -> (LoadReport, Journal) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: plan.threads)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        let workers = loops.map { LoadWorker(eventLoop: $0, entries: plan.mix.entries.count) }
        let control = RunControl(requests: plan.requests)
        // Switching connections move between every tenant: --connections of them in all, not per tenant.
        let connectingTenants = plan.switchTenants ? [tenants[0]] : tenants
        let total = connectingTenants.count * plan.connectionsPerTenant
        let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let interval = plan.rate.map { Int64(1e9 * Double(total) / $0) }
        var connections: [LoadConnection] = []
        for (tenantIndex, tenant) in connectingTenants.enumerated() {
            for slot in 0..<plan.connectionsPerTenant {
                let number = tenantIndex * plan.connectionsPerTenant + slot
                let scope = RequestGenerator.Scope(
                    runID: runID, connection: number, seededContacts: seeded[tenant.name] ?? [])
                connections.append(
                    LoadConnection(
                        worker: workers[number % workers.count],
                        target: ConnectionTarget(
                            host: plan.host, port: plan.port, tls: tls, serverName: serverName, tenant: tenant,
                            switching: plan.switchTenants ? tenants : nil),
                        control: control, pipeline: plan.pipeline, mix: plan.mix,
                        generator: RequestGenerator(scope: scope, mix: plan.mix),
                        interval: interval, startOffset: (interval ?? 0) * Int64(number) / Int64(max(1, total))))
            }
        }
        for connection in connections { connection.worker.eventLoop.execute { connection.connect() } }

        let started = ContinuousClock.now
        var measuredFrom = started
        var warming = plan.warmup > .zero
        var tick = 1
        var previous = CommandFigures()
        while !control.stopped.load(ordering: .relaxed), !Self.interrupted.load(ordering: .relaxed) {
            let now = ContinuousClock.now
            if warming, now - started >= plan.warmup {
                warming = false
                measuredFrom = now
                try forEach(workers) { $0.resetFigures() }
                previous = CommandFigures()
            }
            if !warming, let duration = plan.duration, now - measuredFrom >= duration { break }
            let next = started + .seconds(tick)
            if next > now {
                Thread.sleep(forTimeInterval: min(0.05, Double((next - now).components.attoseconds) / 1e18))
            }
            guard ContinuousClock.now >= next else { continue }
            tick += 1
            progress(try progressLine(workers, second: tick - 1, warming: warming, previous: &previous))
        }
        control.stopped.store(true, ordering: .relaxed)
        let measured = ContinuousClock.now - measuredFrom
        for connection in connections { connection.worker.eventLoop.execute { connection.stop() } }
        // Replies still owed after 5 s are given up: a stalled server does not hold the report.
        let deadline = ContinuousClock.now + .seconds(5)
        for connection in connections {
            let finished = Atomic<Bool>(false)
            connection.done.whenComplete { _ in finished.store(true, ordering: .relaxed) }
            while !finished.load(ordering: .relaxed), ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
        var figures = LoadFigures(entries: plan.mix.entries.count)
        var journal = Journal()
        journal.tenants = tenants
        for worker in workers {
            let (workerFigures, workerJournal) = try worker.eventLoop.submit { (worker.figures, worker.journal) }.wait()
            figures.add(workerFigures)
            journal.add(workerJournal)
        }
        let seconds = Double(measured.components.seconds) + Double(measured.components.attoseconds) / 1e18
        return (LoadReport(mix: plan.mix, figures: figures, seconds: seconds, openLoop: plan.rate != nil), journal)
    }

    private func forEach(_ workers: [LoadWorker], _ body: @escaping @Sendable (LoadWorker) -> Void) throws {
        for worker in workers { try worker.eventLoop.submit { body(worker) }.wait() }
    }

    /// `  3 s   12,345 req/s  errors 0  p50 1.20 ms  p99 3.40 ms`: the second since `previous`, the
    /// difference of the loops' running figures (each reply is recorded once, in its command's histogram).
    private func progressLine(_ workers: [LoadWorker], second: Int, warming: Bool, previous: inout CommandFigures)
        throws -> String
    {
        var current = CommandFigures()
        for worker in workers {
            current.add(try worker.eventLoop.submit { worker.figures.overall }.wait())
        }
        let interval = current.since(previous)
        previous = current
        return String(
            format: "%4d s %10d req/s  errors %d  p50 %.2f ms  p99 %.2f ms%@", second, interval.answered,
            interval.errorCount, interval.milliseconds(at: 50), interval.milliseconds(at: 99),
            (warming ? "  (warm-up)" : "") as NSString)
    }

    // MARK: verification

    /// Reads back every acknowledged write: contacts by id (with their email),
    /// and each feed's SKU level, which must match every update up to the
    /// feed's last applied SEQ (never below the last acknowledged one).
    /// Returns one line per problem found.
    public func verify(_ journal: Journal) throws -> (checked: Int, problems: [String]) {
        var problems: [String] = []
        var checked = 0
        for tenant in journal.tenants {
            let contacts = journal.contacts.filter { $0.tenant == tenant.name }
            let feeds = journal.feeds.filter { $0.value.tenant == tenant.name }.sorted { $0.key < $1.key }
            guard !contacts.isEmpty || !feeds.isEmpty else { continue }
            let client = try client(as: tenant)
            defer { client.close() }
            let replies = try client.pipeline(contacts.map { ["CONTACT.GET", String($0.id)] })
            for (contact, reply) in zip(contacts, replies) {
                checked += 1
                if reply.errorMessage != nil {
                    problems.append("tenant \(tenant.name): contact \(contact.id) is missing (\(reply.errorMessage!))")
                } else if reply.fields["email"] != contact.email {
                    problems.append(
                        "tenant \(tenant.name): contact \(contact.id) has email \(reply.fields["email"] ?? "none"), not \(contact.email)"
                    )
                }
            }
            for (name, feed) in feeds {
                checked += 1
                let info = try client.send("FEED.INFO", name)
                let level = try client.send("INV.GET", feed.company, feed.sku)
                guard let last = info.fields["last_seq"].flatMap(Int64.init) else {
                    problems.append("tenant \(tenant.name): feed \(name) is missing")
                    continue
                }
                if last < feed.acknowledgedSeq {
                    problems.append(
                        "tenant \(tenant.name): feed \(name) applied up to SEQ \(last), but \(feed.acknowledgedSeq) was acknowledged"
                    )
                }
                let expected = feed.level(through: last)
                let found = level.fields["on_hand"].flatMap(Int64.init)
                if found != expected, !(found == nil && feed.sent.isEmpty) {
                    problems.append(
                        "tenant \(tenant.name): \(feed.sku) has on_hand \(found.map(String.init) ?? "none"), expected \(expected) after SEQ \(last)"
                    )
                }
            }
        }
        return (checked, problems)
    }
}

extension RESPValue {
    /// A reply's field/value pairs (a RESP2 flat array or a RESP3 map), as text.
    var fields: [String: String] {
        var result: [String: String] = [:]
        if case .map(let pairs) = self {
            for (key, value) in pairs { if let key = key.string { result[key] = value.string } }
            return result
        }
        guard let elements else { return result }
        for index in stride(from: 0, to: elements.count - 1, by: 2) {
            if let key = elements[index].string {
                result[key] = elements[index + 1].string
            }
        }
        return result
    }
}
