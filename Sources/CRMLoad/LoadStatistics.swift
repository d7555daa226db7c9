import Foundation
import Histogram

/// Latencies in microseconds, from 1 µs to an hour, to three significant digits.
typealias Latencies = Histogram<UInt64>

func makeLatencies() -> Latencies {
    Latencies(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
}

/// One command's figures: how many were answered, which errors by code, and their latencies.
public struct CommandFigures: Sendable {
    public var answered = 0
    public var errors: [String: Int] = [:]
    var latencies = makeLatencies()

    mutating func record(microseconds: UInt64, error: String?) {
        answered += 1
        if let error { errors[error, default: 0] += 1 }
        _ = latencies.record(max(1, microseconds))
    }

    mutating func add(_ other: CommandFigures) {
        answered += other.answered
        errors.merge(other.errors, uniquingKeysWith: +)
        latencies.add(other.latencies)
    }

    public var errorCount: Int { errors.values.reduce(0, +) }

    /// What was recorded after `earlier`, a snapshot of these same running figures.
    func since(_ earlier: CommandFigures) -> CommandFigures {
        var difference = CommandFigures()
        difference.answered = answered - earlier.answered
        difference.errors = errors.merging(earlier.errors.mapValues { -$0 }, uniquingKeysWith: +).filter {
            $0.value > 0
        }
        for bucket in latencies.recordedValues() {
            let count = bucket.count - min(bucket.count, earlier.latencies.countForValue(bucket.value))
            if count > 0 { _ = difference.latencies.record(bucket.value, count: count) }
        }
        return difference
    }

    /// Milliseconds at a percentile.
    public func milliseconds(at percentile: Double) -> Double {
        Double(latencies.valueAtPercentile(percentile)) / 1000
    }

    public var maxMilliseconds: Double { Double(latencies.max) / 1000 }
}

/// What one event loop's connections measured; merged across loops for reports.
public struct LoadFigures: Sendable {
    /// By mix entry, in the mix's order.
    public var commands: [CommandFigures]
    public var reconnects = 0
    /// `--switch`: AUTHs between requests that were refused.
    public var switchFailures = 0
    /// Requests whose connection dropped before they were answered.
    public var dropped = 0
    /// Open loop only: how far the generator's timers fell behind their schedule (its own lateness, not the server's).
    public var worstScheduleLagMicroseconds: UInt64 = 0
    public var lateSends = 0

    init(entries: Int) {
        commands = Array(repeating: CommandFigures(), count: entries)
    }

    mutating func add(_ other: LoadFigures) {
        for index in commands.indices { commands[index].add(other.commands[index]) }
        reconnects += other.reconnects
        switchFailures += other.switchFailures
        dropped += other.dropped
        worstScheduleLagMicroseconds = max(worstScheduleLagMicroseconds, other.worstScheduleLagMicroseconds)
        lateSends += other.lateSends
    }

    public var overall: CommandFigures {
        var total = CommandFigures()
        for figures in commands { total.add(figures) }
        return total
    }
}

/// The end-of-run report: a table as text, and the same figures as JSON.
public struct LoadReport: Sendable {
    public let mix: CommandMix
    public let figures: LoadFigures
    public let seconds: Double
    public let openLoop: Bool

    public var text: String {
        func column(_ text: String, _ width: Int, left: Bool = false) -> String {
            let padding = String(repeating: " ", count: max(0, width - text.count))
            return left ? text + padding : padding + text
        }
        func number(_ value: Double) -> String { String(format: "%.2f", value) }
        var lines = [
            column("command", 22, left: true) + column("count", 10) + column("req/s", 10) + column("errors", 8)
                + column("p50 ms", 9) + column("p90 ms", 9) + column("p99 ms", 9) + column("p99.9 ms", 10)
                + column("max ms", 9) + "  errors by code"
        ]
        let rows = zip(mix.entries.map(\.name), figures.commands).map { ($0, $1) } + [("ALL", figures.overall)]
        for (name, command) in rows {
            let codes = command.errors.sorted { $0.key < $1.key }.map { "-\($0.key) \($0.value)" }
            lines.append(
                column(name, 22, left: true) + column(String(command.answered), 10)
                    + column(String(format: "%.0f", Double(command.answered) / max(seconds, 0.001)), 10)
                    + column(String(command.errorCount), 8) + column(number(command.milliseconds(at: 50)), 9)
                    + column(number(command.milliseconds(at: 90)), 9) + column(number(command.milliseconds(at: 99)), 9)
                    + column(number(command.milliseconds(at: 99.9)), 10) + column(number(command.maxMilliseconds), 9)
                    + "  " + codes.joined(separator: ", "))
        }
        lines.append(
            "\(openLoop ? "open loop (latency from when each request was due)" : "closed loop"); "
                + String(format: "%.1f s", seconds)
                + "; reconnects \(figures.reconnects); dropped in flight \(figures.dropped)")
        if openLoop {
            lines.append(
                "generator behind schedule: \(figures.lateSends) sends more than 1 ms late, worst "
                    + number(Double(figures.worstScheduleLagMicroseconds) / 1000) + " ms")
        }
        return lines.joined(separator: "\n")
    }

    public var json: [String: Any] {
        func figuresJSON(_ command: CommandFigures) -> [String: Any] {
            [
                "count": command.answered, "requests_per_second": Double(command.answered) / max(seconds, 0.001),
                "errors": command.errors, "p50_ms": command.milliseconds(at: 50),
                "p90_ms": command.milliseconds(at: 90), "p99_ms": command.milliseconds(at: 99),
                "p999_ms": command.milliseconds(at: 99.9), "max_ms": command.maxMilliseconds,
            ]
        }
        var commands: [String: Any] = [:]
        for (name, command) in zip(mix.entries.map(\.name), figures.commands) { commands[name] = figuresJSON(command) }
        return [
            "seconds": seconds, "open_loop": openLoop, "mix": mix.description, "commands": commands,
            "overall": figuresJSON(figures.overall), "reconnects": figures.reconnects, "dropped": figures.dropped,
            "switch_failures": figures.switchFailures,
            "late_sends": figures.lateSends,
            "worst_schedule_lag_ms": Double(figures.worstScheduleLagMicroseconds) / 1000,
        ]
    }
}
