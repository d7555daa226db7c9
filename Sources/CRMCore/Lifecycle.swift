/// A contact's lifecycle stage (HubSpot's lifecycle model).
///
/// Stages move forward only, unless the caller forces a reset; `other` stands
/// outside the sequence, so any stage may move to it and from it.
public enum Lifecycle: String, CaseIterable, Sendable {
    case subscriber, lead, marketingqualifiedlead, salesqualifiedlead, opportunity, customer, evangelist, other

    private var rank: Int? {
        self == .other ? nil : Self.allCases.firstIndex(of: self)
    }

    /// Checks a move from `current` to `next`; `force` allows moving backwards.
    public static func checkMove(from current: Lifecycle?, to next: Lifecycle, force: Bool) throws(InvalidField) {
        guard !force, let current, let from = current.rank, let to = next.rank, to < from else { return }
        throw InvalidField(
            "lifecycle",
            "cannot move back from \(current.rawValue) to \(next.rawValue) (add FORCE to reset it)"
        )
    }
}
