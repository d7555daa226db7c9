import CRMProtocol
import Foundation
import Testing

/// Value tiers, top lists and the forecast, end to end over TLS.
@Suite struct AnalyticsTests {
    /// Creates one company per revenue figure, each with one won deal of that amount (none for 0).
    private func companies(_ revenues: [Int], on client: TestClient) async throws {
        for (index, revenue) in revenues.enumerated() {
            let id = try await client.send("COMPANY.ADD", "name", "c\(index + 1)").string!
            guard revenue > 0 else { continue }
            let deal = try await client.send("DEAL.ADD", "company", id, "amount", String(revenue)).string!
            try await client.send("DEAL.WIN", deal)
        }
    }

    private func tiers(_ client: TestClient, count: Int) async throws -> [String] {
        var tiers: [String] = []
        for id in 1...count {
            tiers.append(try await client.send("COMPANY.GET", String(id)).fields["tier"] ?? "-")
        }
        return tiers
    }

    @Test(arguments: [
        ([50, 30, 15, 5], ["A", "A", "B", "C"]),
        ([40, 40, 20], ["A", "A", "B"]),
        ([70, 10, 10, 10], ["A", "A", "A", "A"]),
        ([100], ["A"]),
        ([0, 0, 0], ["C", "C", "C"]),
        ([90, 0, 5, 5], ["A", "C", "B", "B"]),
        ([79, 1, 20], ["A", "C", "A"]),
    ])
    func tiersArePartOfTheParetoOfWonRevenue(revenues: [Int], expected: [String]) async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await companies(revenues, on: client)
        let counts = try await client.send("ANALYTICS.TIERS").fields
        #expect(counts["revenue"] == String(revenues.reduce(0, +)))
        #expect(counts["A"] == String(expected.count { $0 == "A" }))
        #expect(try await tiers(client, count: revenues.count) == expected)
        await client.close()
        await gateway.stop()
    }

    @Test func openAndLostDealsAndOtherTenantsDoNotCount() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        let other = try await gateway.connect(tenant: "globex")
        try await companies([10], on: client)
        try await client.send("COMPANY.ADD", "name", "big pipeline")
        try await client.send("DEAL.ADD", "company", "2", "amount", "1000000")
        try await client.send("DEAL.ADD", "company", "2", "amount", "1000000")
        try await client.send("DEAL.LOSE", "2", "REASON", "no budget")
        try await companies([5_000_000], on: other)
        try await other.send("ANALYTICS.TIERS")
        let counts = try await client.send("ANALYTICS.TIERS").fields
        #expect(counts["revenue"] == "10")
        #expect(try await tiers(client, count: 2) == ["A", "C"])
        await client.close()
        await other.close()
        await gateway.stop()
    }

    @Test func topListsRankByRevenueCostAndMargin() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        try await companies([10_000, 8_000, 0], on: client)
        #expect(try await client.send("COST.SET", "ticket", "2500", "activity", "500") == .ok)
        #expect(
            try await client.send("COST.GET")
                == .array([.bulk("ticket"), .integer(2500), .bulk("activity"), .integer(500)]))
        for _ in 0..<4 { try await client.send("TICKET.ADD", "subject", "help", "company", "1") }
        try await client.send("CONTACT.ADD", "email", "p@c3.example", "company", "3")
        try await client.send("ACTIVITY.ADD", "call", "ON", "contact", "1")
        try await client.send("ACTIVITY.ADD", "meeting", "ON", "company", "3")

        let byRevenue = try await client.send("ANALYTICS.TOP", "companies", "BY", "revenue")
        #expect(byRevenue.elements?.map { $0.fields["company"] } == ["1", "2", "3"])
        let byMargin = try await client.send("ANALYTICS.TOP", "companies", "BY", "margin")
        #expect(byMargin.elements?.map { $0.fields["company"] } == ["2", "1", "3"])
        #expect(byMargin.elements?.map { $0.fields["margin"] } == ["8000", "0", "-1000"])
        let costliest = try await client.send("ANALYTICS.TOP", "companies", "BY", "cost", "LIMIT", "1")
        #expect(costliest.elements?.map { $0.fields["cost"] } == ["10000"])
        let bottom = try await client.send("ANALYTICS.TOP", "companies", "BY", "margin", "ASC", "LIMIT", "1")
        #expect(bottom.elements?.first?.fields["name"] == "c3")
        #expect(
            try await client.send("ANALYTICS.TOP", "companies", "BY", "vibes")
                == .error("INVALID BY: must be one of revenue, cost, margin"))
        #expect(
            try await client.send("COST.SET", "lunch", "5") == .error("INVALID lunch: must be one of ticket, activity"))
        await client.close()
        await gateway.stop()
    }

    @Test func forecastWeighsOpenDealsByStageProbabilityPerCloseMonth() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        let now = Date()
        let months = (0..<3).map { offset -> String in
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let date = calendar.date(byAdding: .month, value: offset, to: now)!
            let parts = calendar.dateComponents([.year, .month], from: date)
            return String(format: "%04d-%02d", parts.year!, parts.month!)
        }
        try await client.send("DEAL.ADD", "amount", "10000", "close_date", "\(months[0])-01")
        try await client.send("DEAL.ADD", "amount", "20000", "close_date", "\(months[0])-28", "stage", "negotiation")
        try await client.send("DEAL.ADD", "amount", "40000", "close_date", "\(months[2])-15", "stage", "proposal")
        try await client.send("DEAL.ADD", "amount", "99999", "close_date", "\(months[2])-15", "stage", "won")
        try await client.send("DEAL.ADD", "amount", "99999", "close_date", "2001-01-01")
        let forecast = try await client.send("ANALYTICS.FORECAST", "MONTHS", "3").elements ?? []
        #expect(forecast.map { $0.fields["month"] } == months)
        #expect(forecast.map { $0.fields["deals"] } == ["2", "0", "1"])
        #expect(forecast.map { $0.fields["amount"] } == ["30000", "0", "40000"])
        #expect(forecast.map { $0.fields["weighted"] } == ["15000", "0", "16000"])
        #expect(
            try await client.send("ANALYTICS.FORECAST", "PIPELINE", "nope")
                == .error("INVALID pipeline: no such pipeline nope"))
        #expect(
            try await client.send("ANALYTICS.FORECAST", "MONTHS", "99")
                == .error("INVALID MONTHS: must be an integer from 1 to 36"))
        await client.close()
        await gateway.stop()
    }
}
