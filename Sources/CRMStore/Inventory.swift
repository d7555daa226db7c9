import CRMCore

/// A company's stock of one SKU and its reorder rule.
public struct StockLevel: Sendable, Equatable {
    public var company: Int64
    public var sku: String
    public var onHand: Int64
    /// Whether the ERP has reported this SKU's stock (`INV.SET` or `INV.ADJ`);
    /// until then `onHand` is 0 by default, not a count.
    public var reported: Bool
    public var onOrder: Int64
    public var rule: ReorderRule?
    public var unitPrice: Int64?
    public var currency: String?
    public var updatedAt: String

    /// `onHand` if the ERP has reported it, else nil: the level is unknown.
    public var reportedOnHand: Int64? { reported ? onHand : nil }
}

/// Partners' stock levels, kept by their ERP feeds. Every change re-evaluates
/// the reorder rule in the same transaction (``ReorderEngine``).
public struct Inventory<Access: StorageAccess> {
    let db: any SQLDatabase

    /// A company by `ext` (an ERP's own customer number), or else by id.
    public func company(_ reference: String) throws -> Int64 {
        if let id = try db.value(Int64.self, "SELECT id FROM companies WHERE ext = ?", [reference]) {
            return id
        }
        if let id = Int64(reference), id > 0, try RecordTable.companies.exists(db, id: id) {
            return id
        }
        throw StoreError.notFound("no such company")
    }

    public func level(company reference: String, sku: String) throws -> StockLevel {
        let company = try company(reference)
        guard let level = try Self.level(db, company: company, sku: sku) else {
            throw StoreError.notFound("no such sku")
        }
        return level
    }

    /// A company's SKUs in order, after `after`; the last SKU of a full page continues.
    public func list(company reference: String, after: String?, limit: Int) throws -> (
        levels: [StockLevel], next: String?
    ) {
        let company = try company(reference)
        var levels = try db.rows(
            "SELECT \(Self.columns) FROM inventory WHERE company = ? AND sku > ? ORDER BY sku LIMIT ?",
            [company, after ?? "", limit + 1]
        ).map(Self.level)
        let next = levels.trimToPage(limit)?.sku
        return (levels, next)
    }

    static var columns: String {
        "company, sku, on_hand, on_order, min, max, multiple, lead_days, unit_price, currency, updated_at, reported"
    }

    static func level(_ db: any SQLDatabase, company: Int64, sku: String) throws -> StockLevel? {
        try db.row(
            "SELECT \(columns) FROM inventory WHERE company = ? AND sku = ?", [company, sku]
        ).map(level)
    }

    static func level(_ row: SQLRow) -> StockLevel {
        var rule: ReorderRule?
        if let minimum: Int64 = row[4], let maximum: Int64 = row[5] {
            rule = try? ReorderRule(minimum: minimum, maximum: maximum, multiple: row[6], leadDays: row[7])
        }
        return StockLevel(
            company: row[0], sku: row[1], onHand: row[2], reported: row[11], onOrder: row[3], rule: rule,
            unitPrice: row[8], currency: row[9], updatedAt: row[10])
    }

    private func change(
        _ reference: String, _ sku: String, actor: String?, event: String, _ newLevel: (Int64) -> Int64
    ) throws -> Int64 {
        let company = try company(reference)
        let now = WallClock.now()
        var level = try Self.level(db, company: company, sku: sku)
        if level == nil {
            try ensureRow(company, sku, now)
            level = try Self.level(db, company: company, sku: sku)
        }
        guard var current = level else { throw StoreError.notFound("no such sku") }
        let onHand = newLevel(current.onHand)
        guard abs(onHand) <= ReorderRule.maxQuantity else {
            throw InvalidField(
                "quantity", "on_hand would leave -\(ReorderRule.maxQuantity)..\(ReorderRule.maxQuantity)")
        }
        try db.execute(
            "UPDATE inventory SET on_hand = ?, reported = 1, updated_at = ? WHERE company = ? AND sku = ?",
            [onHand, now, company, sku])
        try record(event, company, sku, now, actor, ["on_hand": String(onHand), "was": String(current.onHand)])
        current.onHand = onHand
        current.reported = true
        try ReorderEngine(db: db).evaluate(company: company, sku: sku, actor: actor, now: now, level: current)
        return onHand
    }

    private func ensureRow(_ company: Int64, _ sku: String, _ now: String) throws {
        try db.execute(
            "INSERT INTO inventory (company, sku, updated_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [company, sku, now])
    }

    private func record(
        _ type: String, _ company: Int64, _ sku: String, _ now: String, _ actor: String?, _ fields: [String: String?]
    ) throws {
        let changes = FieldChanges(fields.merging(["sku": sku]) { _, sku in sku })
        try EventLog.append(
            db, type: type, recordType: "company", recordID: company, changes: changes, actor: actor, at: now)
    }
}

extension Inventory where Access == WriteAccess {
    public func setRule(company reference: String, sku: String, rule: ReorderRule, actor: String?) throws {
        let company = try company(reference)
        let now = WallClock.now()
        try ensureRow(company, sku, now)
        try db.execute(
            """
            UPDATE inventory SET min = ?, max = ?, multiple = ?, lead_days = ?, updated_at = ?
            WHERE company = ? AND sku = ?
            """, [rule.minimum, rule.maximum, rule.multiple, rule.leadDays, now, company, sku])
        try record(
            "inventory.rule", company, sku, now, actor,
            [
                "min": String(rule.minimum), "max": String(rule.maximum), "multiple": String(rule.multiple),
                "lead_days": String(rule.leadDays),
            ])
        try ReorderEngine(db: db).evaluate(company: company, sku: sku, actor: actor, now: now)
    }

    /// Sets on_hand (a stock count); returns the new level.
    public func set(company reference: String, sku: String, quantity: Int64, actor: String?) throws -> Int64 {
        try change(reference, sku, actor: actor, event: "inventory.set") { _ in quantity }
    }

    /// Adds `delta` (negative for consumption) to on_hand; returns the new level.
    public func adjust(company reference: String, sku: String, delta: Int64, actor: String?) throws -> Int64 {
        try change(reference, sku, actor: actor, event: "inventory.adjusted") { $0 + delta }
    }

    /// The unit price reorders of this SKU are valued at (their deals' amount).
    public func setPrice(company reference: String, sku: String, amount: Int64, currency: String, actor: String?)
        throws
    {
        let company = try company(reference)
        let now = WallClock.now()
        try ensureRow(company, sku, now)
        try db.execute(
            "UPDATE inventory SET unit_price = ?, currency = ?, updated_at = ? WHERE company = ? AND sku = ?",
            [amount, currency, now, company, sku])
        try record("inventory.price", company, sku, now, actor, ["unit_price": String(amount), "currency": currency])
    }
}
