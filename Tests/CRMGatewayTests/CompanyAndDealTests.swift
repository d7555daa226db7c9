import CRMProtocol
import Testing

/// Companies, relationship stages, pipelines and deals, end to end over TLS.
@Suite struct CompanyAndDealTests {
    @Test func companiesFollowTheContactConventions() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        let id = try await client.send(
            "COMPANY.ADD", "name", "Initech", "ext", "erp-1001", "domain", "initech.example", "kam", "ana", "trust",
            "60")
        #expect(id == .integer(1))
        var company = try await client.send("COMPANY.GET", "1").fields
        #expect(company["stage"] == "transaction")
        #expect(company["trust"] == "60")
        #expect(company["version"] == "1")
        #expect(try await client.send("COMPANY.SET", "1", "commitment", "70", "IFVERSION", "1") == .integer(2))
        #expect(
            try await client.send("COMPANY.SET", "1", "norms", "5", "IFVERSION", "1")
                == .error("CONFLICT company 1 is at version 2, not 1"))
        #expect(try await client.send("COMPANY.UPSERT", "erp-1001", "industry", "software") == .integer(1))
        #expect(try await client.send("COMPANY.UPSERT", "erp-2002", "name", "Globex Ltd") == .integer(2))
        #expect(
            try await client.send("COMPANY.SET", "1", "trust", "101")
                == .error("INVALID trust: must be an integer from 0 to 100"))
        #expect(
            try await client.send("COMPANY.SET", "1", "stage", "partner")
                == .error("INVALID stage: changes only with COMPANY.STAGE id stage REASON text"))
        #expect(
            try await client.send("COMPANY.SET", "1", "tier", "A") == .error("INVALID tier: is set by ANALYTICS.TIERS"))
        let found = try await client.send("COMPANY.FIND", "SEARCH", "initech")
        #expect(found.elements?[1].elements?.map { $0.fields["name"] } == ["Initech"])
        let sorted = try await client.send("COMPANY.FIND", "SORTBY", "commitment", "DESC", "LIMIT", "1")
        #expect(sorted.elements?[1].elements?.first?.fields["id"] == "1")
        let next = try await client.send(
            "COMPANY.FIND", "SORTBY", "commitment", "DESC", "LIMIT", "1", "CURSOR", sorted.elements![0].string!)
        #expect(next.elements?[1].elements?.first?.fields["id"] == "2", "a missing number sorts after 70 descending")
        company = try await client.send("COMPANY.GET", "1").fields
        #expect(company["industry"] == "software")

        #expect(
            try await client.send("CONTACT.ADD", "email", "p@initech.example", "company", "99")
                == .error("INVALID company: no such company 99"))
        let contact = try await client.send("CONTACT.ADD", "email", "p@initech.example", "company", "1")
        #expect(try await client.send("CONTACT.GET", contact.string!).fields["company"] == "1")
        let linked = try await client.send("CONTACT.FIND", "WHERE", "company", "=", "1")
        #expect(linked.elements?[1].elements?.count == 1)
        #expect(try await client.send("COMPANY.DEL", "1") == .integer(1))
        #expect(try await client.send("CONTACT.GET", contact.string!).fields["company"] == nil)
        #expect(try await client.send("COMPANY.GET", "1") == .error("NOTFOUND no such company"))
        await client.close()
        await gateway.stop()
    }

    @Test func stagesMoveOnlyAlongTheRelationshipPathAndAreRecorded() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await client.send("COMPANY.ADD", "name", "Initech")
        #expect(
            try await client.send("COMPANY.STAGE", "1", "partner", "REASON", "big order")
                == .error("INVALID stage: cannot move from transaction to partner; allowed: transition, conflict"))
        #expect(
            try await client.send("COMPANY.STAGE", "1", "transition")
                == .error("ERR wrong number of arguments for 'company.stage' command"))
        #expect(
            try await client.send("COMPANY.STAGE", "1", "transition", "BECAUSE", "x")
                == .error("ERR syntax error: expected REASON text"))
        #expect(
            try await client.send("COMPANY.STAGE", "1", "friends", "REASON", "x")
                == .error("INVALID stage: must be one of transaction, transition, partner, conflict"))
        let moves: [(String, String)] = [
            ("transition", "KAM assigned"), ("partner", "EDI live"), ("conflict", "missed deliveries"),
            ("transaction", "rescued: new contract"),
        ]
        var previous = "transaction"
        for (stage, reason) in moves {
            #expect(try await client.send("COMPANY.STAGE", "1", stage, "REASON", reason) == .bulk(previous))
            previous = stage
        }
        #expect(
            try await client.send("COMPANY.STAGE", "1", "partner", "REASON", "skip")
                == .error("INVALID stage: cannot move from transaction to partner; allowed: transition, conflict"))
        let history = try await client.send("COMPANY.HISTORY", "1").elements ?? []
        #expect(history.map { $0.fields["to"] } == ["transaction", "transition", "partner", "conflict", "transaction"])
        #expect(history.map { $0.fields["reason"] } == ["created"] + moves.map(\.1))
        #expect(history[2].fields["from"] == "transition")
        #expect(history[2].fields["key_id"]?.hasPrefix("k_") == true)
        #expect(try await client.send("COMPANY.GET", "1").fields["stage"] == "transaction")
        await client.close()
        await gateway.stop()
    }

    @Test func suggestionReadsTheFourParametersWithoutChangingAnything() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await client.send(
            "COMPANY.ADD", "name", "Initech", "trust", "80", "commitment", "75", "interdependence", "90", "norms", "70")
        var suggestion = try await client.send("COMPANY.SUGGEST", "1").fields
        #expect(suggestion["stage"] == "partner")
        #expect(suggestion["current"] == "transaction")
        #expect(suggestion["rule"] == "trust, commitment, interdependence and norms all >= 70")
        try await client.send("COMPANY.SET", "1", "trust", "10")
        suggestion = try await client.send("COMPANY.SUGGEST", "1").fields
        #expect(suggestion["stage"] == "conflict")
        try await client.send("COMPANY.ADD", "name", "Hooli", "trust", "55")
        let unscored = try await client.send("COMPANY.SUGGEST", "2")
        #expect(unscored.fields["stage"] == "transaction")
        guard case .array(let pairs) = unscored else { throw TestClient.ConnectionClosed() }
        #expect(pairs.last == .array([.bulk("commitment"), .bulk("interdependence"), .bulk("norms")]))
        #expect(try await client.send("COMPANY.GET", "1").fields["stage"] == "transaction")
        #expect(try await client.send("COMPANY.GET", "1").fields["version"] == "2")
        await client.close()
        await gateway.stop()
    }

    @Test func dealsMoveThroughTheirPipelineAndDeriveTheirStatus() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        let pipelines = try await client.send("PIPELINE.LIST").elements ?? []
        #expect(pipelines.map { $0.fields["name"] } == ["default"])
        try await client.send("COMPANY.ADD", "name", "Initech")
        let id = try await client.send(
            "DEAL.ADD", "title", "Q3 rollout", "company", "1", "amount", "1250000", "currency", "eur", "close_date",
            "2026-12-15")
        var deal = try await client.send("DEAL.GET", "\(id.string!)").fields
        #expect(deal["pipeline"] == "default")
        #expect(deal["stage"] == "qualification")
        #expect(deal["status"] == "open")
        #expect(deal["currency"] == "EUR")
        #expect(
            try await client.send("DEAL.MOVE", "1", "closing")
                == .error(
                    "INVALID stage: not a stage of pipeline default (qualification, proposal, negotiation, won, lost)"))
        #expect(
            try await client.send("DEAL.MOVE", "1", "lost")
                == .error("INVALID stage: a deal is lost with DEAL.LOSE id REASON text"))
        #expect(try await client.send("DEAL.MOVE", "1", "negotiation") == .integer(2))
        #expect(
            try await client.send("DEAL.LOSE", "1", "REASON", "") == .error("INVALID REASON: give a reason"))
        #expect(try await client.send("DEAL.LOSE", "1", "REASON", "went with a cheaper vendor") == .integer(3))
        deal = try await client.send("DEAL.GET", "1").fields
        #expect(deal["status"] == "lost")
        #expect(deal["lost_reason"] == "went with a cheaper vendor")
        #expect(deal["closed_at"] != nil)
        #expect(try await client.send("DEAL.MOVE", "1", "proposal") == .integer(4), "a lost deal can be reopened")
        deal = try await client.send("DEAL.GET", "1").fields
        #expect(deal["status"] == "open")
        #expect(deal["lost_reason"] == nil)
        #expect(deal["closed_at"] == nil)
        #expect(try await client.send("DEAL.WIN", "1") == .integer(5))
        #expect(try await client.send("DEAL.WIN", "1") == .error("INVALID status: the deal is already won"))
        deal = try await client.send("DEAL.GET", "1").fields
        #expect(deal["status"] == "won")
        #expect(deal["stage"] == "won")
        let won = try await client.send("DEAL.FIND", "WHERE", "status", "=", "won")
        #expect(won.elements?[1].elements?.count == 1)
        #expect(
            try await client.send("DEAL.SET", "1", "status", "open")
                == .error("INVALID status: is set by DEAL.MOVE, DEAL.WIN or DEAL.LOSE"))
        #expect(try await client.send("DEAL.GET", "9") == .error("NOTFOUND no such deal"))
        #expect(
            try await client.send("DEAL.ADD", "title", "x", "pipeline", "enterprise")
                == .error("INVALID pipeline: no such pipeline enterprise"))
        await client.close()
        await gateway.stop()
    }

    @Test func pipelinesAreDefinedPerTenantAndKeepTheirDeals() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        #expect(
            try await client.send(
                "PIPELINE.SET", "enterprise", "discovery", "10", "demo", "30", "signed", "100", "dropped", "0") == .ok)
        let pipeline = try await client.send("PIPELINE.GET", "enterprise")
        #expect(pipeline.fields["won"] == "signed")
        #expect(pipeline.fields["lost"] == "dropped")
        #expect(
            try await client.send("PIPELINE.SET", "enterprise", "demo", "30", "lost", "0", "won", "100")
                == .error("INVALID lost: the second-last stage is the won stage: probability 100"))
        try await client.send("DEAL.ADD", "title", "Big one", "pipeline", "enterprise", "stage", "demo")
        #expect(
            try await client.send("PIPELINE.SET", "enterprise", "discovery", "10", "signed", "100", "dropped", "0")
                == .error(
                    "CONFLICT 1 deal(s) of pipeline enterprise are in stage demo, which the new definition drops"))
        #expect(
            try await client.send("PIPELINE.SET", "enterprise", "discovery", "10", "demo", "100", "dropped", "0")
                == .ok)
        #expect(
            try await client.send("DEAL.GET", "1").fields["status"] == "won",
            "a deal in what is now the won stage is won")
        #expect(try await client.send("PIPELINE.GET", "nope") == .error("NOTFOUND no such pipeline"))
        await client.close()
        await gateway.stop()
    }
}
