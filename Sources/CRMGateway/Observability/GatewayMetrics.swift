import CRMProtocol
import CRMStore
import CoreMetrics
import Foundation
import NIOCore
import Prometheus
import Synchronization

/// Everything measured about commands and connections: per-command counts and
/// time for `INFO commandstats` and `/metrics` (``CommandMeters``), the slow
/// log, and Prometheus metrics (swift-metrics API, swift-prometheus registry)
/// for `--metrics-port`.
public final class GatewayMetrics: Sendable {
    /// The registry `/metrics` emits.
    public let registry = PrometheusCollectorRegistry()
    /// Reorders, feed gaps and group-commit batch sizes, from the store.
    public let store: StoreMetrics
    let slowLog: SlowLog
    let commands: CommandMeters
    private let connections: CoreMetrics.Meter
    private let connectionsTotal: CoreMetrics.Counter
    private let openTenants: CoreMetrics.Meter
    private let tenantOpens: CoreMetrics.Counter
    private let sqliteMemory: CoreMetrics.Meter
    private let descriptors: CoreMetrics.Meter
    private let postgresInUse: CoreMetrics.Meter
    private let postgresWaiting: CoreMetrics.Meter
    private let postgresErrors: CoreMetrics.Meter
    private let postgresRoundTrip: CoreMetrics.Meter
    /// Tenant opens already added to `tenantOpens`; touched only by ``sampleTenants(_:)``'s one caller.
    private let tenantOpensSampled = Atomic<Int>(0)

    init(table: CommandTable, slowLog: SlowLog) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["crmgate_group_commit_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        store = StoreMetrics(factory: factory)
        self.slowLog = slowLog
        commands = CommandMeters(names: table.commands.filter { $0.subcommands == nil }.map(\.name))
        connections = CoreMetrics.Meter(label: "crmgate_connections", factory: factory)
        connectionsTotal = CoreMetrics.Counter(label: "crmgate_connections_total", factory: factory)
        openTenants = CoreMetrics.Meter(label: "crmgate_open_tenants", factory: factory)
        tenantOpens = CoreMetrics.Counter(label: "crmgate_tenant_opens_total", factory: factory)
        sqliteMemory = CoreMetrics.Meter(label: "crmgate_sqlite_memory_bytes", factory: factory)
        descriptors = CoreMetrics.Meter(label: "crmgate_open_file_descriptors", factory: factory)
        postgresInUse = CoreMetrics.Meter(label: "crmgate_postgres_connections_in_use", factory: factory)
        postgresWaiting = CoreMetrics.Meter(label: "crmgate_postgres_waiting_for_connection", factory: factory)
        postgresErrors = CoreMetrics.Meter(label: "crmgate_postgres_errors", factory: factory)
        postgresRoundTrip = CoreMetrics.Meter(label: "crmgate_postgres_round_trip_mean_seconds", factory: factory)
    }

    /// Open tenants, tenant opens, the memory SQLite holds for them and the descriptors in use, for `/metrics`.
    func sampleTenants(_ tenants: TenantDirectory, descriptorsInUse inUse: Int) {
        openTenants.set(tenants.openCount)
        sqliteMemory.set(tenants.sqliteMemory)
        if inUse < Int.max { descriptors.set(inUse) }
        let opened = tenants.openings
        let before = tenantOpensSampled.exchange(opened, ordering: .relaxed)
        if opened > before { tenantOpens.increment(by: opened - before) }
        if let postgres = tenants.postgres {
            let inFlight = postgres.metrics.transactionsInFlight
            postgresInUse.set(min(inFlight, postgres.connections))
            postgresWaiting.set(max(0, inFlight - postgres.connections))
            postgresErrors.set(postgres.metrics.errors)
            postgresRoundTrip.set(postgres.metrics.meanRoundTripMicroseconds / 1_000_000)
        }
    }

    func connectionOpened() {
        connections.increment()
        connectionsTotal.increment()
    }

    func connectionClosed() {
        connections.decrement()
    }

    /// Records a finished command in `shard` (its connection's event loop's):
    /// its time from being read to its reply, and whether it failed.
    func record(
        _ command: RESPCommand, elapsed: Duration, failed: Bool, client: ClientInfo, in shard: CommandMeters.Shard
    ) {
        let tally = commands.tally(for: command, in: shard)
        let microseconds = Int(
            elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)
        tally.add(microseconds: microseconds, failed: failed)
        slowLog.consider(command, microseconds: microseconds, client: client)
    }

    /// The registry's metrics, then the per-command ones, in the Prometheus text exposition format.
    func exposition() -> [UInt8] {
        registry.emitToBuffer() + commands.exposition()
    }

    /// `cmdstat_<name>:calls=…,usec=…,usec_per_call=…,failed_calls=…` lines of the commands that ran.
    var commandStatistics: [(String, String)] {
        commands.totals().filter { $0.name != CommandMeters.unknown }.sorted { $0.name < $1.name }.map {
            name, totals in
            let perCall = Double(totals.microseconds) / Double(totals.calls)
            return (
                "cmdstat_\(name.lowercased())",
                "calls=\(totals.calls),usec=\(totals.microseconds),usec_per_call=\(String(format: "%.2f", perCall)),failed_calls=\(totals.failed)"
            )
        }
    }
}
