import CRMProtocol
import NIOCore
import Synchronization

/// How many commands ran, failed and took how long, by command: the numbers
/// behind `INFO commandstats` and the `crmgate_commands_total` and
/// `crmgate_command_duration_seconds` metrics.
///
/// Every command is counted, so the counting must not make the cores serving
/// connections share anything: each event loop counts into its own shard and
/// readers add the shards up. (A swift-prometheus counter and histogram shared
/// by all loops cost a cached `CONTACT.GET` ~9 % of its CPU, in cache-line
/// transfers and the histogram's lock; swift-prometheus has no per-thread
/// recording, so these two families are written here, in the same text format,
/// after the registry's.)
final class CommandMeters: Sendable {
    /// One value per bounded duration bucket. The bounds and each tally's
    /// counts share this one size, so a bound added without its count does not compile.
    typealias PerBucket<Element: ~Copyable> = InlineArray<12, Element>

    /// Upper bounds of the duration histogram's buckets, in microseconds.
    static let bucketBounds: PerBucket<Int> = [
        100, 250, 500, 1_000, 2_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    ]

    /// One command's numbers in one shard. Only that shard's event loop adds to them.
    final class Tally: Sendable {
        let calls = Atomic<Int>(0)
        let failed = Atomic<Int>(0)
        let microseconds = Atomic<Int>(0)
        /// Calls by duration: index `i` counts those over bound `i - 1` and up to bound `i`.
        /// Calls over every bound are the rest of ``calls``.
        let buckets: PerBucket<Atomic<Int>> = InlineArray { _ in Atomic(0) }

        func add(microseconds elapsed: Int, failed hasFailed: Bool) {
            calls.add(1, ordering: .relaxed)
            if hasFailed { failed.add(1, ordering: .relaxed) }
            microseconds.add(elapsed, ordering: .relaxed)
            for index in CommandMeters.bucketBounds.indices where elapsed <= CommandMeters.bucketBounds[index] {
                buckets[index].add(1, ordering: .relaxed)
                return
            }
        }
    }

    /// One event loop's tallies, by command slot.
    final class Shard: Sendable {
        fileprivate let tallies: [Tally]

        fileprivate init(slots: Int) {
            tallies = (0..<slots).map { _ in Tally() }
        }
    }

    /// The name commands not in the table are counted under.
    static let unknown = "UNKNOWN"

    /// Command-table names (subcommands as `CONTAINER SUB`), by slot; the last is ``unknown``.
    private let names: [String]
    private let slots: [String: Int]
    private let shards: PerEventLoop<Shard>

    /// `names`: every command that can be counted; anything else counts as `unknown`.
    init(names: [String]) {
        self.names = names + [Self.unknown]
        slots = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let slotCount = self.names.count
        shards = PerEventLoop { _ in Shard(slots: slotCount) }
    }

    /// The shard `eventLoop`'s connections count into.
    func shard(for eventLoop: any EventLoop) -> Shard {
        shards.value(for: eventLoop)
    }

    /// The tally in `shard` that `command` counts under: its name, else `NAME SUBCOMMAND`, else ``unknown``.
    func tally(for command: RESPCommand, in shard: Shard) -> Tally {
        let slot =
            slots[command.name]
            ?? (command.arguments.count > 1
                ? slots["\(command.name) \(String(buffer: command.arguments[1]).uppercased())"] : nil)
        return shard.tallies[slot ?? names.count - 1]
    }

    /// One command's numbers, summed over every shard.
    struct Totals {
        var calls = 0
        var failed = 0
        var microseconds = 0
        /// Calls by duration bucket, as ``Tally/buckets``, then those over every bound.
        var buckets = [Int](repeating: 0, count: CommandMeters.bucketBounds.count + 1)
    }

    /// The totals of every command that ran at least once, by name.
    func totals() -> [(name: String, totals: Totals)] {
        let shards = shards.all
        return names.indices.compactMap { slot in
            var totals = Totals()
            for shard in shards {
                let tally = shard.tallies[slot]
                totals.calls += tally.calls.load(ordering: .relaxed)
                totals.failed += tally.failed.load(ordering: .relaxed)
                totals.microseconds += tally.microseconds.load(ordering: .relaxed)
                for bucket in tally.buckets.indices {
                    totals.buckets[bucket] += tally.buckets[bucket].load(ordering: .relaxed)
                }
            }
            totals.buckets[Self.bucketBounds.count] = totals.calls - totals.buckets.reduce(0, +)
            return totals.calls > 0 ? (names[slot], totals) : nil
        }
    }

    /// Commands answered so far, of every name (`INFO stats`' `total_commands_processed`).
    var answered: Int {
        totals().reduce(0) { $0 + $1.totals.calls }
    }

    /// The two metric families in the Prometheus text exposition format.
    func exposition() -> [UInt8] {
        let ran = totals()
        var text = "# TYPE crmgate_commands_total counter\n"
        for (name, totals) in ran {
            let command = name.lowercased()
            text += "crmgate_commands_total{command=\"\(command)\",result=\"ok\"} \(totals.calls - totals.failed)\n"
            text += "crmgate_commands_total{command=\"\(command)\",result=\"error\"} \(totals.failed)\n"
        }
        text += "# TYPE crmgate_command_duration_seconds histogram\n"
        for (name, totals) in ran {
            let command = name.lowercased()
            var cumulative = 0
            for bucket in Self.bucketBounds.indices {
                cumulative += totals.buckets[bucket]
                text +=
                    "crmgate_command_duration_seconds_bucket{command=\"\(command)\",le=\"\(Self.seconds(Self.bucketBounds[bucket]))\"} \(cumulative)\n"
            }
            text += "crmgate_command_duration_seconds_bucket{command=\"\(command)\",le=\"+Inf\"} \(totals.calls)\n"
            text +=
                "crmgate_command_duration_seconds_sum{command=\"\(command)\"} \(Self.seconds(totals.microseconds))\n"
            text += "crmgate_command_duration_seconds_count{command=\"\(command)\"} \(totals.calls)\n"
        }
        return Array(text.utf8)
    }

    private static func seconds(_ microseconds: Int) -> String {
        "\(Double(microseconds) / 1_000_000)"
    }
}
