import CRMProtocol
import CRMStore
import CoreMetrics
import Foundation
import NIOCore
import Prometheus
import Synchronization

/// Everything measured about commands and connections: per-command counts and
/// time for `INFO commandstats`, the slow log, and Prometheus metrics
/// (swift-metrics API, swift-prometheus registry) for `--metrics-port`.
public final class GatewayMetrics: Sendable {
    /// One command's numbers.
    final class Meters: Sendable {
        let calls = Atomic<Int>(0)
        let failed = Atomic<Int>(0)
        let microseconds = Atomic<Int>(0)
        let succeeded: CoreMetrics.Counter
        let errors: CoreMetrics.Counter
        let duration: CoreMetrics.Timer

        init(command: String, factory: any MetricsFactory) {
            succeeded = CoreMetrics.Counter(
                label: "crmgate_commands_total", dimensions: [("command", command), ("result", "ok")], factory: factory)
            errors = CoreMetrics.Counter(
                label: "crmgate_commands_total", dimensions: [("command", command), ("result", "error")],
                factory: factory)
            duration = CoreMetrics.Timer(
                label: "crmgate_command_duration_seconds", dimensions: [("command", command)], factory: factory)
        }
    }

    /// The registry `/metrics` emits.
    public let registry = PrometheusCollectorRegistry()
    /// Reorders, feed gaps and group-commit batch sizes, from the store.
    public let store: StoreMetrics
    let slowLog: SlowLog
    private let commands: [String: Meters]
    private let otherCommands: Meters
    private let connections: CoreMetrics.Meter
    private let connectionsTotal: CoreMetrics.Counter

    init(table: CommandTable, slowLog: SlowLog) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .seconds(1),
        ]
        factory.valueHistogramBuckets["crmgate_group_commit_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        store = StoreMetrics(factory: factory)
        self.slowLog = slowLog
        commands = Dictionary(
            uniqueKeysWithValues: table.commands.filter { $0.subcommands == nil }.map {
                ($0.name, Meters(command: $0.name.lowercased(), factory: factory))
            })
        otherCommands = Meters(command: "unknown", factory: factory)
        connections = CoreMetrics.Meter(label: "crmgate_connections", factory: factory)
        connectionsTotal = CoreMetrics.Counter(label: "crmgate_connections_total", factory: factory)
    }

    func connectionOpened() {
        connections.increment()
        connectionsTotal.increment()
    }

    func connectionClosed() {
        connections.decrement()
    }

    /// Records a finished command: its time from being read to its reply, and whether it failed.
    func record(_ command: RESPCommand, elapsed: Duration, failed: Bool, client: ClientInfo) {
        let meters = commands[command.name] ?? subcommandMeters(command) ?? otherCommands
        let microseconds = Int(
            elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)
        meters.calls.add(1, ordering: .relaxed)
        meters.microseconds.add(microseconds, ordering: .relaxed)
        if failed {
            meters.failed.add(1, ordering: .relaxed)
            meters.errors.increment()
        } else {
            meters.succeeded.increment()
        }
        meters.duration.recordMicroseconds(microseconds)
        slowLog.consider(command, microseconds: microseconds, client: client)
    }

    /// `cmdstat_<name>:calls=…,usec=…,usec_per_call=…,failed_calls=…` lines of the commands that ran.
    var commandStatistics: [(String, String)] {
        commands.sorted { $0.key < $1.key }.compactMap { name, meters in
            let calls = meters.calls.load(ordering: .relaxed)
            guard calls > 0 else { return nil }
            let microseconds = meters.microseconds.load(ordering: .relaxed)
            let perCall = Double(microseconds) / Double(calls)
            return (
                "cmdstat_\(name.lowercased())",
                "calls=\(calls),usec=\(microseconds),usec_per_call=\(String(format: "%.2f", perCall)),failed_calls=\(meters.failed.load(ordering: .relaxed))"
            )
        }
    }

    private func subcommandMeters(_ command: RESPCommand) -> Meters? {
        guard command.arguments.count > 1 else { return nil }
        return commands["\(command.name) \(String(buffer: command.arguments[1]).uppercased())"]
    }
}
