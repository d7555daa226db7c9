import CRMProtocol
import CRMTestSupport
import Foundation
import Testing

@Suite struct TenantIsolationTests {
    @Test func noContactCommandReachesAnotherTenantsData() async throws {
        let gateway = try await TestGateway.start()
        let acme = try await gateway.connect(tenant: "acme")
        let globex = try await gateway.connect(tenant: "globex")
        let id = try await acme.send(
            "CONTACT.ADD", "email", "secret@acme.example", "ext", "acme-1", "notes", "unicorn project")
        let acmeID = id.string!
        let before = try await acme.send("CONTACT.GET", acmeID)

        #expect(try await globex.send("CONTACT.GET", acmeID) == .error("NOTFOUND no such contact"))
        #expect(try await globex.send("CONTACT.SET", acmeID, "title", "x") == .error("NOTFOUND no such contact"))
        #expect(try await globex.send("CONTACT.DEL", acmeID) == .error("NOTFOUND no such contact"))
        for query in [
            ["WHERE", "email", "=", "secret@acme.example"], ["WHERE", "ext", "=", "acme-1"], ["SEARCH", "unicorn"],
            ["SEARCH", "secret"], [],
        ] {
            let page = try await globex.send(["CONTACT.FIND"] + query)
            #expect(page.elements?[1] == .array([]), "globex FIND \(query) saw acme data")
        }
        let upserted = try await globex.send("CONTACT.UPSERT", "acme-1", "email", "secret@acme.example")
        #expect(upserted == .integer(1), "the same ext and email are free in another tenant: its own first contact")
        #expect(try await acme.send("CONTACT.GET", acmeID) == before, "acme's contact is untouched")
        let globexPage = try await globex.send("CONTACT.FIND")
        #expect(globexPage.elements?[1].elements?.count == 1)
        if TestStorage.isPostgres {
            let schemas = try await TestStorage.postgresSchemas(of: gateway.directory)
            #expect(schemas.contains("tenant_acme") && schemas.contains("tenant_globex"), "a schema each: \(schemas)")
        } else {
            #expect(FileManager.default.fileExists(atPath: gateway.directory.path + "/tenants/acme.sqlite"))
            #expect(FileManager.default.fileExists(atPath: gateway.directory.path + "/tenants/globex.sqlite"))
        }
        await acme.close()
        await globex.close()
        await gateway.stop()
    }

    @Test func noCRMCommandFindsListsLinksOrCountsAnotherTenantsRecords() async throws {
        let gateway = try await TestGateway.start()
        let acme = try await gateway.connect(tenant: "acme")
        let globex = try await gateway.connect(tenant: "globex")
        for command in [
            ["COMPANY.ADD", "name", "Acme secret account", "ext", "acme-co", "trust", "90"],
            ["CONTACT.ADD", "email", "secret@acme.example", "company", "1"],
            ["DEAL.ADD", "title", "Acme secret deal", "company", "1", "contact", "1", "amount", "9000"],
            ["DEAL.WIN", "1"],
            ["DEAL.ADD", "title", "Acme open deal", "company", "1", "close_date", "2030-01-15"],
            ["TICKET.ADD", "subject", "Acme secret ticket", "contact", "1", "company", "1"],
            ["ACTIVITY.ADD", "note", "ON", "contact", "1", "body", "acme secret note"],
            ["CONTACT.CONSENT", "1", "email", "in"],
            ["PIPELINE.SET", "acmesecret", "demo", "50", "won", "100", "lost", "0"],
            ["SLA.SET", "urgent", "1", "2"], ["COST.SET", "ticket", "999"],
            ["COMPANY.STAGE", "1", "transition", "REASON", "growing"],
            ["COMPANY.STAGE", "1", "partner", "REASON", "EDI live"],
            ["INV.RULE", "acme-co", "SKU-1", "MIN", "5", "MAX", "10"], ["INV.SET", "acme-co", "SKU-1", "1"],
            ["FEED.OPEN", "acme-feed"],
        ] {
            #expect(try await acme.send(command).errorMessage == nil, "\(command)")
        }
        let probes: [[String]] = [
            ["COMPANY.GET", "1"], ["COMPANY.SET", "1", "name", "x"], ["COMPANY.DEL", "1"],
            ["COMPANY.STAGE", "1", "transition", "REASON", "x"], ["COMPANY.HISTORY", "1"], ["COMPANY.SUGGEST", "1"],
            ["DEAL.GET", "1"], ["DEAL.SET", "1", "title", "x"], ["DEAL.DEL", "1"], ["DEAL.MOVE", "2", "proposal"],
            ["DEAL.WIN", "2"], ["DEAL.LOSE", "2", "REASON", "x"], ["TICKET.GET", "1"],
            ["TICKET.SET", "1", "body", "x"],
            ["TICKET.DEL", "1"], ["TICKET.STATUS", "1", "open"], ["TIMELINE", "contact", "1"],
            ["TIMELINE", "company", "1"], ["TIMELINE", "deal", "1"], ["TIMELINE", "ticket", "1"],
            ["ACTIVITY.ADD", "note", "ON", "contact", "1"], ["ACTIVITY.ADD", "note", "ON", "company", "1"],
            ["ACTIVITY.ADD", "note", "ON", "deal", "1"], ["ACTIVITY.ADD", "note", "ON", "ticket", "1"],
            ["CONTACT.CONSENT", "1", "email", "out"], ["CONTACT.REACHABLE", "1", "email"], ["CONTACT.EXPORT", "1"],
            ["CONTACT.FORGET", "1", "CONFIRM", "1"], ["PIPELINE.GET", "acmesecret"],
            ["INV.GET", "acme-co", "SKU-1"], ["INV.GET", "1", "SKU-1"], ["INV.LIST", "acme-co"],
            ["INV.ADJ", "1", "SKU-1", "-1"], ["INV.RULE", "1", "SKU-1", "MIN", "1", "MAX", "2"],
            ["INV.PRICE", "acme-co", "SKU-1", "5", "EUR"], ["REORDER.GET", "1"], ["REORDER.CONFIRM", "1"],
            ["REORDER.RECEIVE", "1"], ["REORDER.CANCEL", "1", "REASON", "x"], ["REORDER.LIST", "COMPANY", "acme-co"],
            ["FEED.INFO", "acme-feed"],
            ["DEAL.ADD", "title", "x", "pipeline", "acmesecret"],
        ]
        for probe in probes {
            let reply = try await globex.send(probe)
            let expected = probe[0] == "DEAL.ADD" ? "INVALID pipeline: no such pipeline" : "NOTFOUND "
            #expect(reply.errorMessage?.hasPrefix(expected) == true, "globex \(probe) answered \(reply)")
        }
        for link in [
            ["CONTACT.ADD", "company", "1"], ["DEAL.ADD", "company", "1"], ["DEAL.ADD", "contact", "1"],
            ["TICKET.ADD", "contact", "1"],
        ] {
            let reply = try await globex.send(link)
            #expect(reply.errorMessage?.hasPrefix("INVALID ") == true, "globex linked \(link): \(reply)")
            #expect(reply.errorMessage?.hasSuffix(": no such \(link[1]) 1") == true)
        }
        for find in [
            ["COMPANY.FIND", "SEARCH", "secret"], ["DEAL.FIND"], ["TICKET.FIND", "SEARCH", "secret"], ["COMPANY.FIND"],
        ] {
            #expect(try await globex.send(find).elements?[1] == .array([]), "globex \(find) listed acme data")
        }
        #expect(try await globex.send("REORDER.LIST").elements?[1] == .array([]))
        #expect(try await acme.send("REORDER.GET", "1").fields["status"] == "proposed")
        #expect(try await globex.send("COMPANY.UPSERT", "acme-co", "name", "Globex own") == .integer(1))
        #expect(try await globex.send("ANALYTICS.TIERS").fields["revenue"] == "0")
        #expect(try await globex.send("PIPELINE.LIST").elements?.map { $0.fields["name"] } == ["default"])
        #expect(try await globex.send("SLA.GET").elements?.last?.fields["resolve_minutes"] == "240")
        #expect(try await globex.send("COST.GET").fields["ticket"] == "0")
        let top = try await globex.send("ANALYTICS.TOP", "companies", "BY", "revenue")
        #expect(top.elements?.map { $0.fields["name"] } == ["Globex own"])
        let forecast = try await globex.send("ANALYTICS.FORECAST", "MONTHS", "36").elements ?? []
        #expect(forecast.allSatisfy { $0.fields["deals"] == "0" })
        #expect(try await globex.send("TIMELINE", "company", "1").elements?[1].elements?.count == 1)
        let acmeCompany = try await acme.send("COMPANY.GET", "1").fields
        #expect(acmeCompany["name"] == "Acme secret account")
        #expect(acmeCompany["version"] == "3", "only its own two stage moves changed it")
        #expect(try await acme.send("CONTACT.GET", "1").fields["consent_email"] == "in")
        #expect(try await acme.send("TICKET.GET", "1").fields["status"] == "new")
        await acme.close()
        await globex.close()
        await gateway.stop()
    }
}
