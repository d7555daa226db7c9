/// When and how much to re-order for a partner's stock (DESIGN.md §6):
/// a min/max rule with an order multiple, as ERP reorder rules have.
public struct ReorderRule: Sendable, Equatable {
    /// Re-order when on hand plus on order falls below this.
    public var minimum: Int64
    /// Order up to this level.
    public var maximum: Int64
    /// Order quantities are multiples of this (a pack or pallet size).
    public var multiple: Int64
    /// Days the supplier needs; informational, shown on reorders.
    public var leadDays: Int64

    public static let maxQuantity: Int64 = 1_000_000_000

    public init(minimum: Int64, maximum: Int64, multiple: Int64 = 1, leadDays: Int64 = 0) throws(InvalidField) {
        guard (0...Self.maxQuantity).contains(minimum) else {
            throw InvalidField("MIN", "must be an integer from 0 to \(Self.maxQuantity)")
        }
        guard (minimum...Self.maxQuantity).contains(maximum) else {
            throw InvalidField("MAX", "must be at least MIN (\(minimum)) and at most \(Self.maxQuantity)")
        }
        guard (1...Self.maxQuantity).contains(multiple) else {
            throw InvalidField("MULTIPLE", "must be an integer from 1 to \(Self.maxQuantity)")
        }
        guard (0...3650).contains(leadDays) else {
            throw InvalidField("LEAD", "must be an integer from 0 to 3650 days")
        }
        self.minimum = minimum
        self.maximum = maximum
        self.multiple = multiple
        self.leadDays = leadDays
    }

    /// The quantity to order for this stock position, or nil if none is due:
    /// `MAX − (on_hand + on_order)` rounded up to `multiple`, when
    /// `on_hand + on_order < MIN`. Negative stock (backorders) counts as is.
    /// A level the ERP has never reported (`onHand` nil) orders nothing: an
    /// unknown stock is not an empty one.
    public func quantity(onHand: Int64?, onOrder: Int64) -> Int64? {
        guard let onHand else { return nil }
        let position = onHand + onOrder
        guard position < minimum else { return nil }
        let shortfall = maximum - position
        guard shortfall > 0 else { return nil }
        return (shortfall + multiple - 1) / multiple * multiple
    }
}

/// When a change to a partner's stock opens an automatic reorder (DESIGN.md §6).
public enum ReorderTrigger {
    /// The quantity to reorder, or nil: only for a SKU with a rule whose
    /// reported position calls for one (``ReorderRule/quantity(onHand:onOrder:)``),
    /// of a company at the `partner` stage, with no reorder of the SKU open.
    /// The cheap test runs first: `stage` and `hasOpenReorder` are asked only when it passes.
    public static func quantity(
        rule: ReorderRule?, onHand: Int64?, onOrder: Int64, stage: () throws -> RelationshipStage?,
        hasOpenReorder: () throws -> Bool
    ) rethrows -> Int64? {
        guard let quantity = rule?.quantity(onHand: onHand, onOrder: onOrder), try stage() == .partner,
            try !hasOpenReorder()
        else { return nil }
        return quantity
    }
}

/// Where a reorder stands: `proposed → confirmed → received`, or
/// `cancelled`; `held` while the company is in conflict.
public enum ReorderStatus: String, CaseIterable, Sendable {
    case proposed, confirmed, received, cancelled, held

    /// Open reorders count against on_order and block a second one for the same SKU.
    public var isOpen: Bool { self == .proposed || self == .confirmed || self == .held }
}

/// A stock-keeping unit as ERP systems name it: 1–64 visible characters.
public enum SKU {
    public static func validated(_ text: String) throws(InvalidField) -> String {
        guard (1...64).contains(text.utf8.count),
            text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F })
        else {
            throw InvalidField("sku", "use 1-64 characters without spaces or control characters")
        }
        return text
    }
}
