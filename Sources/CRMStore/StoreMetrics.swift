import CoreMetrics
import GRDB
import Synchronization

/// What the store reports to metrics (swift-metrics, so any backend) and to
/// `INFO`: group-commit batch sizes, and the reorders and feed gaps that
/// committed transactions created.
public final class StoreMetrics: Sendable {
    let batchSizes: Recorder
    private let reordersCreatedCounter: Counter
    private let feedGapsCounter: Counter
    private let reorders = Atomic<Int>(0)
    private let gaps = Atomic<Int>(0)

    public init(factory: any MetricsFactory) {
        batchSizes = Recorder(label: "crmgate_group_commit_batch_size", factory: factory)
        reordersCreatedCounter = Counter(label: "crmgate_reorders_created_total", factory: factory)
        feedGapsCounter = Counter(label: "crmgate_feed_gaps_total", factory: factory)
    }

    /// Metrics that go nowhere (tests, tools).
    public static let discarded = StoreMetrics(factory: NOOPMetricsHandler.instance)

    /// Reorders created since the server started.
    public var reordersCreated: Int { reorders.load(ordering: .relaxed) }
    /// Gaps in feed sequence numbers recorded since the server started.
    public var feedGaps: Int { gaps.load(ordering: .relaxed) }

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

/// Counts rows inserted into `reorders` and `feed_gaps` by transactions that
/// commit (work undone by a rolled-back savepoint is not counted).
final class StoreMetricsObserver: TransactionObserver {
    private let metrics: StoreMetrics
    private var reorders = 0
    private var gaps = 0

    init(metrics: StoreMetrics) {
        self.metrics = metrics
    }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .insert(let table) = eventKind { return table == "reorders" || table == "feed_gaps" }
        return false
    }

    func databaseDidChange(with event: DatabaseEvent) {
        if event.tableName == "reorders" { reorders += 1 } else { gaps += 1 }
    }

    func databaseDidCommit(_ db: Database) {
        metrics.committed(reorders: reorders, feedGaps: gaps)
        reorders = 0
        gaps = 0
    }

    func databaseDidRollback(_ db: Database) {
        reorders = 0
        gaps = 0
    }
}
