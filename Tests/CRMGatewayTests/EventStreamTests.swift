import CRMProtocol
import Foundation
import NIOCore
import Testing

@testable import CRMGateway

/// EVENTS.READ and pub/sub over real TLS connections.
@Suite struct EventStreamTests {
    /// Company 1 (`ext erp-1`) at partner with SKU-1 ruled MIN 10 MAX 50 and 30 on hand.
    private func partnerWithStock(_ client: TestClient) async throws {
        try await client.send("COMPANY.ADD", "name", "Initech", "ext", "erp-1", "stage", "partner")
        try await client.send("INV.SET", "erp-1", "SKU-1", "30")
        #expect(try await client.send("INV.RULE", "erp-1", "SKU-1", "MIN", "10", "MAX", "50") == .ok)
    }

    private func payload(_ frame: RESPValue) throws -> [String: Any] {
        let text = try #require(frame.elements?.last?.string)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func readReturnsTheLogInOrderFilteredAndPaged() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await partnerWithStock(client)
        try await client.send("INV.ADJ", "erp-1", "SKU-1", "-25")
        let all = try #require(try await client.send("EVENTS.READ").elements).map(\.fields)
        let seqs = all.compactMap { Int($0["seq"] ?? "") }
        #expect(seqs == Array(1...seqs.count), "every event, in order, from the start")
        #expect(all.first?["type"] == "company.created")
        #expect(all.contains { $0["type"] == "reorder.created" && $0["record_type"] == "reorder" })

        let page = try #require(try await client.send("EVENTS.READ", "FROM", "2", "COUNT", "2").elements)
        #expect(page.map { $0.fields["seq"] } == ["3", "4"], "FROM is exclusive, like XREAD")
        let reorders = try #require(try await client.send("EVENTS.READ", "TYPE", "reorder.*", "COUNT", "5").elements)
        #expect(reorders.map { $0.fields["type"] } == ["reorder.created"])
        let created = reorders[0].fields
        let fields = try #require(
            try JSONSerialization.jsonObject(with: Data(created["fields"]!.utf8)) as? [String: String])
        #expect(fields["quantity"] == "45", "50 - 5")
        let both = try #require(
            try await client.send("EVENTS.READ", "TYPE", "company.created", "reorder.created", "COUNT", "9").elements)
        #expect(both.map { $0.fields["type"] } == ["company.created", "reorder.created"])
        #expect(try await client.send("EVENTS.READ", "FROM", "1000").elements?.isEmpty == true)

        #expect(
            try await client.send("EVENTS.READ", "COUNT", "0")
                == .error("INVALID COUNT: must be an integer from 1 to 1000"))
        #expect(
            try await client.send("EVENTS.READ", "TYPE", "DROP TABLE")
                == .error(
                    "INVALID TYPE: an event type such as reorder.created, or a prefix such as reorder.*"))
        #expect(try await client.send("EVENTS.READ", "TYPE") == .error("INVALID TYPE: missing its value"))
        #expect(try await client.send("EVENTS.READ", "FROM", "-1").errorMessage?.hasPrefix("INVALID FROM") == true)
        #expect(try await client.send("EVENTS.READ", "BLOCK", "x").errorMessage?.hasPrefix("INVALID BLOCK") == true)
        await client.close()
        await gateway.stop()
    }

    @Test func blockingReadWakesOnTheNextMatchingCommitAndTimesOut() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        let reader = try await gateway.connect(keyID: key.id, secret: key.secret)
        let writer = try await gateway.connect(keyID: key.id, secret: key.secret)
        try await partnerWithStock(writer)
        let last = try #require(try await reader.send("EVENTS.READ").elements?.last?.fields["seq"])

        let started = ContinuousClock.now
        #expect(try await reader.send("EVENTS.READ", "FROM", last, "BLOCK", "200") == .null)
        #expect(ContinuousClock.now - started >= .milliseconds(150), "waited for the timeout")

        var request = ByteBuffer()
        request.writeRESPCommand(["EVENTS.READ", "FROM", last, "TYPE", "reorder.*", "BLOCK", "0"])
        try await reader.write(raw: request)
        try await Task.sleep(for: .milliseconds(100))
        try await writer.send("INV.ADJ", "erp-1", "SKU-1", "-1")
        try await writer.send("CONTACT.ADD", "first_name", "Ann")
        try await writer.send("INV.ADJ", "erp-1", "SKU-1", "-25")
        let woken = try #require(try await reader.read().elements)
        #expect(woken.map { $0.fields["type"] } == ["reorder.created"], "non-matching commits did not end the wait")
        #expect(try await reader.send("PING") == .simpleString("PONG"), "the connection goes on after the wait")

        try await reader.write(raw: request)
        try await Task.sleep(for: .milliseconds(50))
        await reader.close()
        #expect(try await writer.send("PING") == .simpleString("PONG"))
        await writer.close()
        await gateway.stop()
    }

    @Test func resp2SubscribeModePushesMessagesAndAllowsOnlyPubSubCommands() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        let subscriber = try await gateway.connect(keyID: key.id, secret: key.secret)
        let writer = try await gateway.connect(keyID: key.id, secret: key.secret)

        var subscribe = ByteBuffer()
        subscribe.writeRESPCommand(["SUBSCRIBE", "reorders", "events"])
        try await subscriber.write(raw: subscribe)
        #expect(try await subscriber.read() == .array([.bulk("subscribe"), .bulk("reorders"), .integer(1)]))
        #expect(try await subscriber.read() == .array([.bulk("subscribe"), .bulk("events"), .integer(2)]))
        #expect(
            try await subscriber.send("CONTACT.GET", "1")
                == .error(
                    "ERR Can't execute 'contact.get': only (P)SUBSCRIBE / (P)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                ))
        #expect(try await subscriber.send("PING") == .array([.bulk("pong"), .bulk("")]))
        #expect(
            try await subscriber.send("SUBSCRIBE", "stock")
                == .error("INVALID stock: no such channel; channels: events, reorders"))

        try await partnerWithStock(writer)
        try await writer.send("INV.ADJ", "erp-1", "SKU-1", "-25")
        var types: [String] = []
        var reorderMessages = 0
        while !types.contains("reorder.created") || reorderMessages == 0 {
            let frame = try await subscriber.read()
            let elements = try #require(frame.elements)
            #expect(elements[0] == .bulk("message"))
            if elements[1] == .bulk("reorders") {
                reorderMessages += 1
                #expect(try payload(frame)["type"] as? String == "reorder.created")
            } else {
                types.append(try payload(frame)["type"] as? String ?? "")
            }
        }
        #expect(
            types == [
                "company.created", "inventory.set", "inventory.rule", "inventory.adjusted", "deal.created",
                "reorder.created",
            ])

        var unsubscribe = ByteBuffer()
        unsubscribe.writeRESPCommand(["UNSUBSCRIBE"])
        try await subscriber.write(raw: unsubscribe)
        #expect(try await subscriber.read() == .array([.bulk("unsubscribe"), .bulk("reorders"), .integer(1)]))
        #expect(try await subscriber.read() == .array([.bulk("unsubscribe"), .bulk("events"), .integer(0)]))
        #expect(try await subscriber.send("CONTACT.GET", "1").errorMessage == "NOTFOUND no such contact")
        #expect(
            try await subscriber.send("UNSUBSCRIBE") == .array([.bulk("unsubscribe"), .null, .integer(0)]))
        await subscriber.close()
        await writer.close()
        await gateway.stop()
    }

    @Test func resp3PushFramesArriveBesideOrdinaryReplies() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        let subscriber = try await gateway.connect(keyID: key.id, secret: key.secret)
        let writer = try await gateway.connect(keyID: key.id, secret: key.secret)
        try await subscriber.send("HELLO", "3")
        #expect(
            try await subscriber.send("PSUBSCRIBE", "re*")
                == .push([.bulk("psubscribe"), .bulk("re*"), .integer(1)]))
        #expect(try await subscriber.send("PING") == .simpleString("PONG"), "RESP3 has no subscribe mode")
        try await partnerWithStock(writer)
        try await writer.send("INV.ADJ", "erp-1", "SKU-1", "-25")
        let message = try await subscriber.read()
        guard case .push(let elements) = message else {
            Issue.record("expected a push frame, got \(message)")
            return
        }
        #expect(Array(elements.prefix(3)) == [.bulk("pmessage"), .bulk("re*"), .bulk("reorders")])
        #expect(try payload(message)["record_type"] as? String == "reorder")
        #expect(try await subscriber.send("CONTACT.GET", "1").errorMessage == "NOTFOUND no such contact")
        await subscriber.close()
        await writer.close()
        await gateway.stop()
    }

    @Test func subscribersHearOnlyTheirOwnTenant() async throws {
        let gateway = try await TestGateway.start()
        let other = try await gateway.connect(tenant: "globex")
        let acme = try await gateway.connect(tenant: "acme")
        #expect(
            try await other.send("SUBSCRIBE", "events") == .array([.bulk("subscribe"), .bulk("events"), .integer(1)]))
        try await partnerWithStock(acme)
        try await other.send("UNSUBSCRIBE")
        try await other.send("CONTACT.ADD", "first_name", "Own")
        let events = try await other.send("EVENTS.READ")
        #expect(events.elements?.map { $0.fields["type"] } == ["contact.created"], "\(events)")

        let admin = try await gateway.connectAsAdmin()
        #expect(try await admin.send("SUBSCRIBE", "events").errorMessage?.hasPrefix("NOPERM") == true)
        #expect(try await admin.send("EVENTS.READ").errorMessage?.hasPrefix("NOPERM") == true)
        await admin.close()

        // Re-authenticating as another tenant drops the subscriptions of the first.
        let key = try await gateway.createTenantKey("globex", create: false)
        #expect(try await acme.send("HELLO", "3") != .null)
        #expect(
            try await acme.send("SUBSCRIBE", "events") == .push([.bulk("subscribe"), .bulk("events"), .integer(1)]))
        #expect(try await acme.send("AUTH", key.id, key.secret) == .ok)
        let writer = try await gateway.connect(tenant: "acme", create: false)
        try await writer.send("CONTACT.ADD", "first_name", "Secret")
        #expect(try await acme.send("PING") == .simpleString("PONG"), "no acme message was pushed before this reply")
        await writer.close()
        await acme.close()
        await other.close()
        await gateway.stop()
    }

    @Test func aSubscriberThatStopsReadingIsDisconnectedAndResumesWithRead() async throws {
        let gateway = try await TestGateway.start { $0.clientOutputLimit = 64 * 1024 }
        let key = try await gateway.createTenantKey("acme")
        let subscriber = try await TestClient.connect(
            port: gateway.port, caPath: gateway.caPath, receiveBufferSize: 4096)
        #expect(try await subscriber.send("AUTH", key.id, key.secret) == .ok)
        #expect(
            try await subscriber.send("SUBSCRIBE", "events")
                == .array([.bulk("subscribe"), .bulk("events"), .integer(1)]))
        try await subscriber.setReading(false)

        let writer = try await gateway.connect(keyID: key.id, secret: key.secret)
        let notes = String(repeating: "n", count: 2000)
        let total = 3000
        for start in stride(from: 0, to: total, by: 500) {
            let replies = try await writer.pipeline(
                (start..<start + 500).map { ["CONTACT.ADD", "first_name", "Contact \($0)", "notes", notes] })
            #expect(replies.allSatisfy { $0.errorMessage == nil }, "\(replies.first { $0.errorMessage != nil }!)")
        }
        let admin = try await gateway.connectAsAdmin()
        let stats = try #require(try await admin.send("INFO", "stats").string)
        await admin.close()
        #expect(stats.contains("client_output_limit_disconnections:1"))

        // The server may have closed it already (the client then saw EOF): what it sent is still buffered here.
        try? await subscriber.setReading(true)
        var lastSeq = 0
        while let frame = try? await subscriber.read() {
            lastSeq = try payload(frame)["seq"] as? Int ?? lastSeq
        }
        #expect(lastSeq < total, "the stalled subscriber was cut off before it got every event")
        let rest = try #require(try await writer.send("EVENTS.READ", "FROM", String(lastSeq), "COUNT", "1000").elements)
        #expect(rest.first?.fields["seq"] == String(lastSeq + 1), "EVENTS.READ resumes where the messages stopped")
        #expect(try await writer.send("PING") == .simpleString("PONG"))
        await writer.close()
        await gateway.stop()
    }

    @Test func globPatternsMatchAsRedisDoes() {
        let cases: [(String, String, Bool)] = [
            ("*", "events", true), ("re*", "reorders", true), ("re*", "events", false), ("?vents", "events", true),
            ("[er]vents", "events", true), ("[^e]vents", "events", false), ("[a-f]vents", "events", true),
            ("ev\\ents", "events", true), ("events?", "events", false), ("*s", "reorders", true),
        ]
        for (pattern, text, expected) in cases {
            #expect(
                Glob.matches(pattern: Array(pattern.utf8), text: Array(text.utf8)) == expected, "\(pattern) ~ \(text)")
        }
    }
}
