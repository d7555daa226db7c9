import CRMCore

/// A re-order crmgate placed for a partner's SKU.
public struct Reorder: Sendable, Equatable {
    public var id: Int64
    public var company: Int64
    public var sku: String
    public var quantity: Int64
    public var received: Int64?
    public var status: ReorderStatus
    public var deal: Int64?
    public var reason: String?
    public var createdAt: String
    public var updatedAt: String
}

/// Automatic re-ordering at the `partner` stage (DESIGN.md §6). Runs inside
/// the transaction of the change that triggers it, so a reorder, its
/// on_order, its deal and its event commit or vanish together.
struct ReorderEngine {
    let db: any SQLDatabase

    /// Creates a reorder when ``ReorderTrigger`` calls for one. `level` is the
    /// SKU's level as the caller just wrote it, if it has it at hand.
    func evaluate(company: Int64, sku: String, actor: String?, now: String, level known: StockLevel? = nil) throws {
        // The cheap test first: most changes leave the position at or above MIN.
        guard let level = try known ?? Inventory<ReadAccess>.level(db, company: company, sku: sku),
            let quantity = try ReorderTrigger.quantity(
                rule: level.rule, onHand: level.reportedOnHand, onOrder: level.onOrder,
                stage: {
                    try db.value(
                        String.self, "SELECT stage FROM companies WHERE id = ?", [company]
                    ).flatMap(RelationshipStage.init)
                },
                hasOpenReorder: {
                    try db.value(
                        Int64.self,
                        "SELECT id FROM reorders WHERE company = ? AND sku = ? AND status IN ('proposed', 'confirmed', 'held')",
                        [company, sku]) != nil
                })
        else { return }
        var deal = FieldChanges()
        deal.set("title", "Auto-reorder \(quantity) x \(sku)")
        deal.set("company", String(company))
        deal.set("source", "auto-reorder")
        if let price = level.unitPrice, let currency = level.currency {
            let (amount, overflow) = price.multipliedReportingOverflow(by: quantity)
            if !overflow { deal.set("amount", String(amount)) }
            deal.set("currency", currency)
        }
        let dealID = try RecordCollection<WriteAccess>(db: db, kind: .deal).add(deal, actor: actor)
        guard
            let id = try db.insertedKey(
                db.dialect.insertWithKey(
                    into: "reorders", key: "id",
                    columns: ["company", "sku", "quantity", "status", "deal", "created_at", "updated_at"],
                    ignoringConflicts: false),
                [company, sku, quantity, ReorderStatus.proposed.rawValue, dealID, now, now])
        else { throw StoreError.conflict("the reorder was not inserted") }
        try db.execute(
            "UPDATE inventory SET on_order = on_order + ? WHERE company = ? AND sku = ?", [quantity, company, sku])
        try append(
            "reorder.created", id: id, company: company, deal: dealID, actor: actor, now: now,
            [
                "sku": sku, "quantity": String(quantity), "on_hand": String(level.onHand),
                "on_order": String(level.onOrder + quantity), "status": ReorderStatus.proposed.rawValue,
            ])
    }

    /// Holds a company's open reorders when it moves to conflict; at partner
    /// again, they are proposed anew and every SKU is evaluated.
    func stageChanged(company: Int64, to stage: RelationshipStage, actor: String?, now: String) throws {
        switch stage {
        case .conflict:
            try setStatus(company: company, from: ["proposed", "confirmed"], to: .held, actor: actor, now: now)
        case .partner:
            try setStatus(company: company, from: ["held"], to: .proposed, actor: actor, now: now)
            let skus = try db.values(String.self, "SELECT sku FROM inventory WHERE company = ? ORDER BY sku", [company])
            for sku in skus { try evaluate(company: company, sku: sku, actor: actor, now: now) }
        case .transaction, .transition:
            break
        }
    }

    private func setStatus(company: Int64, from: [String], to status: ReorderStatus, actor: String?, now: String)
        throws
    {
        let rows = try db.rows(
            "SELECT id, deal FROM reorders WHERE company = ? AND status IN (\(from.map { "'\($0)'" }.joined(separator: ","))) ORDER BY id",
            [company])
        for row in rows {
            try db.execute(
                "UPDATE reorders SET status = ?, updated_at = ? WHERE id = ?", [status.rawValue, now, row[0] as Int64])
            try append(
                "reorder.\(status.rawValue)", id: row[0], company: company, deal: row[1], actor: actor, now: now,
                ["status": status.rawValue])
        }
    }

    func append(
        _ type: String, id: Int64, company: Int64, deal: Int64?, actor: String?, now: String,
        _ fields: [String: String?]
    ) throws {
        try EventLog.append(
            db, type: type, recordType: "reorder", recordID: id, changes: FieldChanges(fields), actor: actor, at: now,
            links: [EventLog.Link(type: "company", id: company)]
                + (deal.map { [EventLog.Link(type: "deal", id: $0)] } ?? []))
    }
}

/// Reorder commands: list, confirm, receive, cancel.
public struct Reorders<Access: StorageAccess> {
    let db: any SQLDatabase

    public func get(id: Int64) throws -> Reorder {
        guard
            let reorder = try db.row(
                "SELECT \(Self.columns) FROM reorders WHERE id = ?", [id]
            ).map(Self.reorder)
        else { throw StoreError.notFound("no such reorder") }
        return reorder
    }

    /// Reorders by id, optionally of one status and company, after `after`.
    public func list(status: ReorderStatus?, company: Int64?, after: Int64?, limit: Int) throws -> (
        reorders: [Reorder], next: Int64?
    ) {
        var reorders = try db.rows(
            """
            SELECT \(Self.columns) FROM reorders
            WHERE id > ? AND (CAST(? AS TEXT) IS NULL OR status = ?) AND (CAST(? AS BIGINT) IS NULL OR company = ?)
            ORDER BY id LIMIT ?
            """, [after ?? 0, status?.rawValue, status?.rawValue, company, company, limit + 1]
        ).map(Self.reorder)
        let next = reorders.trimToPage(limit)?.id
        return (reorders, next)
    }

    /// The reorder's deal if it is still open (sales may have closed it by hand).
    private func openDeal(of reorder: Reorder) throws -> Int64? {
        guard let deal = reorder.deal, let record = try RecordTable.deals.fetch(db, id: deal),
            record["status"] == DealStatus.open.rawValue
        else { return nil }
        return deal
    }

    private func update(
        _ reorder: Reorder, to status: ReorderStatus, received: Int64?, reason: String?, actor: String?
    ) throws -> Reorder {
        let now = WallClock.now()
        try db.execute(
            "UPDATE reorders SET status = ?, received = COALESCE(?, received), reason = COALESCE(?, reason), updated_at = ? WHERE id = ?",
            [status.rawValue, received, reason, now, reorder.id])
        var fields = ["status": status.rawValue]
        if let received { fields["received"] = String(received) }
        if let reason { fields["reason"] = reason }
        try ReorderEngine(db: db).append(
            "reorder.\(status.rawValue)", id: reorder.id, company: reorder.company, deal: reorder.deal, actor: actor,
            now: now, fields)
        return try get(id: reorder.id)
    }

    static var columns: String { "id, company, sku, quantity, received, status, deal, reason, created_at, updated_at" }

    static func reorder(_ row: SQLRow) -> Reorder {
        Reorder(
            id: row[0], company: row[1], sku: row[2], quantity: row[3], received: row[4],
            status: ReorderStatus(rawValue: row[5]) ?? .proposed, deal: row[6], reason: row[7], createdAt: row[8],
            updatedAt: row[9])
    }
}

extension Reorders where Access == WriteAccess {
    public func confirm(id: Int64, actor: String?) throws -> Reorder {
        let reorder = try get(id: id)
        guard reorder.status == .proposed else {
            throw InvalidField(
                "status", "only a proposed reorder can be confirmed (this one is \(reorder.status.rawValue))")
        }
        return try update(reorder, to: .confirmed, received: nil, reason: nil, actor: actor)
    }

    /// Books the goods in: the received quantity (all by default) moves from
    /// on_order to on_hand, the rest of the order is closed, and its deal is won.
    public func receive(id: Int64, quantity: Int64?, actor: String?) throws -> Reorder {
        let reorder = try get(id: id)
        guard reorder.status == .confirmed else {
            throw InvalidField(
                "status", "only a confirmed reorder can be received (this one is \(reorder.status.rawValue))")
        }
        let received = quantity ?? reorder.quantity
        guard (0...ReorderRule.maxQuantity).contains(received) else {
            throw InvalidField("QTY", "must be an integer from 0 to \(ReorderRule.maxQuantity)")
        }
        try db.execute(
            "UPDATE inventory SET on_hand = on_hand + ?, on_order = on_order - ? WHERE company = ? AND sku = ?",
            [received, reorder.quantity, reorder.company, reorder.sku])
        let updated = try update(reorder, to: .received, received: received, reason: nil, actor: actor)
        if let deal = try openDeal(of: reorder) { _ = try DealFlow(db: db).win(deal: deal, actor: actor) }
        try ReorderEngine(db: db).evaluate(
            company: reorder.company, sku: reorder.sku, actor: actor, now: WallClock.now())
        return updated
    }

    /// Cancels an open reorder: its quantity leaves on_order and its deal is lost.
    public func cancel(id: Int64, reason: String, actor: String?) throws -> Reorder {
        let reorder = try get(id: id)
        guard reorder.status.isOpen else {
            throw InvalidField("status", "the reorder is already \(reorder.status.rawValue)")
        }
        let reason = try Reason.validated(reason)
        try db.execute(
            "UPDATE inventory SET on_order = on_order - ? WHERE company = ? AND sku = ?",
            [reorder.quantity, reorder.company, reorder.sku])
        let updated = try update(reorder, to: .cancelled, received: nil, reason: reason, actor: actor)
        if let deal = try openDeal(of: reorder) {
            _ = try DealFlow(db: db).lose(deal: deal, reason: reason, actor: actor)
        }
        return updated
    }
}
