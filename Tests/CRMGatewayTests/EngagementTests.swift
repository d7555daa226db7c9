import CRMProtocol
import CRMTestSupport
import Foundation
import GRDB
import Testing

/// Activities, timelines, consent and data-subject requests, end to end over TLS.
@Suite struct EngagementTests {
    @Test func timelinesGatherEverythingThatTouchedARecordNewestFirst() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await client.send("COMPANY.ADD", "name", "Initech")
        try await client.send("CONTACT.ADD", "email", "peter@initech.example", "company", "1", "lifecycle", "lead")
        try await client.send("CONTACT.ADD", "email", "other@elsewhere.example")
        try await client.send("DEAL.ADD", "title", "Renewal", "company", "1", "contact", "1")
        try await client.send("TICKET.ADD", "subject", "Printer", "contact", "1")
        #expect(
            try await client.send("ACTIVITY.ADD", "call", "ON", "deal", "1", "subject", "Pricing call")
                == .integer(1))
        try await client.send("ACTIVITY.ADD", "note", "ON", "contact", "2", "body", "unrelated")
        try await client.send("CONTACT.SET", "1", "lifecycle", "customer")
        try await client.send("CONTACT.CONSENT", "1", "email", "out", "SOURCE", "unsubscribe link")
        try await client.send("TICKET.STATUS", "1", "resolved")
        try await client.send("COMPANY.STAGE", "1", "transition", "REASON", "KAM assigned")

        let contact = try await client.send("TIMELINE", "contact", "1")
        let contactTypes = contact.elements?[1].elements?.map { $0.fields["type"] ?? "" }
        #expect(
            contactTypes == [
                "ticket.status", "contact.consent", "contact.updated", "activity.created", "ticket.created",
                "deal.created", "contact.created",
            ])
        let company = try await client.send("TIMELINE", "company", "1")
        let companyTypes = company.elements?[1].elements?.map { $0.fields["type"] ?? "" }
        #expect(
            companyTypes == [
                "company.stage", "ticket.status", "contact.consent", "contact.updated", "activity.created",
                "ticket.created", "deal.created", "contact.created", "company.created",
            ], "a company's timeline includes its contacts' items, never other contacts'")
        let deal = try await client.send("TIMELINE", "deal", "1")
        #expect(deal.elements?[1].elements?.map { $0.fields["type"] ?? "" } == ["activity.created", "deal.created"])
        guard case .array(let first) = contact.elements?[1].elements?[2] else {
            Issue.record("timeline entries are maps (flat arrays in RESP2)")
            return
        }
        #expect(first.contains(.array([.bulk("lifecycle"), .bulk("customer")])), "the lifecycle move is on it")

        let page1 = try await client.send("TIMELINE", "company", "1", "LIMIT", "4")
        let cursor = try #require(page1.elements?[0].string)
        let page2 = try await client.send("TIMELINE", "company", "1", "LIMIT", "4", "CURSOR", cursor)
        let page3 = try await client.send(
            "TIMELINE", "company", "1", "LIMIT", "4", "CURSOR", page2.elements![0].string!)
        #expect(page3.elements?[0] == .bulk("0"))
        let paged = [page1, page2, page3].flatMap { $0.elements?[1].elements?.map { $0.fields["type"] ?? "" } ?? [] }
        #expect(paged == companyTypes)
        #expect(try await client.send("TIMELINE", "deal", "7") == .error("NOTFOUND no such deal"))
        #expect(
            try await client.send("TIMELINE", "invoice", "1")
                == .error("INVALID type: must be one of contact, company, deal, ticket"))
        #expect(
            try await client.send("ACTIVITY.ADD", "fax", "ON", "contact", "1")
                == .error("INVALID kind: must be one of note, call, meeting, email"))
        #expect(
            try await client.send("ACTIVITY.ADD", "note", "ON", "ticket", "5") == .error("NOTFOUND no such ticket"))
        #expect(
            try await client.send("ACTIVITY.ADD", "note", "ON", "contact", "1", "contact", "2")
                == .error("INVALID contact: is set by ACTIVITY.ADD ON"))
        await client.close()
        await gateway.stop()
    }

    @Test func consentDecidesReachabilityAndCountsTheMonthlyCap() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await client.send("CONTACT.ADD", "email", "ada@example.com")
        var answer = try await client.send("CONTACT.REACHABLE", "1", "email").fields
        #expect(answer["reachable"] == "0")
        #expect(answer["reason"] == "no consent recorded for email")
        #expect(
            try await client.send("CONTACT.CONSENT", "1", "email", "in", "MAXPERMONTH", "2", "SOURCE", "web form")
                == .integer(2))
        #expect(try await client.send("CONTACT.GET", "1").fields["consent_email"] == "in")
        #expect(try await client.send("CONTACT.GET", "1").fields["cap_email"] == "2")
        #expect(try await client.send("CONTACT.REACHABLE", "1", "email").fields["reachable"] == "1")
        try await client.send("ACTIVITY.ADD", "email", "ON", "contact", "1", "subject", "Newsletter")
        try await client.send("ACTIVITY.ADD", "call", "ON", "contact", "1")
        try await client.send(
            "ACTIVITY.ADD", "email", "ON", "contact", "1", "occurred_at", "2020-01-01T00:00:00.000Z")
        answer = try await client.send("CONTACT.REACHABLE", "1", "email").fields
        #expect(answer["reachable"] == "1", "one email in 30 days (calls and old emails do not count)")
        #expect(answer["used_30d"] == "1")
        try await client.send("ACTIVITY.ADD", "email", "ON", "contact", "1")
        answer = try await client.send("CONTACT.REACHABLE", "1", "email").fields
        #expect(answer["reachable"] == "0")
        #expect(answer["reason"] == "monthly cap of 2 reached (2 in the last 30 days)")
        try await client.send("CONTACT.CONSENT", "1", "phone", "out")
        #expect(try await client.send("CONTACT.REACHABLE", "1", "phone").fields["reason"] == "opted out of phone")
        #expect(
            try await client.send("CONTACT.SET", "1", "consent_email", "in")
                == .error("INVALID consent_email: is set by CONTACT.CONSENT"))
        #expect(
            try await client.send("CONTACT.CONSENT", "1", "pigeon", "in")
                == .error("INVALID channel: must be one of email, sms, phone, post"))
        #expect(
            try await client.send("CONTACT.CONSENT", "1", "email", "in", "MAXPERMONTH", "-1")
                == .error("INVALID MAXPERMONTH: must be an integer from 0 to 10000"))
        let export = try await client.send("CONTACT.EXPORT", "1")
        let document = try JSONSerialization.jsonObject(with: Data(export.string!.utf8)) as? [String: Any]
        let history = document?["consent_history"] as? [[String: Any]]
        #expect(history?.map { $0["channel"] as? String } == ["email", "phone"])
        #expect(history?.first?["source"] as? String == "web form")
        #expect((document?["activities"] as? [Any])?.count == 4)
        #expect((document?["contact"] as? [String: String])?["email"] == "ada@example.com")
        await client.close()
        await gateway.stop()
    }

    @Test func forgetLeavesNoTraceButKeepsTheAggregates() async throws {
        let gateway = try await TestGateway.start()
        let owner = try await gateway.connect(tenant: "acme")
        let agent = try await gateway.connect(tenant: "acme", role: "agent", create: false)
        let email = "zed.quixote@forgetme.example"
        try await owner.send("COMPANY.ADD", "name", "Initech")
        try await owner.send(
            "CONTACT.ADD", "email", email, "first_name", "Zedediah", "notes", "quixotic", "company", "1")
        try await owner.send("CONTACT.ADD", "email", "keep@example.com", "first_name", "Kept")
        try await owner.send("CONTACT.CONSENT", "1", "email", "in", "SOURCE", "asked by \(email)")
        try await owner.send("ACTIVITY.ADD", "email", "ON", "contact", "1", "body", "Dear Zedediah, \(email)")
        try await owner.send("TICKET.ADD", "subject", "From \(email)", "contact", "1", "company", "1")
        try await owner.send("DEAL.ADD", "title", "Upgrade", "contact", "1", "company", "1", "amount", "5000")
        try await owner.send("DEAL.WIN", "1")

        #expect(
            try await agent.send("CONTACT.FORGET", "1", "CONFIRM", "1")
                == .error("NOPERM this key's role (agent) may not run 'CONTACT.FORGET'"))
        #expect(
            try await owner.send("CONTACT.FORGET", "1", "CONFIRM", "2")
                == .error("ERR syntax error: repeat the id as CONTACT.FORGET 1 CONFIRM 1"))
        #expect(try await owner.send("CONTACT.FORGET", "1", "CONFIRM", "1") == .ok)
        #expect(try await owner.send("CONTACT.GET", "1") == .error("NOTFOUND no such contact"))
        #expect(try await owner.send("CONTACT.FIND", "SEARCH", "zedediah").elements?[1] == .array([]))
        #expect(try await owner.send("TICKET.FIND", "SEARCH", "forgetme").elements?[1] == .array([]))
        #expect(try await owner.send("CONTACT.FIND", "SEARCH", "kept").elements?[1].elements?.count == 1)
        let top = try await owner.send("ANALYTICS.TOP", "companies", "BY", "revenue")
        #expect(top.elements?.first?.fields["revenue"] == "5000", "won revenue survives")
        #expect(try await owner.send("TICKET.GET", "1").fields["company"] == "1", "the ticket still counts")
        let timeline = try await owner.send("TIMELINE", "company", "1")
        #expect(timeline.elements?[1].elements?.contains { $0.fields["type"] == "deal.won" } == true)
        await owner.close()
        await agent.close()
        await gateway.stop()

        if TestStorage.isPostgres {
            let tables = try await TestStorage.postgresRows(of: gateway.directory, schema: "tenant_acme")
            #expect(tables["contacts"]?.count == 1, "the kept contact")
            for (table, rows) in tables {
                for row in rows {
                    #expect(!row.lowercased().contains("quixote"), "\(table) still holds the email")
                    #expect(!row.lowercased().contains("zedediah"), "\(table) still holds the name")
                }
            }
            return
        }
        let database = try DatabaseQueue(path: gateway.directory.path + "/tenants/acme.sqlite")
        try await database.write { db in
            let tables = try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            for table in tables {
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \"\(table)\"") {
                    for value in row.databaseValues {
                        let text: String
                        switch value.storage {
                        case .string(let string): text = string
                        case .blob(let data): text = String(decoding: data, as: UTF8.self)
                        default: continue
                        }
                        #expect(!text.lowercased().contains("quixote"), "\(table) still holds the email")
                        #expect(!text.lowercased().contains("zedediah"), "\(table) still holds the name")
                    }
                }
            }
            for fts in ["contacts_fts", "tickets_fts"] {
                try db.execute(sql: "CREATE VIRTUAL TABLE temp.\(fts)_terms USING fts5vocab(main, \(fts), 'row')")
                let terms = try String.fetchAll(db, sql: "SELECT term FROM temp.\(fts)_terms")
                #expect(!terms.contains("quixote") && !terms.contains("zedediah") && !terms.contains("forgetme"))
                #expect(fts != "contacts_fts" || terms.contains("kept"), "the index itself is intact")
            }
            let audit = try String.fetchOne(db, sql: "SELECT type FROM events ORDER BY seq DESC LIMIT 1")
            #expect(audit == "contact.forgotten")
        }
    }
}
