import CRMCore

/// Who the valuable customers are (DESIGN.md §1, differential treatment):
/// revenue from won deals, cost to serve from tickets and activities, value
/// tiers, and the probability-weighted forecast. Everything is aggregated in
/// SQL over the last ``CustomerValue/windowDays`` days; amounts are summed in minor units
/// as stored, so a tenant is expected to report in one currency.
public struct Analytics<Access: StorageAccess> {
    let db: any SQLDatabase

    private var since: String {
        Timestamp.iso8601(milliseconds: WallClock.milliseconds() - CustomerValue.windowDays * 86_400_000)
    }

    private static var revenueCTE: String {
        """
        revenue AS (
            SELECT company, SUM(amount) AS value FROM deals
            WHERE status = 'won' AND closed_at >= :since AND company IS NOT NULL GROUP BY company)
        """
    }

    /// Companies ranked by a measure, highest first unless `ascending`.
    public func top(by measure: CustomerValue.Measure, limit: Int, ascending: Bool) throws -> [CustomerValue
        .CompanyValue]
    {
        let rates = try costRates()
        let order = ascending ? "ASC" : "DESC"
        let rows = try db.rows(
            """
            WITH \(Self.revenueCTE),
            ticket_counts AS (
                SELECT company, COUNT(*) AS n FROM tickets
                WHERE created_at >= :since AND company IS NOT NULL GROUP BY company),
            activity_counts AS (
                SELECT company, COUNT(*) AS n FROM activities
                WHERE occurred_at >= :since AND company IS NOT NULL GROUP BY company),
            valued AS (
                SELECT c.id, c.name, c.tier, COALESCE(r.value, 0) AS revenue,
                    COALESCE(t.n, 0) * :ticket + COALESCE(a.n, 0) * :activity AS cost
                FROM companies c
                LEFT JOIN revenue r ON r.company = c.id
                LEFT JOIN ticket_counts t ON t.company = c.id
                LEFT JOIN activity_counts a ON a.company = c.id)
            SELECT id, name, tier, revenue, cost, revenue - cost AS margin FROM valued
            ORDER BY \(measure.rawValue) \(order), id LIMIT :limit
            """,
            named: [
                "since": since, "ticket": rates[.ticket] ?? 0, "activity": rates[.activity] ?? 0, "limit": limit,
            ])
        return rows.map {
            CustomerValue.CompanyValue(company: $0[0], name: $0[1], tier: $0[2], revenue: $0[3], cost: $0[4])
        }
    }

    /// Probability-weighted open-deal amounts by close month, from this month on.
    public func forecast(pipeline: String?, months: Int) throws -> [CustomerValue.ForecastMonth] {
        if let pipeline { _ = try Pipelines<ReadAccess>(db: db).load(pipeline) }
        let today = CalendarDate(String(WallClock.now().prefix(10)))!
        let monthNames = (0..<months).map(today.monthText(adding:))
        let rows = try db.rows(
            """
            SELECT substr(d.close_date, 1, 7) AS month, COUNT(*), SUM(COALESCE(d.amount, 0)),
                \(db.dialect.integerQuotient("SUM(COALESCE(d.amount, 0) * p.probability) + 50", "100"))
            FROM deals d JOIN pipeline_stages p ON p.pipeline = d.pipeline AND p.stage = d.stage
            WHERE d.status = 'open' AND d.close_date >= :from AND d.close_date < :until
                AND (CAST(:pipeline AS TEXT) IS NULL OR d.pipeline = :pipeline)
            GROUP BY month
            """,
            named: [
                "from": monthNames[0] + "-01", "until": today.monthText(adding: months) + "-01",
                "pipeline": pipeline,
            ])
        let byMonth = Dictionary(uniqueKeysWithValues: rows.map { ($0[0] as String, $0) })
        return monthNames.map { month in
            guard let row = byMonth[month] else {
                return CustomerValue.ForecastMonth(month: month, deals: 0, amount: 0, weighted: 0)
            }
            return CustomerValue.ForecastMonth(month: month, deals: row[1], amount: row[2], weighted: row[3])
        }
    }

    public func costRates() throws -> [CustomerValue.CostItem: Int64] {
        var rates: [CustomerValue.CostItem: Int64] = [:]
        for row in try db.rows("SELECT item, amount FROM cost_rates") {
            if let item = CustomerValue.CostItem(rawValue: row[0]) { rates[item] = row[1] }
        }
        return rates
    }
}

extension Analytics where Access == WriteAccess {
    /// Assigns every company a tier: A is the smallest set of companies (ties
    /// share the better tier) making 80% of won-deal revenue, B the next 15%,
    /// C the rest, including every company without revenue.
    public func assignTiers(actor: String?) throws -> CustomerValue.TierCounts {
        try db.execute(
            """
            WITH \(Self.revenueCTE),
            ranked AS (
                SELECT c.id, COALESCE(r.value, 0) AS value,
                    COALESCE(SUM(COALESCE(r.value, 0)) OVER (
                        ORDER BY COALESCE(r.value, 0) DESC
                        RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE GROUP), 0) AS before
                FROM companies c LEFT JOIN revenue r ON r.company = c.id),
            total AS (SELECT COALESCE(SUM(value), 0) AS value FROM ranked),
            tiered AS (
                SELECT ranked.id, CASE
                    WHEN ranked.value > 0 AND ranked.before * 100 < total.value * 80 THEN 'A'
                    WHEN ranked.value > 0 AND ranked.before * 100 < total.value * 95 THEN 'B'
                    ELSE 'C' END AS tier
                FROM ranked, total)
            UPDATE companies SET tier = tiered.tier FROM tiered
            WHERE companies.id = tiered.id AND companies.tier \(db.dialect.isDistinctFrom) tiered.tier
            """, named: ["since": since])
        let counts = try db.row(
            """
            WITH \(Self.revenueCTE)
            SELECT COUNT(*) FILTER (WHERE tier = 'A'), COUNT(*) FILTER (WHERE tier = 'B'),
                COUNT(*) FILTER (WHERE tier = 'C'), (SELECT COALESCE(SUM(value), 0) FROM revenue)
            FROM companies
            """, named: ["since": since])!
        let result = CustomerValue.TierCounts(a: counts[0], b: counts[1], c: counts[2], revenue: counts[3])
        let fields = FieldChanges([
            "A": String(result.a), "B": String(result.b), "C": String(result.c), "revenue": String(result.revenue),
        ])
        try EventLog.append(
            db, type: "analytics.tiers", recordType: "analytics", recordID: 0, changes: fields, actor: actor,
            at: WallClock.now())
        return result
    }

    public func setCostRates(_ rates: [(CustomerValue.CostItem, Int64)], actor: String?) throws {
        var fields = FieldChanges()
        for (item, amount) in rates {
            try db.execute(
                "INSERT INTO cost_rates (item, amount) VALUES (?, ?) ON CONFLICT (item) DO UPDATE SET amount = excluded.amount",
                [item.rawValue, amount])
            fields.set(item.rawValue, String(amount))
        }
        try EventLog.append(
            db, type: "cost.set", recordType: "cost", recordID: 0, changes: fields, actor: actor, at: WallClock.now())
    }
}

/// The figures ``Analytics`` answers with.
public enum CustomerValue {
    /// The days of won deals, tickets and activities the figures cover.
    public static let windowDays: Int64 = 365

    /// What a company is worth to the tenant.
    public struct CompanyValue: Sendable, Equatable {
        public var company: Int64
        public var name: String?
        public var tier: String?
        public var revenue: Int64
        public var cost: Int64
        public var margin: Int64 { revenue - cost }
    }

    /// How ANALYTICS.TOP ranks companies.
    public enum Measure: String, CaseIterable, Sendable {
        case revenue, cost, margin
    }

    /// What cost-to-serve charges per item, in minor units.
    public enum CostItem: String, CaseIterable, Sendable {
        case ticket, activity
    }

    /// One month of the forecast.
    public struct ForecastMonth: Sendable, Equatable {
        public var month: String
        public var deals: Int64
        public var amount: Int64
        public var weighted: Int64
    }

    /// How many companies landed in each tier.
    public struct TierCounts: Sendable, Equatable {
        public var a: Int64
        public var b: Int64
        public var c: Int64
        public var revenue: Int64
    }
}
