import CRMStore
import CRMTestSupport
import Foundation
import Testing

/// A gateway on PostgreSQL that cannot reach it: refused at start with the
/// reason; while running, commands are answered at once that it is
/// unreachable, and once it is back they are served again, with nothing
/// acknowledged lost and nothing refused applied.
@Suite struct PostgresOutageTests {
    @Test func aServerThatCannotReachPostgreSQLAtStartExitsSayingWhy() async throws {
        let directory = try TemporaryDirectory()
        let port = try OpsScriptTests.freePort()
        let (status, output) = try await ServerProcess.run([
            "--data-dir", directory.path, "--port", "0", "--storage",
            "postgresql://crmgate:s3cret@127.0.0.1:\(port)/crm",
        ])
        #expect(status != 0)
        #expect(
            output.contains("crmgate: cannot reach PostgreSQL at postgresql://crmgate:****@127.0.0.1:\(port)/crm"),
            "\(output)")
        #expect(!output.contains("s3cret"), "the password is never printed")
    }

    @Test(.enabled(if: TestStorage.isPostgres, "PostgreSQL"))
    func anOutageIsAnsweredClearlyAndServedAgainWithNothingAcknowledgedLost() async throws {
        let port = try OpsScriptTests.freePort()
        let (started, text) = try await ChildProcess.run(
            OpsScriptTests.script("postgres"), ["start", String(port)], includingStandardError: false)
        let cluster = text.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(started == 0, "\(text)")
        let url = try PostgresURL("postgresql://postgres@127.0.0.1:\(port)/postgres")
        let gateway = try await TestGateway.start { $0.storage = url }
        let client = try await gateway.connect(tenant: "acme")
        let acknowledged = try await client.pipeline((1...50).map { ["CONTACT.ADD", "email", "a\($0)@example.com"] })
        #expect(acknowledged.allSatisfy { $0.errorMessage == nil })

        #expect(try await ChildProcess.run(OpsScriptTests.script("postgres"), ["pause", cluster]).status == 0)
        let asked = ContinuousClock.now
        let refused = try await client.send("CONTACT.ADD", "email", "refused@example.com")
        #expect(refused.errorMessage?.hasPrefix("TRYAGAIN PostgreSQL is unreachable") == true, "\(refused)")
        #expect(ContinuousClock.now - asked < .seconds(15), "answered, not left hanging")

        #expect(try await ChildProcess.run(OpsScriptTests.script("postgres"), ["resume", cluster]).status == 0)
        var served = false
        for _ in 0..<40 where !served {
            served = try await client.send("CONTACT.ADD", "email", "back@example.com") == .integer(51)
            if !served { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(served, "served again without a restart")
        let page = try await client.send("CONTACT.FIND", "LIMIT", "1000")
        let emails = Set((page.elements?[1].elements ?? []).compactMap { $0.fields["email"] })
        #expect(emails.count == 51)
        #expect(emails.isSuperset(of: (1...50).map { "a\($0)@example.com" }), "every acknowledged write is there")
        #expect(!emails.contains("refused@example.com"), "the refused write was not applied")
        await client.close()
        await gateway.stop()
        #expect(try await ChildProcess.run(OpsScriptTests.script("postgres"), ["stop", cluster]).status == 0)
    }
}
