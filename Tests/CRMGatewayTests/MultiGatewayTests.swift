import CRMProtocol
import CRMTestSupport
import Foundation
import NIOCore
import Testing

/// Two gateways on one PostgreSQL, each answering any tenant: a write through
/// one is what the other reads next, its events reach the other's listeners,
/// and what one writer per tenant guaranteed (IFVERSION, feed admission, one
/// open reorder per SKU, event order) holds with both writing the same tenant at once.
@Suite(.enabled(if: TestStorage.isPostgres, "PostgreSQL")) struct MultiGatewayTests {
    /// The two gateways, and an owner's connection to tenant acme on each.
    struct Pair {
        let a: TestGateway
        let b: TestGateway
        let onA: TestClient
        let onB: TestClient
        let key: (id: String, secret: String)

        static func start() async throws -> Pair {
            let a = try await TestGateway.start()
            let b = try await TestGateway.start(sharingStorageWith: a)
            let key = try await a.createTenantKey("acme")
            return Pair(
                a: a, b: b, onA: try await a.connect(keyID: key.id, secret: key.secret),
                onB: try await b.connect(keyID: key.id, secret: key.secret), key: key)
        }

        /// Sends `a`'s commands through A and `b`'s through B, all before reading any reply, so
        /// the two gateways work on them at once; returns A's replies, then B's.
        func race(_ a: [[String]], _ b: [[String]]) async throws -> (a: [RESPValue], b: [RESPValue]) {
            for (client, commands) in [(onA, a), (onB, b)] {
                var requests = ByteBuffer()
                for command in commands { requests.writeRESPCommand(command) }
                try await client.write(raw: requests)
            }
            var replies: ([RESPValue], [RESPValue]) = ([], [])
            for _ in a { replies.0.append(try await onA.read()) }
            for _ in b { replies.1.append(try await onB.read()) }
            return replies
        }

        func stop() async {
            await onA.close()
            await onB.close()
            await b.stop()
            await a.stop()
        }
    }

    @Test func aWriteThroughOneGatewayIsWhatTheOtherReadsNextFromItsCache() async throws {
        let pair = try await Pair.start()
        #expect(try await pair.onA.send("CONTACT.ADD", "first_name", "v0", "ext", "c-1") == .integer(1))
        var stale: [String] = []
        for round in 1...200 {
            // Read twice on B, so the second read is its cache's, then change the contact through A.
            _ = try await pair.onB.send("CONTACT.GET", "1")
            _ = try await pair.onB.send("CONTACT.GET", "c-1")
            let through = round.isMultiple(of: 2) ? pair.onA : pair.onB
            #expect(try await through.send("CONTACT.SET", "1", "first_name", "v\(round)").errorMessage == nil)
            for reference in ["1", "c-1"] {
                let seen = try await pair.onB.send("CONTACT.GET", reference).fields["first_name"]
                if seen != "v\(round)" { stale.append("round \(round) \(reference): \(seen ?? "nil")") }
            }
        }
        #expect(stale == [], "B served a record older than A's acknowledged write")
        let info = try await pair.b.connectAsAdmin()
        let storage = try #require(try await info.send("INFO", "storage").string)
        #expect(storage.contains("postgres_other_gateways_heard:1"), "\(storage)")
        await info.close()
        await pair.stop()
    }

    @Test func ifVersionAdmitsOneOfTwoGatewaysRacingOnTheSameVersion() async throws {
        let pair = try await Pair.start()
        #expect(try await pair.onA.send("CONTACT.ADD", "first_name", "Ann") == .integer(1))
        var wins = 0
        for version in 1...40 {
            let raced = try await pair.race(
                [["CONTACT.SET", "1", "last_name", "A\(version)", "IFVERSION", "\(version)"]],
                [["CONTACT.SET", "1", "last_name", "B\(version)", "IFVERSION", "\(version)"]])
            let replies = raced.a + raced.b
            #expect(replies.filter { $0 == .integer(version + 1) }.count == 1, "\(replies)")
            #expect(replies.filter { $0.errorMessage?.hasPrefix("CONFLICT") == true }.count == 1, "\(replies)")
            wins += 1
        }
        #expect(try await pair.onB.send("CONTACT.GET", "1").fields["version"] == "41")
        #expect(wins == 40)
        await pair.stop()
    }

    @Test func aFeedsUpdatesAreAppliedOnceWhenBothGatewaysRaceOnEachSeq() async throws {
        let pair = try await Pair.start()
        for command in [
            ["COMPANY.ADD", "name", "Initech", "ext", "erp-1", "stage", "partner"],
            ["INV.SET", "erp-1", "SKU-1", "1000"],
            ["INV.RULE", "erp-1", "SKU-1", "MIN", "950", "MAX", "1000"], ["FEED.OPEN", "wh-1"],
        ] {
            #expect(try await pair.onA.send(command).errorMessage == nil, "\(command)")
        }
        #expect(try await pair.onB.send("FEED.OPEN", "wh-1").errorMessage == nil)
        var duplicates = 0
        for seq in 1...100 {
            let command = ["INV.ADJ", "erp-1", "SKU-1", "-1", "FEED", "wh-1", "SEQ", "\(seq)"]
            let raced = try await pair.race([command], [command])
            let replies = raced.a + raced.b
            #expect(replies.contains(.integer(1000 - seq)), "SEQ \(seq): \(replies)")
            #expect(replies.filter { $0 == .simpleString("DUP") }.count == 1, "SEQ \(seq): \(replies)")
            duplicates += replies.filter { $0 == .simpleString("DUP") }.count
        }
        #expect(duplicates == 100)
        #expect(try await pair.onB.send("INV.GET", "erp-1", "SKU-1").fields["on_hand"] == "900")
        let feed = try await pair.onA.send("FEED.INFO", "wh-1").fields
        #expect(feed["applied"] == "100")
        #expect(feed["duplicates"] == "100")
        // Stock fell below MIN many times over, from both gateways: one open reorder, for the difference.
        let reorders = try #require(try await pair.onB.send("REORDER.LIST").elements?[1].elements)
        #expect(reorders.count == 1, "\(reorders)")
        await pair.stop()
    }

    @Test func oneOpenReorderPerSkuWhenBothGatewaysConsumeStockAtOnce() async throws {
        let pair = try await Pair.start()
        for command in [
            ["COMPANY.ADD", "name", "Initech", "ext", "erp-1", "stage", "partner"],
            ["INV.RULE", "erp-1", "SKU-1", "MIN", "10", "MAX", "50"], ["INV.SET", "erp-1", "SKU-1", "40"],
        ] {
            #expect(try await pair.onA.send(command).errorMessage == nil, "\(command)")
        }
        let commands = Array(repeating: ["INV.ADJ", "erp-1", "SKU-1", "-1"], count: 35)
        let raced = try await pair.race(commands, commands)
        let replies = raced.a + raced.b
        #expect(replies.allSatisfy { $0.errorMessage == nil })
        #expect(try await pair.onA.send("INV.GET", "erp-1", "SKU-1").fields["on_hand"] == "-30")
        let reorders = try #require(try await pair.onB.send("REORDER.LIST").elements?[1].elements)
        #expect(reorders.count == 1, "one open reorder for the SKU: \(reorders)")
        await pair.stop()
    }

    @Test func eventsCommittedThroughEitherGatewayReachTheOthersListenersInOrder() async throws {
        let pair = try await Pair.start()
        let subscriber = try await pair.b.connect(keyID: pair.key.id, secret: pair.key.secret)
        var subscribe = ByteBuffer()
        subscribe.writeRESPCommand(["SUBSCRIBE", "events"])
        try await subscriber.write(raw: subscribe)
        #expect(try await subscriber.read() == .array([.bulk("subscribe"), .bulk("events"), .integer(1)]))

        // A blocking read on B, woken by a commit through A.
        let reader = try await pair.b.connect(keyID: pair.key.id, secret: pair.key.secret)
        var block = ByteBuffer()
        block.writeRESPCommand(["EVENTS.READ", "FROM", "0", "BLOCK", "5000"])
        try await reader.write(raw: block)
        try await Task.sleep(for: .milliseconds(100))
        let sent = ContinuousClock.now
        #expect(try await pair.onA.send("CONTACT.ADD", "first_name", "Woken") == .integer(1))
        let woken = try #require(try await reader.read().elements)
        let wakeLatency = ContinuousClock.now - sent
        #expect(woken.first?.fields["type"] == "contact.created")
        // Woken by A's commit, not by the timeout (the wake-up's latency is measured by Ops/bench, not here).
        #expect(wakeLatency < .seconds(4), "woken \(wakeLatency) after the write was sent to A")
        await reader.close()

        // Both gateways write at once; B's subscriber hears every event once, in seq order.
        _ = try await pair.race(
            (0..<60).map { ["CONTACT.ADD", "first_name", "a\($0)"] },
            (0..<60).map { ["CONTACT.ADD", "first_name", "b\($0)"] })
        var seqs: [Int] = []
        while seqs.count < 121 {
            let frame = try await subscriber.read()
            let text = try #require(frame.elements?.last?.string)
            let event = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            seqs.append(try #require(event["seq"] as? Int))
        }
        #expect(seqs == Array(1...121), "every event once, gap-free and in order")
        print(
            "two gateways: a blocking read on B woke \(wakeLatency) after the tenant's first write was sent to A;"
                + " 121 events in order on B")
        await subscriber.close()
        await pair.stop()
    }

    /// Waits until `gateway` hears the other gateways again (`INFO storage`).
    static func waitUntilHearing(_ gateway: TestGateway) async throws {
        let admin = try await gateway.connectAsAdmin()
        var hearing = false
        for _ in 0..<100 where !hearing {
            hearing =
                try await admin.send("INFO", "storage").string?.contains("postgres_other_gateways_heard:1") == true
            if !hearing { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(hearing)
        await admin.close()
    }

    @Test func aGatewayThatStopsHearingTheOtherServesNoCachedRecordUntilItHearsAgain() async throws {
        let pair = try await Pair.start()
        #expect(try await pair.onA.send("CONTACT.ADD", "first_name", "v0") == .integer(1))
        for round in 1...5 {
            _ = try await pair.onB.send("CONTACT.GET", "1")
            _ = try await pair.onB.send("CONTACT.GET", "1")
            // B's listening connection dies: A's next change is announced to nobody on B.
            #expect(try await TestStorage.terminateListeners(of: pair.a.directory) >= 2)
            #expect(try await pair.onA.send("CONTACT.SET", "1", "first_name", "v\(round)").errorMessage == nil)
            #expect(try await pair.onB.send("CONTACT.GET", "1").fields["first_name"] == "v\(round)")
            for gateway in [pair.a, pair.b] { try await Self.waitUntilHearing(gateway) }
        }
        await pair.stop()
    }
}

extension MultiGatewayTests {
    @Test func aKeyRevokedOrATenantSuspendedOnOneGatewayEndsItsSessionsOnTheOther() async throws {
        let pair = try await Pair.start()
        let admin = try await pair.a.connectAsAdmin()
        #expect(try await admin.send("KEY.REVOKE", pair.key.id) == .ok)
        #expect(await pair.onB.isClosedByServer(), "the revoked key's session on B was closed")
        let refused = try await pair.b.connect()
        #expect(
            try await refused.send("AUTH", pair.key.id, pair.key.secret).errorMessage?.hasPrefix("WRONGPASS") == true)
        await refused.close()

        let key = try await pair.a.createTenantKey("acme", create: false)
        let onB = try await pair.b.connect(keyID: key.id, secret: key.secret)
        #expect(try await onB.send("PING") == .simpleString("PONG"))
        #expect(try await admin.send("TENANT.SUSPEND", "acme") == .ok)
        #expect(await onB.isClosedByServer(), "the suspended tenant's session on B was closed")
        await onB.close()
        await admin.close()
        await pair.stop()
    }
}
