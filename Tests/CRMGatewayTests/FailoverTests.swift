import CRMStore
import CRMTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

/// Two `crmgate` processes on one PostgreSQL (a private cluster, restarted
/// mid-test): an ERP streams a feed through gateway A while clients add
/// contacts through both; A is killed with `kill -9`, the ERP fails over to B
/// and resumes from `FEED.OPEN`; then PostgreSQL restarts under the load.
/// Nothing acknowledged is lost, every feed update is applied once, no reorder
/// is duplicated, and B's subscriber heard A's commits.
@Suite(.enabled(if: TestStorage.isPostgres, "PostgreSQL")) struct FailoverTests {
    /// What the clients were told, and what B's subscriber heard.
    actor Ledger {
        var contacts: [String] = []
        /// Ids of contacts acknowledged through A, for the subscriber on B to have heard.
        var contactsThroughA: Set<Int> = []
        /// The feed's highest acknowledged SEQ, and when the ERP's first update through B was acknowledged.
        var feedAcknowledged = 0
        var firstFeedAckOnB: ContinuousClock.Instant?
        var lastAck: ContinuousClock.Instant = .now

        func acknowledged(contact ext: String, id: Int?, throughA: Bool) {
            contacts.append(ext)
            if throughA, let id { contactsThroughA.insert(id) }
            lastAck = .now
        }

        func acknowledged(seq: Int, onB: Bool) {
            feedAcknowledged = max(feedAcknowledged, seq)
            if onB, firstFeedAckOnB == nil { firstFeedAckOnB = .now }
            lastAck = .now
        }
    }

    /// Where a client connects: gateway A until it is gone, then B.
    final class Gateways: Sendable {
        let a: (port: Int, ca: String)
        let b: (port: Int, ca: String)
        private let aAlive = Mutex(true)

        init(a: (Int, String), b: (Int, String)) {
            self.a = a
            self.b = b
        }

        var isAAlive: Bool { aAlive.withLock { $0 } }
        func killedA() { aAlive.withLock { $0 = false } }
    }

    /// Five units above the reorder rule's MIN: the sixth update orders, once, whichever gateway applies it.
    static let startingStock = 15

    /// Runs `body` with a private PostgreSQL cluster (`Ops/postgres`): its port and directory. Stops it after.
    static func withCluster(_ body: (Int, String) async throws -> Void) async throws {
        let port = try OpsScriptTests.freePort()
        let (started, text) = try await ChildProcess.run(
            OpsScriptTests.script("postgres"), ["start", String(port)], includingStandardError: false)
        let cluster = text.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(started == 0, "\(text)")
        do {
            try await body(port, cluster)
        } catch {
            _ = try? await ChildProcess.run(OpsScriptTests.script("postgres"), ["stop", cluster])
            throw error
        }
        #expect(try await ChildProcess.run(OpsScriptTests.script("postgres"), ["stop", cluster]).status == 0)
    }

    @Test func killNineOfOneGatewayAndARestartOfPostgreSQLLoseNothingAcknowledged() async throws {
        try await Self.withCluster(Self.failOver)
    }

    static func failOver(postgresPort: Int, cluster: String) async throws {
        let storage = ["--storage", "postgresql://postgres@127.0.0.1:\(postgresPort)/postgres"]
        let directoryA = try TemporaryDirectory()
        let directoryB = try TemporaryDirectory()
        let serverA = try await ServerProcess(dataDirectory: directoryA.path, arguments: storage)
        let serverB = try await ServerProcess(dataDirectory: directoryB.path, arguments: storage)
        let gateways = Gateways(
            a: (serverA.port, directoryA.path + "/tls/ca.pem"), b: (serverB.port, directoryB.path + "/tls/ca.pem"))

        let (owner, erp) = try await CrashSafetyTests.createTenant(directory: directoryA.path, port: serverA.port)
        let setup = try await CrashSafetyTests.connect(port: serverA.port, directory: directoryA.path, key: owner)
        for command in [
            ["COMPANY.ADD", "name", "Partner", "ext", "erp-1", "stage", "partner"],
            ["INV.RULE", "erp-1", "SKU-1", "MIN", "10", "MAX", "50"],
            ["INV.SET", "erp-1", "SKU-1", String(Self.startingStock)],
        ] {
            #expect(try await setup.send(command).errorMessage == nil, "\(command)")
        }
        await setup.close()

        let ledger = Ledger()
        let subscriber = try await CrashSafetyTests.connect(port: serverB.port, directory: directoryB.path, key: owner)
        var subscribe = ByteBuffer()
        subscribe.writeRESPCommand(["SUBSCRIBE", "events"])
        try await subscriber.write(raw: subscribe)
        #expect(try await subscriber.read() == .array([.bulk("subscribe"), .bulk("events"), .integer(1)]))

        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await Self.streamFeed(gateways, key: erp, ledger: ledger) }
                for (worker, throughA) in [(0, true), (1, false)] {
                    group.addTask {
                        await Self.addContacts(gateways, key: owner, worker: worker, startOnA: throughA, ledger: ledger)
                    }
                }
            }
        }

        try await Task.sleep(for: .seconds(2))
        let killed = ContinuousClock.now
        gateways.killedA()
        await serverA.stop(with: SIGKILL)
        for _ in 0..<200 where await ledger.firstFeedAckOnB == nil { try await Task.sleep(for: .milliseconds(50)) }
        let failover = try #require(await ledger.firstFeedAckOnB, "the ERP resumed on B") - killed
        try await Task.sleep(for: .seconds(1))

        #expect(try await ChildProcess.run(OpsScriptTests.script("postgres"), ["pause", cluster]).status == 0)
        let restarted = ContinuousClock.now
        try await Task.sleep(for: .seconds(1))
        #expect(try await ChildProcess.run(OpsScriptTests.script("postgres"), ["resume", cluster]).status == 0)
        var recovery: Duration?
        for _ in 0..<1500 where recovery == nil {
            if await ledger.lastAck > restarted + .seconds(1) { recovery = ContinuousClock.now - restarted }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(
            recovery != nil,
            "the gateway served again after PostgreSQL restarted, without a restart of its own: \(serverB.output.suffix(4000))"
        )
        try await Task.sleep(for: .seconds(1))
        // The ERP's sixth update is the one that orders: on a loaded machine (each reconnect's AUTH
        // taking seconds) the stream may not have reached it yet.
        for _ in 0..<3000 where await ledger.feedAcknowledged < Self.startingStock - 9 {
            try await Task.sleep(for: .milliseconds(20))
        }
        load.cancel()
        await load.value

        // Everything acknowledged is there, read through B.
        let client = try await CrashSafetyTests.connect(port: serverB.port, directory: directoryB.path, key: owner)
        let contacts = await ledger.contacts
        let replies = try await client.pipeline(contacts.map { ["CONTACT.GET", $0] })
        let lost = zip(contacts, replies).filter { $0.1.fields["ext"] != $0.0 }.map(\.0)
        #expect(lost == [], "acknowledged contacts lost")
        #expect(contacts.count > 50, "the load acknowledged \(contacts.count) contacts")
        let feed = try await client.send("FEED.INFO", "wh-1").fields
        let acknowledgedSeq = await ledger.feedAcknowledged
        let lastSeq = try #require(feed["last_seq"].flatMap(Int.init))
        #expect(lastSeq >= acknowledgedSeq, "every acknowledged feed update is applied")
        #expect(feed["applied"] == String(lastSeq), "each once: \(feed)")
        let stock = try await client.send("INV.GET", "erp-1", "SKU-1").fields["on_hand"]
        #expect(stock == String(Self.startingStock - lastSeq), "every feed update applied exactly once")
        let reorders = try #require(try await client.send("REORDER.LIST").elements?[1].elements)
        #expect(reorders.count == 1, "one reorder for the SKU, not one per gateway: \(reorders)")

        // B's subscriber heard the contacts added through A (their commits, announced by A); its
        // messages waited in its connection meanwhile.
        let throughA = await ledger.contactsThroughA
        var heard: Set<Int> = []
        var reorderEvents = 0
        while !throughA.isSubset(of: heard) {
            guard let text = try? await subscriber.read().elements?.last?.string else { break }
            let event = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            if event["type"] as? String == "contact.created", let id = event["record_id"] as? Int { heard.insert(id) }
            if event["type"] as? String == "reorder.created" { reorderEvents += 1 }
        }
        #expect(!throughA.isEmpty)
        #expect(throughA.isSubset(of: heard), "B's subscriber missed \(throughA.subtracting(heard).count) of A's")
        #expect(reorderEvents <= 1, "no reorder announced twice")
        print(
            "failover: \(contacts.count) contacts acknowledged, \(contacts.count - lost.count) found; feed updates "
                + "applied once: \(lastSeq) (acknowledged up to \(acknowledgedSeq)); stock \(stock ?? "?"); "
                + "reorders: \(reorders.count); contacts added through A heard on B: \(heard.intersection(throughA).count)"
                + " of \(throughA.count); ERP resumed on B \(failover) after kill -9 of A; served again "
                + "\(recovery.map { "\($0)" } ?? "never") after PostgreSQL's restart began (1 s down)")
        await subscriber.close()
        await client.close()
        await serverB.stop(with: SIGTERM)
    }

    /// The ERP: `INV.ADJ … -1 SEQ n` one after another through A; when A is
    /// gone, through B, resuming from what `FEED.OPEN` says was applied. A
    /// refusal (PostgreSQL restarting) is sent again.
    static func streamFeed(_ gateways: Gateways, key: [String], ledger: Ledger) async {
        var seq = 1
        while !Task.isCancelled {
            let onB = !gateways.isAAlive
            let (port, ca) = onB ? gateways.b : gateways.a
            guard let client = try? await TestClient.connect(port: port, caPath: ca),
                (try? await client.send("AUTH", key[0], key[1])) == .ok,
                let applied = try? await client.send("FEED.OPEN", "wh-1"), case .integer(let last) = applied
            else {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            seq = last + 1
            while !Task.isCancelled, onB || gateways.isAAlive {
                guard let reply = try? await client.send("INV.ADJ", "erp-1", "SKU-1", "-1", "SEQ", String(seq)) else {
                    break
                }
                if reply.errorMessage == nil {
                    await ledger.acknowledged(seq: seq, onB: onB)
                    seq += 1
                } else {
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            await client.close()
        }
    }

    /// Adds contacts ten at a time, through A (until it is gone) or B, reconnecting as needed.
    static func addContacts(_ gateways: Gateways, key: [String], worker: Int, startOnA: Bool, ledger: Ledger) async {
        var batch = 0
        while !Task.isCancelled {
            let throughA = startOnA && gateways.isAAlive
            let (port, ca) = throughA ? gateways.a : gateways.b
            guard let client = try? await TestClient.connect(port: port, caPath: ca),
                (try? await client.send("AUTH", key[0], key[1])) == .ok
            else {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            while !Task.isCancelled, !throughA || gateways.isAAlive {
                let exts = (0..<10).map { "w\(worker)-\(batch)-\($0)" }
                batch += 1
                guard let replies = try? await client.pipeline(exts.map { ["CONTACT.ADD", "ext", $0] }) else { break }
                for (ext, reply) in zip(exts, replies) where reply.errorMessage == nil {
                    let id: Int? = if case .integer(let id) = reply { id } else { nil }
                    await ledger.acknowledged(contact: ext, id: id, throughA: throughA)
                }
                if replies.contains(where: { $0.errorMessage != nil }) { try? await Task.sleep(for: .milliseconds(50)) }
            }
            await client.close()
        }
    }
}
