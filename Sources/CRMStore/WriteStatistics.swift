import CoreMetrics
import Synchronization

/// Counters of committed write batches, for `INFO persistence`.
public final class WriteStatistics: Sendable {
    private let batches = Atomic<Int>(0)
    private let writes = Atomic<Int>(0)
    private let largestBatch = Atomic<Int>(0)
    private let batchSizes: Recorder?

    public init(batchSizes: Recorder? = nil) {
        self.batchSizes = batchSizes
    }

    func recordBatch(size: Int) {
        batchSizes?.record(size)
        batches.add(1, ordering: .relaxed)
        writes.add(size, ordering: .relaxed)
        largestBatch.max(size, ordering: .relaxed)
    }

    /// Committed transactions.
    public var committedBatches: Int { batches.load(ordering: .relaxed) }
    /// Writes acknowledged in those transactions.
    public var committedWrites: Int { writes.load(ordering: .relaxed) }
    /// The most writes one transaction has held.
    public var largestBatchSize: Int { largestBatch.load(ordering: .relaxed) }
}
