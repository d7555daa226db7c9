import CRMTestSupport
import Foundation
import GRDB
import Testing

/// `kill -9` in the middle of a write load: every acknowledged write is there
/// after the restart, no feed update is applied twice, and the databases are
/// intact. On both stores: on PostgreSQL, what the gateway acknowledged was
/// committed there, and the killed gateway's successor finds it.
@Suite struct CrashSafetyTests {
    /// `CRMGATE_CRASH_ITERATIONS` (default 4; the full run uses 20).
    static let iterations = ProcessInfo.processInfo.environment["CRMGATE_CRASH_ITERATIONS"].flatMap(Int.init) ?? 4

    /// What the clients know was acknowledged, across all crashes.
    actor Ledger {
        var contacts: [String] = []
        var deals: [String] = []
        /// The highest feed sequence number sent, acknowledged or not.
        var lastSentSeq = 0

        func acknowledged(contact ext: String) { contacts.append(ext) }
        func acknowledged(deal ext: String) { deals.append(ext) }
        func sent(seq: Int) { lastSentSeq = max(lastSentSeq, seq) }
    }

    static let startingStock = 1_000_000

    /// `--storage URL` for a server on `directory`'s PostgreSQL database, when the suites run on PostgreSQL.
    static func storageArguments(_ directory: TemporaryDirectory) async throws -> [String] {
        try await TestStorage.postgresURL(of: directory).map { ["--storage", "\($0)"] } ?? []
    }

    /// Checks SQLite's `files` in `directory` are intact (PostgreSQL checks its own).
    static func checkIntegrity(of files: [String], in directory: TemporaryDirectory) async throws {
        guard !TestStorage.isPostgres else { return }
        for file in files {
            let queue = try DatabaseQueue(path: directory.path + "/" + file)
            let check = try await queue.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
            #expect(check == "ok", "\(file)")
            try queue.close()
        }
    }

    @Test func acknowledgedWritesSurviveKillNineAtRandomMoments() async throws {
        let directory = try TemporaryDirectory()
        let storage = try await Self.storageArguments(directory)
        var server = try await ServerProcess(dataDirectory: directory.path, arguments: storage)
        let (owner, erp) = try await Self.createTenant(directory: directory.path, port: server.port)
        let setup = try await Self.connect(port: server.port, directory: directory.path, key: owner)
        for command in [
            ["COMPANY.ADD", "name", "Partner", "ext", "erp-1"], ["COMPANY.STAGE", "1", "transition", "REASON", "grow"],
            ["COMPANY.STAGE", "1", "partner", "REASON", "EDI"],
            ["INV.RULE", "erp-1", "SKU-1", "MIN", "5", "MAX", "50"],
            ["INV.SET", "erp-1", "SKU-1", String(Self.startingStock)], ["FEED.OPEN", "wh-1"],
        ] {
            #expect(try await setup.send(command).errorMessage == nil, "\(command)")
        }
        await setup.close()

        let ledger = Ledger()
        var logs = ""
        for iteration in 0..<Self.iterations {
            // The feed client replays what it cannot know was applied, as a partner ERP does after a reconnect.
            let replayFrom = await ledger.lastSentSeq
            let (port, path) = (server.port, directory.path)
            let load = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<2 {
                        group.addTask {
                            try await Self.addContacts(
                                port: port, directory: path, key: owner, prefix: "i\(iteration)w\(worker)",
                                ledger: ledger)
                        }
                    }
                    group.addTask {
                        try await Self.addDeals(
                            port: port, directory: path, key: owner, prefix: "i\(iteration)", ledger: ledger)
                    }
                    group.addTask {
                        try await Self.adjustStock(
                            port: port, directory: path, key: erp, replayFrom: replayFrom, ledger: ledger)
                    }
                    try await group.waitForAll()
                }
            }
            let acknowledgedBefore = await ledger.contacts.count
            try await Task.sleep(for: .milliseconds(Int.random(in: 300...1500)))
            // On a loaded machine the connections can take that long to start: the kill waits (up to
            // 10 s more) for this round's first acknowledged contacts, so every round has load to cut.
            for _ in 0..<100 where await ledger.contacts.count < acknowledgedBefore + 15 {
                try await Task.sleep(for: .milliseconds(100))
            }
            logs += await server.stop(with: SIGKILL)
            _ = await load.result

            try await Self.checkIntegrity(of: ["catalog.sqlite", "tenants/acme.sqlite"], in: directory)
            server = try await ServerProcess(dataDirectory: directory.path, arguments: storage)
        }

        // Replay the feed's tail once more, then check everything acknowledged is there, exactly once.
        let lastSeq = await ledger.lastSentSeq
        try await Self.adjustStock(
            port: server.port, directory: directory.path, key: erp, replayFrom: lastSeq, ledger: ledger, stopAt: lastSeq
        )
        let client = try await Self.connect(port: server.port, directory: directory.path, key: owner)
        let contacts = await ledger.contacts
        let deals = await ledger.deals
        #expect(contacts.count > Self.iterations * 10, "the load acknowledged \(contacts.count) contacts")
        let contactReplies = try await client.pipeline(contacts.map { ["CONTACT.GET", $0] })
        let lostContacts = zip(contacts, contactReplies).filter { $0.1.fields["ext"] != $0.0 }.map(\.0)
        #expect(lostContacts == [], "acknowledged contacts lost")
        let dealReplies = try await client.pipeline(deals.map { ["DEAL.GET", $0] })
        let lostDeals = zip(deals, dealReplies).filter { $0.1.fields["ext"] != $0.0 }.map(\.0)
        #expect(lostDeals == [], "acknowledged deals lost")
        let stock = try await client.send("INV.GET", "erp-1", "SKU-1").fields["on_hand"]
        #expect(stock == String(Self.startingStock - lastSeq), "every feed update applied exactly once")
        print(
            "crash safety: \(Self.iterations) kill -9s; acknowledged and found again: \(contacts.count) contacts, "
                + "\(deals.count) deals; feed updates applied exactly once: \(lastSeq); lost: "
                + "\(lostContacts.count + lostDeals.count)")
        let feed = try await client.send("FEED.INFO", "wh-1").fields
        #expect(feed["last_seq"] == String(lastSeq))
        #expect(feed["applied"] == String(lastSeq))
        await client.close()
        logs += await server.stop(with: SIGTERM)
        let adminKey = try String(contentsOfFile: directory.path + "/admin.key", encoding: .utf8).split(separator: " ")
        for secret in [owner[1], erp[1], adminKey[1].trimmingCharacters(in: .whitespacesAndNewlines)] {
            #expect(!logs.contains(secret), "a secret is in the server's output")
        }
    }

    /// Many tenants writing at once, their commits made durable together (WALSync): a
    /// `kill -9` loses none of what any of them was told was written.
    @Test func acknowledgedWritesOfManyTenantsWritingAtOnceSurviveKillNine() async throws {
        let directory = try TemporaryDirectory()
        let storage = try await Self.storageArguments(directory)
        var server = try await ServerProcess(dataDirectory: directory.path, arguments: storage)
        let admin = try await Self.connectAdmin(directory: directory.path, port: server.port)
        var keys: [[String]] = []
        for tenant in 0..<12 {
            #expect(try await admin.send("TENANT.CREATE", "t\(tenant)") == .ok)
            keys.append(
                try #require(try await admin.send("KEY.CREATE", "t\(tenant)", "owner").elements?.compactMap(\.string)))
        }
        await admin.close()
        let ledgers = keys.map { _ in Ledger() }
        for iteration in 0..<3 {
            var before: [Int] = []
            for ledger in ledgers { before.append(await ledger.contacts.count) }
            let (port, path, keys) = (server.port, directory.path, keys)
            let load = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (tenant, key) in keys.enumerated() {
                        group.addTask {
                            let client = try await Self.connect(port: port, directory: path, key: key)
                            for index in 0..<Int.max {
                                let ext = "i\(iteration)-\(index)"
                                let reply = try await client.send("CONTACT.ADD", "ext", ext, "lifecycle", "lead")
                                if reply.errorMessage == nil { await ledgers[tenant].acknowledged(contact: ext) }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 1000...2000)))
            // On a loaded machine (or PostgreSQL making twelve schemas) the tenants can take that long
            // to start: the kill waits (up to 20 s more) until each acknowledged a write this round.
            for _ in 0..<200 where await !Self.allAcknowledgedMore(ledgers, than: before) {
                try await Task.sleep(for: .milliseconds(100))
            }
            await server.stop(with: SIGKILL)
            _ = await load.result
            server = try await ServerProcess(dataDirectory: directory.path, arguments: storage)
        }
        var acknowledged = 0
        for (tenant, key) in keys.enumerated() {
            let contacts = await ledgers[tenant].contacts
            acknowledged += contacts.count
            let client = try await Self.connect(port: server.port, directory: directory.path, key: key)
            let replies = try await client.pipeline(contacts.map { ["CONTACT.GET", $0] })
            let lost = zip(contacts, replies).filter { $0.1.fields["ext"] != $0.0 }.map(\.0)
            #expect(lost == [], "tenant t\(tenant): acknowledged contacts lost")
            await client.close()
        }
        // A loaded CI machine acknowledges a few hundred; the check needs some from the tenants at once.
        #expect(acknowledged >= 12 * 3, "the load acknowledged \(acknowledged) contacts")
        await server.stop(with: SIGTERM)
        try await Self.checkIntegrity(of: (0..<12).map { "tenants/t\($0).sqlite" }, in: directory)
        print("crash safety, 12 tenants at once: 3 kill -9s; \(acknowledged) acknowledged contacts, all found again")
    }

    /// Whether every ledger holds more acknowledged contacts than `counts` says it held.
    static func allAcknowledgedMore(_ ledgers: [Ledger], than counts: [Int]) async -> Bool {
        for (ledger, count) in zip(ledgers, counts) where await ledger.contacts.count <= count { return false }
        return true
    }

    static func addContacts(port: Int, directory: String, key: [String], prefix: String, ledger: Ledger) async throws {
        let client = try await connect(port: port, directory: directory, key: key)
        for batch in 0..<Int.max {
            let exts = (0..<10).map { "\(prefix)-\(batch)-\($0)" }
            let replies = try await client.pipeline(
                exts.map { ["CONTACT.ADD", "email", "\($0)@example.com", "ext", $0] })
            for (ext, reply) in zip(exts, replies) where reply.errorMessage == nil {
                await ledger.acknowledged(contact: ext)
            }
        }
    }

    static func addDeals(port: Int, directory: String, key: [String], prefix: String, ledger: Ledger) async throws {
        let client = try await connect(port: port, directory: directory, key: key)
        for index in 0..<Int.max {
            let ext = "\(prefix)-deal-\(index)"
            let reply = try await client.send("DEAL.ADD", "title", "Deal \(index)", "company", "1", "ext", ext)
            if reply.errorMessage == nil { await ledger.acknowledged(deal: ext) }
        }
    }

    /// Sends `INV.ADJ … -1 FEED wh-1 SEQ n`, one at a time, starting a little
    /// before `replayFrom` (the last number sent before the crash, which may or
    /// may not have been applied), so replays and the unknown tail are both covered.
    static func adjustStock(
        port: Int, directory: String, key: [String], replayFrom: Int, ledger: Ledger, stopAt: Int = .max
    ) async throws {
        let client = try await connect(port: port, directory: directory, key: key)
        var seq = max(1, replayFrom - 2)
        while seq <= stopAt {
            await ledger.sent(seq: seq)
            let reply = try await client.send("INV.ADJ", "erp-1", "SKU-1", "-1", "FEED", "wh-1", "SEQ", String(seq))
            #expect(reply.errorMessage == nil, "INV.ADJ SEQ \(seq): \(reply)")
            seq += 1
        }
    }

    /// Creates tenant `acme` through the server's admin key; its owner and ERP keys (id, secret).
    static func createTenant(directory: String, port: Int) async throws -> (owner: [String], erp: [String]) {
        let admin = try await connectAdmin(directory: directory, port: port)
        #expect(try await admin.send("TENANT.CREATE", "acme") == .ok)
        let owner = try #require(try await admin.send("KEY.CREATE", "acme", "owner").elements?.compactMap(\.string))
        let erp = try #require(try await admin.send("KEY.CREATE", "acme", "erp").elements?.compactMap(\.string))
        await admin.close()
        return (owner, erp)
    }

    static func connectAdmin(directory: String, port: Int) async throws -> TestClient {
        let words = try String(contentsOfFile: directory + "/admin.key", encoding: .utf8).split(separator: " ")
        return try await connect(
            port: port, directory: directory,
            key: [String(words[0]), words[1].trimmingCharacters(in: .whitespacesAndNewlines)])
    }

    static func connect(port: Int, directory: String, key: [String]) async throws -> TestClient {
        let client = try await TestClient.connect(port: port, caPath: directory + "/tls/ca.pem")
        #expect(try await client.send("AUTH", key[0], key[1]) == .ok)
        return client
    }
}
