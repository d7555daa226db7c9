import CRMProtocol
import NIOCore
import Testing

/// Inventory, ERP feeds and automatic partner-stage reordering, end to end over TLS.
@Suite struct ReorderTests {
    /// A tenant with company 1 (`ext erp-1001`) at `stage`, SKU-42 ruled MIN 20 MAX 100 MULTIPLE 12 and 50 on hand.
    private func partner(at stage: String, gateway: TestGateway) async throws -> TestClient {
        let client = try await gateway.connect(tenant: "acme")
        try await client.send("COMPANY.ADD", "name", "Initech", "ext", "erp-1001", "stage", stage)
        #expect(try await client.send("INV.SET", "erp-1001", "SKU-42", "50") == .integer(50))
        #expect(
            try await client.send("INV.RULE", "erp-1001", "SKU-42", "MIN", "20", "MAX", "100", "MULTIPLE", "12") == .ok)
        return client
    }

    private func reorders(_ client: TestClient, _ filter: String...) async throws -> [[String: String]] {
        (try await client.send(["REORDER.LIST"] + filter).elements?[1].elements ?? []).map(\.fields)
    }

    @Test func aPartnerBelowMinGetsExactlyOneReorderWithADeal() async throws {
        let gateway = try await TestGateway.start()
        let client = try await partner(at: "partner", gateway: gateway)
        #expect(try await client.send("INV.ADJ", "erp-1001", "SKU-42", "-31") == .integer(19))
        var level = try await client.send("INV.GET", "erp-1001", "SKU-42").fields
        #expect(level["on_order"] == "84", "100 - 19 = 81, rounded up to a multiple of 12")
        var open = try await reorders(client)
        #expect(open.count == 1)
        #expect(open[0]["quantity"] == "84")
        #expect(open[0]["status"] == "proposed")
        let deal = try await client.send("DEAL.GET", open[0]["deal"]!).fields
        #expect(deal["source"] == "auto-reorder")
        #expect(deal["company"] == "1")

        #expect(try await client.send("INV.ADJ", "erp-1001", "SKU-42", "-19") == .integer(0))
        #expect(try await reorders(client).count == 1, "one open reorder per company and SKU")
        #expect(
            try await client.send("REORDER.RECEIVE", "1")
                == .error("INVALID status: only a confirmed reorder can be received (this one is proposed)"))
        #expect(try await client.send("REORDER.CONFIRM", "1").fields["status"] == "confirmed")
        let received = try await client.send("REORDER.RECEIVE", "1", "QTY", "80").fields
        #expect(received["status"] == "received")
        #expect(received["received"] == "80")
        level = try await client.send("INV.GET", "erp-1001", "SKU-42").fields
        #expect(level["on_hand"] == "80")
        #expect(level["on_order"] == "0", "the short-shipped rest is closed")
        #expect(try await client.send("DEAL.GET", open[0]["deal"]!).fields["status"] == "won")
        #expect(try await reorders(client, "STATUS", "proposed").isEmpty)

        try await client.send("INV.ADJ", "erp-1001", "SKU-42", "-61")
        open = try await reorders(client, "STATUS", "proposed")
        #expect(open.map { $0["quantity"] } == ["84"], "below MIN again: a new reorder")
        #expect(try await client.send("REORDER.CANCEL", "2", "REASON", "site closed").fields["status"] == "cancelled")
        #expect(try await client.send("INV.GET", "erp-1001", "SKU-42").fields["on_order"] == "0")
        #expect(try await client.send("DEAL.GET", open[0]["deal"]!).fields["status"] == "lost")
        let events = try await client.send("TIMELINE", "company", "1", "LIMIT", "100").elements?[1].elements ?? []
        #expect(events.filter { $0.fields["type"] == "reorder.created" }.count == 2)
        await client.close()
        await gateway.stop()
    }

    /// A rule on a SKU whose stock the ERP never reported orders nothing: an
    /// unknown level is not an empty one. The first report is evaluated.
    @Test func aRuleAloneNeverOrdersTheFirstReportedLevelIs() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await client.send("COMPANY.ADD", "name", "Initech", "ext", "erp-1001", "stage", "partner")
        #expect(try await client.send("INV.RULE", "erp-1001", "SKU-9", "MIN", "5", "MAX", "50") == .ok)
        #expect(try await client.send("INV.PRICE", "erp-1001", "SKU-9", "100", "EUR") == .ok)
        #expect(try await reorders(client).isEmpty, "no stock was reported yet")
        #expect(try await client.send("INV.GET", "erp-1001", "SKU-9").fields["on_order"] == "0")
        #expect(try await client.send("COMPANY.STAGE", "1", "transition", "REASON", "review").errorMessage == nil)
        #expect(try await client.send("COMPANY.STAGE", "1", "partner", "REASON", "renewed").errorMessage == nil)
        #expect(try await reorders(client).isEmpty, "re-evaluation at partner does not order either")
        #expect(try await client.send("INV.ADJ", "erp-1001", "SKU-9", "3") == .integer(3))
        let open = try await reorders(client)
        #expect(open.count == 1)
        #expect(open.first?["quantity"] == "47", "the first report, 3 on hand, is evaluated: 50 - 3")
        await client.close()
        await gateway.stop()
    }

    @Test(arguments: ["transaction", "transition", "conflict"])
    func noReorderBelowPartner(stage: String) async throws {
        let gateway = try await TestGateway.start()
        let client = try await partner(at: stage, gateway: gateway)
        try await client.send("INV.ADJ", "erp-1001", "SKU-42", "-45")
        #expect(try await reorders(client).isEmpty)
        #expect(try await client.send("INV.GET", "erp-1001", "SKU-42").fields["on_order"] == "0")
        await client.close()
        await gateway.stop()
    }

    @Test func conflictHoldsOpenReordersAndPartnerResumesEvaluation() async throws {
        let gateway = try await TestGateway.start()
        let client = try await partner(at: "transition", gateway: gateway)
        try await client.send("INV.SET", "erp-1001", "SKU-7", "0")
        try await client.send("INV.RULE", "erp-1001", "SKU-7", "MIN", "5", "MAX", "10")
        try await client.send("INV.ADJ", "erp-1001", "SKU-42", "-40")
        #expect(try await reorders(client).isEmpty)
        try await client.send("COMPANY.STAGE", "1", "partner", "REASON", "EDI live")
        #expect(try await reorders(client).map { $0["sku"] } == ["SKU-42", "SKU-7"], "reaching partner evaluates")
        try await client.send("COMPANY.STAGE", "1", "conflict", "REASON", "missed deliveries")
        #expect(try await reorders(client, "STATUS", "held").count == 2)
        try await client.send("REORDER.CANCEL", "2", "REASON", "not while in conflict")
        try await client.send("INV.ADJ", "erp-1001", "SKU-7", "-1")
        #expect(try await reorders(client, "STATUS", "proposed").isEmpty, "no new reorders in conflict")
        #expect(
            try await client.send("REORDER.CONFIRM", "1")
                == .error("INVALID status: only a proposed reorder can be confirmed (this one is held)"))
        try await client.send("COMPANY.STAGE", "1", "transaction", "REASON", "rescued")
        try await client.send("COMPANY.STAGE", "1", "transition", "REASON", "growing")
        #expect(try await reorders(client, "STATUS", "held").count == 1, "held until partner again")
        try await client.send("COMPANY.STAGE", "1", "partner", "REASON", "trust restored")
        let proposed = try await reorders(client, "STATUS", "proposed")
        #expect(proposed.map { $0["id"] } == ["1", "3"], "the held one resumes; SKU-7 is re-ordered anew")
        #expect(proposed.map { $0["quantity"] } == ["96", "11"])
        await client.close()
        await gateway.stop()
    }

    @Test func aCommandCanNameItsFeedInsteadOfOpeningOne() async throws {
        let gateway = try await TestGateway.start()
        let setup = try await partner(at: "partner", gateway: gateway)
        let erp = try await gateway.connect(tenant: "acme", role: "erp", create: false)
        let replies = try await erp.pipeline([
            ["INV.ADJ", "erp-1001", "SKU-42", "-1", "FEED", "WH-North", "SEQ", "1"],
            ["INV.ADJ", "erp-1001", "SKU-42", "-1", "FEED", "wh-south", "SEQ", "1"],
            ["INV.ADJ", "erp-1001", "SKU-42", "-1", "FEED", "wh-north", "SEQ", "1"],
            ["INV.SET", "erp-1001", "SKU-42", "50", "FEED", "wh-north", "SEQ", "2"],
            ["INV.ADJ", "erp-1001", "SKU-42", "-1", "FEED", "wh-north"],
            ["INV.ADJ", "erp-1001", "SKU-42", "-1", "FEED", "no spaces", "SEQ", "3"],
        ])
        #expect(
            replies == [
                .integer(49), .integer(48), .simpleString("DUP"), .integer(50),
                .error("INVALID FEED: goes with SEQ n"), .error("INVALID FEED: use 1-64 of a-z 0-9 _ -"),
            ])
        #expect(try await erp.send("FEED.INFO", "wh-north").fields["last_seq"] == "2")
        #expect(try await erp.send("FEED.INFO", "wh-south").fields["applied"] == "1")
        #expect(try await setup.send("INV.GET", "erp-1001", "SKU-42").fields["on_hand"] == "50")
        // A feed whose first update is SEQ 5 has applied one and misses 1-4; SEQ 5 again is a duplicate.
        #expect(
            try await erp.send("INV.ADJ", "erp-1001", "SKU-42", "-1", "FEED", "wh-east", "SEQ", "5") == .integer(49))
        #expect(
            try await erp.send("INV.ADJ", "erp-1001", "SKU-42", "-1", "FEED", "wh-east", "SEQ", "5")
                == .simpleString("DUP"))
        let east = try await erp.send("FEED.INFO", "wh-east")
        #expect(east.fields["last_seq"] == "5")
        #expect(east.fields["applied"] == "1")
        #expect(east.fields["duplicates"] == "1")
        guard case .array(let pairs) = east else { return }
        #expect(pairs[pairs.count - 3] == .array([.bulk("1-4")]))
        await erp.close()
        await setup.close()
        await gateway.stop()
    }

    @Test func replayedSequenceNumbersAreAcknowledgedButNotApplied() async throws {
        let gateway = try await TestGateway.start()
        let setup = try await partner(at: "partner", gateway: gateway)
        let erp = try await gateway.connect(tenant: "acme", role: "erp", create: false)
        #expect(
            try await erp.send("INV.ADJ", "erp-1001", "SKU-42", "-1", "SEQ", "1")
                == .error("ERR SEQ needs FEED name, or FEED.OPEN name first on this connection"))
        let commands =
            [["FEED.OPEN", "erp-main"]] + (1...10).map { ["INV.ADJ", "erp-1001", "SKU-42", "-4", "SEQ", String($0)] }
        let first = try await erp.pipeline(commands)
        #expect(first[0] == .integer(0))
        #expect(first.last == .integer(10))
        await erp.close()
        let again = try await gateway.connect(tenant: "acme", role: "erp", create: false)
        let replay = try await again.pipeline(commands)
        #expect(replay[0] == .integer(10), "FEED.OPEN answers where to replay from")
        #expect(replay[1...].allSatisfy { $0 == .simpleString("DUP") })
        #expect(try await again.send("INV.ADJ", "erp-1001", "SKU-42", "-1", "SEQ", "14") == .integer(9))
        #expect(try await again.send("INV.SET", "erp-1001", "SKU-42", "99", "SEQ", "12") == .simpleString("DUP"))
        let info = try await again.send("FEED.INFO", "erp-main").fields
        #expect(info["last_seq"] == "14")
        #expect(info["applied"] == "11")
        #expect(info["duplicates"] == "11")
        guard case .array(let pairs) = try await again.send("FEED.INFO", "erp-main") else { return }
        #expect(pairs[pairs.count - 3] == .array([.bulk("11-13")]))
        let level = try await setup.send("INV.GET", "erp-1001", "SKU-42").fields
        #expect(level["on_hand"] == "9")
        #expect(try await reorders(setup).count == 1, "replays create no extra reorders")
        #expect(
            try await again.send("INV.GET", "erp-1001", "SKU-42").fields["on_order"] == "84",
            "ordered once, at 18 on hand: 100 - 18 rounded up to 12s")
        #expect(
            try await again.send("COMPANY.ADD", "name", "x")
                == .error("NOPERM this key's role (erp) may not run 'COMPANY.ADD'"))
        await again.close()
        await setup.close()
        await gateway.stop()
    }

    @Test func twoERPConnectionsRacingOnOneSKUMakeOneReorder() async throws {
        let gateway = try await TestGateway.start()
        let setup = try await partner(at: "partner", gateway: gateway)
        let first = try await gateway.connect(tenant: "acme", role: "erp", create: false)
        let second = try await gateway.connect(tenant: "acme", role: "erp", create: false)
        var batch = first.channel.allocator.buffer(capacity: 2048)
        for _ in 1...25 { batch.writeRESPCommand(["INV.ADJ", "erp-1001", "SKU-42", "-1"]) }
        try await first.write(raw: batch)
        try await second.write(raw: batch)
        var replies: [RESPValue] = []
        for _ in 1...25 {
            replies.append(try await first.read())
            replies.append(try await second.read())
        }
        #expect(replies.allSatisfy { $0.errorMessage == nil })
        let level = try await setup.send("INV.GET", "erp-1001", "SKU-42").fields
        #expect(level["on_hand"] == "0")
        let open = try await reorders(setup)
        #expect(open.count == 1)
        #expect(level["on_order"] == open.first?["quantity"])
        await first.close()
        await second.close()
        await setup.close()
        await gateway.stop()
    }
}
