import CRMTestSupport
import Foundation
import Synchronization
import Testing

/// `crmgate-load` against real servers: mixes, open-loop latency that shows
/// a stall, `--verify`, `wake`, and plain errors for bad input.
@Suite struct LoadToolTests {
    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/crmgate-load").path

    private func load(_ arguments: [String], port: Int, directory: String) async throws -> (Int32, String) {
        let result = try await ChildProcess.run(
            Self.binary,
            ["--port", String(port), "--cacert", directory + "/tls/ca.pem", "--admin-key", directory + "/admin.key"]
                + arguments)
        return (result.status, result.output)
    }

    private func report(_ path: String) throws -> [String: Any] {
        try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    @Test func aMixedRunOverSeveralTenantsSendsTheMixAndLosesNothing() async throws {
        let gateway = try await TestGateway.start()
        let output = gateway.directory.path + "/report.json"
        let (status, text) = try await load(
            [
                "--setup", "3", "--connections", "2", "--pipeline", "4", "--requests", "3000", "--seed", "20",
                "--mix", "CONTACT.ADD:50,CONTACT.GET:30,INV.ADJ:20", "--verify", "--json", output,
            ], port: gateway.port, directory: gateway.directory.path)
        #expect(status == 0, "\(text)")
        #expect(text.contains("verify: ") && text.contains(", 0 missing or wrong"), "\(text)")
        let figures = try report(output)
        let commands = try #require(figures["commands"] as? [String: [String: Any]])
        let counts = commands.mapValues { $0["count"] as? Int ?? 0 }
        let total = counts.values.reduce(0, +)
        #expect((2990...3000).contains(total), "the request budget: \(counts)")
        // Binomial sampling: 3 standard deviations of 3,000 picks at p = 0.5 is about 82.
        for (name, share) in [("CONTACT.ADD", 0.5), ("CONTACT.GET", 0.3), ("INV.ADJ", 0.2)] {
            let expected = Double(total) * share
            let spread = 3 * (Double(total) * share * (1 - share)).squareRoot()
            #expect(abs(Double(counts[name] ?? 0) - expected) <= spread, "\(name): \(counts)")
        }
        let overall = try #require(figures["overall"] as? [String: Any])
        #expect((overall["errors"] as? [String: Int])?.isEmpty == true, "\(overall)")
        // The tenants it made are gone again (no --keep).
        let admin = try await gateway.connectAsAdmin()
        #expect(try await admin.send("TENANT.LIST").elements?.isEmpty == true)
        await admin.close()
        await gateway.stop()
    }

    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files")) func openLoopLatencyShowsAStallThatClosedLoopHides()
        async throws
    {
        let directory = try TemporaryDirectory()
        let server = try await ServerProcess(dataDirectory: directory.path)
        let keys = directory.path + "/keys"
        let (setupStatus, setupText) = try await load(
            ["--setup", "2", "--keep", "--requests", "10", "--mix", "PING", "--journal", directory.path + "/j.json"],
            port: server.port, directory: directory.path)
        #expect(setupStatus == 0, "\(setupText)")
        let journal = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory.path + "/j.json")))
                as? [String: Any])
        let tenants = try #require(journal["tenants"] as? [[String: String]])
        try tenants.map { "\($0["name"]!) \($0["keyID"]!) \($0["secret"]!)" }.joined(separator: "\n")
            .write(toFile: keys, atomically: true, encoding: .utf8)

        let port = server.port
        let path = directory.path
        let pid = server.process.processIdentifier
        let words = try String(contentsOfFile: path + "/admin.key", encoding: .utf8).split(separator: " ")
        let admin = try await TestClient.connect(port: port, caPath: path + "/tls/ca.pem")
        #expect(
            try await admin.send("AUTH", String(words[0]), words[1].trimmingCharacters(in: .whitespacesAndNewlines))
                == .ok)
        func commandsProcessed() async throws -> Int {
            let stats = try await admin.send("INFO", "stats").string ?? ""
            let line = stats.split(separator: "\r\n").first { $0.hasPrefix("total_commands_processed:") }
            return Int(line?.split(separator: ":").last ?? "") ?? 0
        }
        func stalledRun(_ extra: [String]) async throws -> Double {
            let output = path + "/stall-\(extra.count).json"
            let before = try await commandsProcessed()
            async let run = load(
                ["--keys", keys, "--connections", "2", "--duration", "3", "--mix", "CONTACT.GET:1", "--json", output]
                    + extra, port: port, directory: path)
            // The stall comes once the run is under way (its start takes longer on a busy machine).
            while try await commandsProcessed() < before + 200 { try await Task.sleep(for: .milliseconds(50)) }
            try await Task.sleep(for: .milliseconds(500))
            kill(pid, SIGSTOP)
            try await Task.sleep(for: .milliseconds(400))
            kill(pid, SIGCONT)
            let (status, text) = try await run
            #expect(status == 0, "\(text)")
            let overall = try #require(try report(output)["overall"] as? [String: Any])
            return try #require(overall["p99_ms"] as? Double)
        }
        let openLoop = try await stalledRun(["--rate", "400"])
        let closedLoop = try await stalledRun([])
        // 400 requests/s due during a 400 ms stall: about 160 of 1,200 wait, up to 400 ms, from when they were due.
        #expect(openLoop >= 150, "open loop p99 \(openLoop) ms")
        // Closed loop sends nothing while it waits: four requests see the stall among thousands.
        #expect(closedLoop < 150, "closed loop p99 \(closedLoop) ms hides the stall")
        await admin.close()
        await server.stop(with: SIGTERM)
    }

    @Test func verifyFindsARecordDeletedBehindItsBack() async throws {
        let gateway = try await TestGateway.start()
        let journal = gateway.directory.path + "/journal.json"
        let (status, text) = try await load(
            ["--setup", "1", "--keep", "--requests", "200", "--mix", "CONTACT.ADD", "--journal", journal],
            port: gateway.port, directory: gateway.directory.path)
        #expect(status == 0, "\(text)")
        let tenant = try #require(try await gateway.server.services.catalog.tenants().first?.name)
        let key = try await gateway.createTenantKey(tenant, create: false)
        let client = try await gateway.connect(keyID: key.id, secret: key.secret)
        #expect(try await client.send("CONTACT.DEL", "7") == .integer(1))
        let verify = try await ChildProcess.run(
            Self.binary,
            ["verify", "--port", String(gateway.port), "--cacert", gateway.caPath, "--journal", journal])
        #expect(verify.status == 2, "\(verify.output)")
        #expect(verify.output.contains("200 acknowledged writes checked, 1 missing or wrong"), "\(verify.output)")
        #expect(verify.output.contains("contact 7 is missing"), "\(verify.output)")
        await client.close()
        await gateway.stop()
    }

    @Test func wakeTimesHowSoonABlockedReaderHearsOfEachWrite() async throws {
        let gateway = try await TestGateway.start()
        let output = gateway.directory.path + "/wake.json"
        let wake = try await ChildProcess.run(
            Self.binary,
            [
                "wake", "--port", String(gateway.port), "--cacert", gateway.caPath, "--admin-key",
                gateway.directory.path + "/admin.key", "--rounds", "20", "--json", output,
            ])
        #expect(wake.status == 0, "\(wake.output)")
        #expect(wake.output.contains("wake after acknowledgement, 20 rounds: p50 "), "\(wake.output)")
        let figures = try report(output)
        #expect(figures["rounds"] as? Int == 20 && figures["missed"] as? Int == 0, "every round woken: \(figures)")
        // Woken by the write, not by the 5 s block running out.
        let p99 = try #require(figures["p99_ms"] as? Double)
        #expect(p99 < 4000, "\(figures)")
        // Its tenant is gone again.
        let admin = try await gateway.connectAsAdmin()
        #expect(try await admin.send("TENANT.LIST").elements?.isEmpty == true)
        await admin.close()
        await gateway.stop()
    }

    @Test func ctrlCEndsTheRunWithTheReportSoFar() async throws {
        let gateway = try await TestGateway.start()
        let child = Atomic<Int32>(0)
        let arguments = [
            "--port", String(gateway.port), "--cacert", gateway.caPath, "--admin-key",
            gateway.directory.path + "/admin.key", "--duration", "60", "--mix", "PING",
        ]
        // Awaited, not waited for: the in-process server answers the tool on the same threads.
        async let run = ChildProcess.run(
            Self.binary, arguments, includingStandardError: false, started: { child.store($0, ordering: .relaxed) })
        // Signalled once it has created its tenant, which it does after installing its SIGINT
        // handler: a fixed 2.5 s was too short for the debug binary to start under the whole
        // suite's load, and the default action killed it without a report.
        let admin = try await gateway.connectAsAdmin()
        let deadline = ContinuousClock.now + .seconds(60)
        while try await admin.send("TENANT.LIST").elements?.isEmpty != false, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        await admin.close()
        try await Task.sleep(for: .milliseconds(500))
        // Never kill(0, …): that would signal the whole process group, the test runner included.
        while child.load(ordering: .relaxed) <= 0 { try await Task.sleep(for: .milliseconds(50)) }
        kill(child.load(ordering: .relaxed), SIGINT)
        let (status, text) = try await run
        #expect(status == 0, "\(text)")
        #expect(text.contains("ALL "), "the report is printed: \(text)")
        #expect(!text.contains("  60 s"), "the run ended early")
        await gateway.stop()
    }

    @Test func badInputGetsOneClearLineAndANonZeroExit() async throws {
        let gateway = try await TestGateway.start()
        let path = gateway.directory.path
        let unknown = try await load(["--mix", "CONTACT.FLY:1"], port: gateway.port, directory: path)
        #expect(unknown.0 != 0)
        #expect(unknown.1 == "crmgate-load: --mix: unknown command CONTACT.FLY (see Protocols/commands.json)\n")
        let rate = try await load(["--rate=0"], port: gateway.port, directory: path)
        #expect(rate.0 != 0)
        #expect(rate.1 == "crmgate-load: --rate must be more than 0 and at most 10,000,000 requests/s, not 0.0\n")
        let unreachable = try await load(["--requests", "1"], port: 1, directory: path)
        #expect(unreachable.0 != 0)
        #expect(unreachable.1.hasPrefix("crmgate-load: cannot connect to 127.0.0.1:1"), "\(unreachable.1)")
        #expect(unreachable.1.split(separator: "\n").count == 1, "\(unreachable.1)")
        let wrongKey = try await ChildProcess.run(
            Self.binary, ["--port", String(gateway.port), "--cacert", gateway.caPath, "--admin-key", "/nonexistent"])
        #expect(wrongKey.status != 0 && wrongKey.output.contains("--setup needs an admin key"), "\(wrongKey.output)")
        await gateway.stop()
    }
}
