/// Whether an ERP feed update numbered `seq` is applied, given the last
/// number the feed applied (DESIGN.md §7): exactly once, in any order of retries.
public enum FeedAdmission: Equatable, Sendable {
    /// At or below the last applied number: applied before, so not again.
    case duplicate
    /// Applied; `skipped` holds the numbers a jump forward passed over (a gap), if any.
    case apply(skipped: ClosedRange<Int64>?)

    public init(seq: Int64, lastApplied last: Int64?) {
        if let last, seq <= last {
            self = .duplicate
            return
        }
        let expected = (last ?? 0) + 1
        self = .apply(skipped: seq > expected ? expected...(seq - 1) : nil)
    }
}
