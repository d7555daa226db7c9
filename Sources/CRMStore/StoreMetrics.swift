import CoreMetrics
import Synchronization

/// What the store reports to metrics (swift-metrics, so any backend) and to
/// `INFO`: group-commit batch sizes, the reorders and feed gaps that
/// committed transactions created, and where reads ran.
public final class StoreMetrics: Sendable {
    let batchSizes: Recorder
    private let reordersCreatedCounter: Counter
    private let feedGapsCounter: Counter
    private let readsInlineCounter: Counter
    private let readsOnReadersCounter: Counter
    private let reorders = Atomic<Int>(0)
    private let gaps = Atomic<Int>(0)
    private let inline = Atomic<Int>(0)
    private let onReaders = Atomic<Int>(0)

    public init(factory: any MetricsFactory) {
        batchSizes = Recorder(label: "crmgate_group_commit_batch_size", factory: factory)
        reordersCreatedCounter = Counter(label: "crmgate_reorders_created_total", factory: factory)
        feedGapsCounter = Counter(label: "crmgate_feed_gaps_total", factory: factory)
        readsInlineCounter = Counter(
            label: "crmgate_reads_total", dimensions: [("thread", "event_loop")], factory: factory)
        readsOnReadersCounter = Counter(
            label: "crmgate_reads_total", dimensions: [("thread", "reader")], factory: factory)
    }

    /// Metrics that go nowhere (tests, tools).
    public static let discarded = StoreMetrics(factory: NOOPMetricsHandler.instance)

    /// Reorders created since the server started.
    public var reordersCreated: Int { reorders.load(ordering: .relaxed) }
    /// Gaps in feed sequence numbers recorded since the server started.
    public var feedGaps: Int { gaps.load(ordering: .relaxed) }

    /// Read transactions run on the calling event loop since the server started.
    public var readsInline: Int { inline.load(ordering: .relaxed) }
    /// Read transactions run on reader threads since the server started.
    public var readsOnReaders: Int { onReaders.load(ordering: .relaxed) }

    func read(inline ranInline: Bool) {
        if ranInline {
            inline.add(1, ordering: .relaxed)
            readsInlineCounter.increment()
        } else {
            onReaders.add(1, ordering: .relaxed)
            readsOnReadersCounter.increment()
        }
    }

    func committed(reorders created: Int, feedGaps recorded: Int) {
        if created > 0 {
            reorders.add(created, ordering: .relaxed)
            reordersCreatedCounter.increment(by: created)
        }
        if recorded > 0 {
            gaps.add(recorded, ordering: .relaxed)
            feedGapsCounter.increment(by: recorded)
        }
    }
}
