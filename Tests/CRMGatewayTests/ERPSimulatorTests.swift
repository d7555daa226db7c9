import Foundation
import Testing

/// Runs the partner ERP simulator (`Ops/erp-sim`) against a real server with
/// forced disconnects, replays and deliveries.
@Suite struct ERPSimulatorTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Ops/erp-sim").path

    /// Runs the simulator to completion without blocking a test thread; returns its exit status and stdout.
    private func simulate(_ arguments: [String]) async throws -> (status: Int32, output: Data) {
        let (status, output) = try await ChildProcess.run(
            "/usr/bin/env", ["python3", Self.script] + arguments, includingStandardError: false)
        return (status, Data(output.utf8))
    }

    @Test func disconnectsAndReplaysProduceExactlyTheExpectedReorders() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        let (status, output) = try await simulate([
            "--port", String(gateway.port), "--cacert", gateway.caPath, "--key-id", key.id, "--secret", key.secret,
            "--companies", "6", "--skus", "8", "--updates", "4000", "--pipeline", "32", "--disconnects", "0.15",
            "--deliver-every", "250", "--seed", "7",
        ])
        let report = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
        #expect(status == 0, "mismatches: \(report["mismatches"] ?? "none")")
        let expected = try #require(report["reorders_expected"] as? Int)
        #expect(expected > 20, "the run exercised reordering")
        #expect(report["reorders_on_server"] as? Int == expected)
        #expect((report["disconnects"] as? Int ?? 0) > 0)
        #expect((report["duplicates"] as? Int ?? 0) > 0, "replays were answered +DUP")
        #expect((report["deliveries"] as? Int ?? 0) > 0)

        // The durable log tells the same story: reorder.created events from 0, in reorder order.
        let client = try await gateway.connect(keyID: key.id, secret: key.secret)
        var reorderIDs: [String] = []
        var cursor = "0"
        repeat {
            let page = try #require(try await client.send("REORDER.LIST", "LIMIT", "100", "CURSOR", cursor).elements)
            reorderIDs += (page[1].elements ?? []).compactMap { $0.fields["id"] }
            cursor = page[0].string ?? "0"
        } while cursor != "0"
        var eventIDs: [String] = []
        var from = "0"
        while let page = try await client.send("EVENTS.READ", "FROM", from, "TYPE", "reorder.created").elements,
            let last = page.last
        {
            eventIDs += page.compactMap { $0.fields["record_id"] }
            from = last.fields["seq"]!
        }
        #expect(reorderIDs.count == expected)
        #expect(eventIDs == reorderIDs)
        await client.close()
        await gateway.stop()
    }
}
