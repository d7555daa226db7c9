import CRMProtocol
import Foundation
import NIOCore

/// How soon a reader blocked in `EVENTS.READ … BLOCK` hears of a write: per
/// round, the time from the write's acknowledgement to the reader's reply.
public struct WakeReport: Sendable {
    /// Milliseconds from each round's acknowledgement to its reader's reply,
    /// sorted (negative: the reader heard first).
    public let delays: [Double]
    /// Rounds whose reader did not hear of the write within its 5 s block.
    public let missed: Int

    private func percentile(_ fraction: Double) -> Double {
        delays.isEmpty ? .nan : delays[Int(fraction * Double(delays.count - 1))]
    }

    public var text: String {
        String(
            format: "wake after acknowledgement, %d rounds: p50 %.2f ms, p99 %.2f ms, max %.2f ms; missed %d",
            delays.count + missed, percentile(0.5), percentile(0.99), delays.last ?? .nan, missed)
    }

    public var json: [String: Any] {
        [
            "rounds": delays.count + missed, "missed": missed, "p50_ms": percentile(0.5),
            "p99_ms": percentile(0.99), "max_ms": delays.last ?? -1,
        ]
    }
}

extension LoadRun {
    /// Runs `rounds` rounds as `tenant`: a reader on `readerPort` blocks in
    /// `EVENTS.READ`, a writer on the plan's server adds a contact, and the
    /// round times the reader's wake-up against the write's acknowledgement.
    public func measureWake(as tenant: TenantCredentials, readerPort: Int, rounds: Int) throws -> WakeReport {
        let writer = try client(as: tenant)
        defer { writer.close() }
        let reader = try client(as: tenant, port: readerPort)
        defer { reader.close() }
        var seen = try newestSeq(reader)
        var delays: [Double] = []
        var missed = 0
        for round in 0..<rounds {
            let woke = reader.request(["EVENTS.READ", "FROM", String(seen), "COUNT", "1000", "BLOCK", "5000"])
                .map { ($0, ContinuousClock.now) }
            // Time for the read to reach the server and wait there before the write commits.
            usleep(20_000)
            let acknowledged = writer.request(["CONTACT.ADD", "first_name", "Wake\(round)"])
                .map { ($0, ContinuousClock.now) }
            let (reply, acknowledgedAt) = try acknowledged.wait()
            if let message = reply.errorMessage { throw LoadError("CONTACT.ADD refused: \(message)") }
            let (events, wokeAt) = try woke.wait()
            if let message = events.errorMessage { throw LoadError("EVENTS.READ refused: \(message)") }
            guard let newest = events.elements?.last.flatMap(Self.seq(of:)) else {
                missed += 1
                continue
            }
            seen = newest
            let delay = wokeAt - acknowledgedAt
            delays.append(Double(delay.components.seconds) * 1000 + Double(delay.components.attoseconds) / 1e15)
        }
        return WakeReport(delays: delays.sorted(), missed: missed)
    }

    /// The tenant's newest event seq (0 when it has none), read page by page.
    private func newestSeq(_ client: BlockingClient) throws -> Int {
        var seen = 0
        while true {
            let page = try client.send("EVENTS.READ", "FROM", String(seen), "COUNT", "1000")
            if let message = page.errorMessage { throw LoadError("EVENTS.READ refused: \(message)") }
            guard let newest = page.elements?.last.flatMap(Self.seq(of:)) else { return seen }
            seen = newest
        }
    }

    /// An event's seq: its first field's value (`seq`, `type`, … as pairs in RESP2).
    private static func seq(of event: RESPValue) -> Int? {
        guard let fields = event.elements, fields.count > 1, case .integer(let seq) = fields[1] else { return nil }
        return seq
    }
}
