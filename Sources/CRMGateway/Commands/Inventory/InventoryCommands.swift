import CRMCore
import CRMProtocol
import CRMStore

/// INV.*, FEED.* and REORDER.*: partners' stock, ERP feeds with sequence
/// numbers, and the reorders crmgate places.
enum InventoryCommands {
    static let handlers: [String: CommandHandler] = [
        "INV.RULE": rule, "INV.SET": set, "INV.ADJ": adjust, "INV.GET": get, "INV.LIST": list, "INV.PRICE": price,
        "FEED.OPEN": openFeed, "FEED.INFO": feedInfo, "REORDER.LIST": listReorders, "REORDER.GET": getReorder,
        "REORDER.CONFIRM": confirm, "REORDER.RECEIVE": receive, "REORDER.CANCEL": cancel,
    ]

    /// `INV.RULE company sku MIN m MAX n [MULTIPLE k] [LEAD days]`
    static func rule(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let company = try invocation.text(1)
        let sku = try SKU.validated(invocation.text(2))
        let options = try OptionArguments(
            invocation.texts(from: 3), tokens: ["MIN": 1, "MAX": 1, "MULTIPLE": 1, "LEAD": 1])
        guard options.has("MIN"), options.has("MAX") else { throw InvalidField("rule", "give MIN m MAX n") }
        let range = -ReorderRule.maxQuantity...ReorderRule.maxQuantity
        let rule = try ReorderRule(
            minimum: options.integer("MIN", in: range) ?? 0, maximum: options.integer("MAX", in: range) ?? 0,
            multiple: options.integer("MULTIPLE", in: range) ?? 1, leadDays: options.integer("LEAD", in: range) ?? 0)
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            try transaction.inventory.setRule(company: company, sku: sku, rule: rule, actor: actor)
            return .ok
        }
    }

    /// `INV.SET company sku qty [SEQ n]`: replies with on_hand, or `+DUP` for a replayed sequence number.
    static func set(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try feedCommand(invocation) { transaction, company, sku, quantity, actor in
            try transaction.inventory.set(company: company, sku: sku, quantity: quantity, actor: actor)
        }
    }

    /// `INV.ADJ company sku delta [SEQ n]`
    static func adjust(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try feedCommand(invocation) { transaction, company, sku, delta, actor in
            try transaction.inventory.adjust(company: company, sku: sku, delta: delta, actor: actor)
        }
    }

    private static func feedCommand(
        _ invocation: CommandInvocation,
        _ apply: @escaping @Sendable (TenantWriter, String, String, Int64, String?) throws -> Int64
    ) throws -> CommandOutcome {
        let company = try invocation.text(1)
        let sku = try SKU.validated(invocation.text(2))
        guard let quantity = Int64(try invocation.text(3)), abs(quantity) <= ReorderRule.maxQuantity else {
            throw InvalidField(
                "quantity", "must be an integer from -\(ReorderRule.maxQuantity) to \(ReorderRule.maxQuantity)")
        }
        let options = try OptionArguments(invocation.texts(from: 4), tokens: ["FEED": 1, "SEQ": 1])
        var sequence: (feed: String, seq: Int64)?
        let namedFeed = try options.value("FEED").map { name throws(InvalidField) in
            try feedName(name, field: "FEED")
        }
        if let text = options.value("SEQ") {
            guard let seq = Int64(text), seq > 0 else { throw InvalidField("SEQ", "must be a positive integer") }
            guard let feed = namedFeed ?? invocation.session.feed else {
                throw CommandError(.err, "SEQ needs FEED name, or FEED.OPEN name first on this connection")
            }
            sequence = (feed, seq)
        } else if namedFeed != nil {
            throw InvalidField("FEED", "goes with SEQ n")
        }
        let actor = invocation.session.key?.id
        let numbered = sequence
        return try invocation.write { transaction in
            if let numbered, try !transaction.feeds.admit(feed: numbered.feed, seq: numbered.seq) {
                return .simpleString("DUP")
            }
            return .integer(Int(try apply(transaction, company, sku, quantity, actor)))
        }
    }

    static func get(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let company = try invocation.text(1)
        let sku = try invocation.text(2)
        return try invocation.read { reply(try $0.inventory.level(company: company, sku: sku)) }
    }

    /// `INV.LIST company [LIMIT n] [CURSOR c]`: `[next-cursor, [levels]]`.
    static func list(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let company = try invocation.text(1)
        let options = try OptionArguments(invocation.texts(from: 2), tokens: ["LIMIT": 1, "CURSOR": 1])
        let limit = try options.integer("LIMIT", in: 1...StoreLimits.maxInventoryPage, default: 100)
        let after = try options.value("CURSOR").flatMap { cursor throws(InvalidField) -> String? in
            guard cursor != "0" else { return nil }
            guard cursor.utf8.count <= 256, let bytes = ASCIIText.bytes(fromHex: cursor) else {
                throw InvalidField("CURSOR", "not a cursor this server issued")
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        return try invocation.read { transaction in
            let page = try transaction.inventory.list(company: company, after: after, limit: limit)
            return .array([.bulk(page.next.map { ASCIIText.hex($0.utf8) } ?? "0"), .array(page.levels.map(reply))])
        }
    }

    /// `INV.PRICE company sku amount currency`
    static func price(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let company = try invocation.text(1)
        let sku = try SKU.validated(invocation.text(2))
        guard let amount = Int64(try invocation.text(3)), (0...1_000_000_000_000).contains(amount) else {
            throw InvalidField("amount", "must be an integer from 0 to 1000000000000 (minor units)")
        }
        let currency = try RecordSchema.normalize(invocation.text(4), for: RecordSchema.Field("currency", .currency))
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            try transaction.inventory.setPrice(
                company: company, sku: sku, amount: amount, currency: currency, actor: actor)
            return .ok
        }
    }

    static func reply(_ level: StockLevel) -> RESPValue {
        func number(_ value: Int64?) -> RESPValue { value.map { .integer(Int($0)) } ?? .null }
        return .map([
            (.bulk("company"), .integer(Int(level.company))), (.bulk("sku"), .bulk(level.sku)),
            (.bulk("on_hand"), .integer(Int(level.onHand))), (.bulk("on_order"), .integer(Int(level.onOrder))),
            (.bulk("min"), number(level.rule?.minimum)), (.bulk("max"), number(level.rule?.maximum)),
            (.bulk("multiple"), number(level.rule?.multiple)), (.bulk("lead_days"), number(level.rule?.leadDays)),
            (.bulk("unit_price"), number(level.unitPrice)),
            (.bulk("currency"), level.currency.map(RESPValue.bulk) ?? .null),
            (.bulk("updated_at"), .bulk(level.updatedAt)),
        ])
    }

    /// `FEED.OPEN name`: replies with the feed's last applied sequence number and makes it this connection's feed.
    static func openFeed(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let name = try feedName(invocation)
        let database = try invocation.tenantDatabase()
        return invocation.asyncResult {
            let last = try await database.write { try $0.feeds.open(name) }
            return CommandResult(reply: .integer(Int(last)), effects: [.openFeed(name)])
        }
    }

    static func feedInfo(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let name = try feedName(invocation)
        return try invocation.read { transaction in
            let info = try transaction.feeds.info(name)
            return .map([
                (.bulk("name"), .bulk(info.name)), (.bulk("last_seq"), .integer(Int(info.lastSeq))),
                (.bulk("applied"), .integer(Int(info.applied))), (.bulk("duplicates"), .integer(Int(info.duplicates))),
                (.bulk("gaps"), .array(info.gaps.map { .bulk("\($0.lowerBound)-\($0.upperBound)") })),
                (.bulk("updated_at"), .bulk(info.updatedAt)),
            ])
        }
    }

    private static func feedName(_ invocation: CommandInvocation) throws -> String {
        try feedName(invocation.text(1), field: "feed")
    }

    /// A feed's name, lower-cased; `field` names it in the error.
    private static func feedName(_ text: String, field: String) throws(InvalidField) -> String {
        let name = text.lowercased()
        guard Pipeline.isValidName(name) else { throw InvalidField(field, "use 1-64 of a-z 0-9 _ -") }
        return name
    }

    /// `REORDER.LIST [STATUS s] [COMPANY c] [LIMIT n] [CURSOR c]`
    static func listReorders(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let options = try OptionArguments(
            invocation.texts(from: 1), tokens: ["STATUS": 1, "COMPANY": 1, "LIMIT": 1, "CURSOR": 1])
        let status = try options.value("STATUS").map { text throws(InvalidField) -> ReorderStatus in
            guard let status = ReorderStatus(rawValue: text.lowercased()) else {
                throw InvalidField(
                    "STATUS", "must be one of \(ReorderStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return status
        }
        let company = options.value("COMPANY")
        let limit = try options.integer("LIMIT", in: 1...1000, default: 100)
        let after = try options.numberCursor()
        return try invocation.read { transaction in
            let companyID = try company.map { try transaction.inventory.company($0) }
            let page = try transaction.reorders.list(status: status, company: companyID, after: after, limit: limit)
            return .array([.bulk(page.next.map { String($0) } ?? "0"), .array(page.reorders.map(reply))])
        }
    }

    static func getReorder(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        return try invocation.read { reply(try $0.reorders.get(id: id)) }
    }

    static func confirm(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        let actor = invocation.session.key?.id
        return try invocation.write { reply(try $0.reorders.confirm(id: id, actor: actor)) }
    }

    /// `REORDER.RECEIVE id [QTY q]`
    static func receive(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        let options = try OptionArguments(invocation.texts(from: 2), tokens: ["QTY": 1])
        let quantity = try options.integer("QTY", in: 0...ReorderRule.maxQuantity)
        let actor = invocation.session.key?.id
        return try invocation.write { reply(try $0.reorders.receive(id: id, quantity: quantity, actor: actor)) }
    }

    /// `REORDER.CANCEL id REASON text`
    static func cancel(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        let reason = try RecordCommands.reasonArgument(invocation, at: 2)
        let actor = invocation.session.key?.id
        return try invocation.write { reply(try $0.reorders.cancel(id: id, reason: reason, actor: actor)) }
    }

    static func reply(_ reorder: Reorder) -> RESPValue {
        .map([
            (.bulk("id"), .integer(Int(reorder.id))), (.bulk("company"), .integer(Int(reorder.company))),
            (.bulk("sku"), .bulk(reorder.sku)), (.bulk("quantity"), .integer(Int(reorder.quantity))),
            (.bulk("received"), reorder.received.map { .integer(Int($0)) } ?? .null),
            (.bulk("status"), .bulk(reorder.status.rawValue)),
            (.bulk("deal"), reorder.deal.map { .integer(Int($0)) } ?? .null),
            (.bulk("reason"), reorder.reason.map(RESPValue.bulk) ?? .null),
            (.bulk("created_at"), .bulk(reorder.createdAt)),
            (.bulk("updated_at"), .bulk(reorder.updatedAt)),
        ])
    }
}
