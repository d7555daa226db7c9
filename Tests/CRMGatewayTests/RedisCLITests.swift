import Foundation
import Testing

/// Drives crmgate with the real `redis-cli` binary (Debian's redis-tools) over TLS.
@Suite struct RedisCLITests {
    private func redisCLI(
        _ gateway: TestGateway, key: (id: String, secret: String), arguments: [String], input: String? = nil
    ) async throws -> String {
        let command = [
            "redis-cli", "--tls", "--cacert", gateway.caPath, "-p", String(gateway.port), "--user", key.id,
            "--pass", key.secret, "--no-auth-warning",
        ]
        return try await ChildProcess.run("/usr/bin/env", command + arguments, stdin: input).output
    }

    @Test func redisCLIRunsCommandsAndPipelines() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        #expect(try await redisCLI(gateway, key: key, arguments: ["PING"]) == "PONG\n", "is redis-tools installed?")
        #expect(try await redisCLI(gateway, key: key, arguments: ["CONTACT.ADD", "email", "cli@example.com"]) == "1\n")
        let record = try await redisCLI(gateway, key: key, arguments: ["CONTACT.GET", "1"])
        #expect(record.contains("email\ncli@example.com\n"))

        var pipe = ""
        for index in 0..<1000 {
            let words = ["CONTACT.ADD", "email", "bulk\(index)@example.com", "lifecycle", "lead"]
            pipe += "*\(words.count)\r\n" + words.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
        }
        let result = try await redisCLI(gateway, key: key, arguments: ["--pipe"], input: pipe)
        #expect(result.contains("errors: 0, replies: 1000"), "redis-cli --pipe said: \(result)")

        let page = try await redisCLI(
            gateway, key: key, arguments: ["CONTACT.FIND", "WHERE", "email", "=", "bulk999@example.com"])
        #expect(page.contains("bulk999@example.com"))
        let count = try await redisCLI(
            gateway, key: key, arguments: ["CONTACT.FIND", "WHERE", "lifecycle", "=", "lead", "LIMIT", "1000"])
        #expect(count.components(separatedBy: "\nemail\n").count - 1 == 1000)
        await gateway.stop()
    }

    /// Commands typed into redis-cli's standard input, as a script pipes them:
    /// redis-cli first reads every command's `COMMAND DOCS` entry (for its help)
    /// and follows each argument's structure; a malformed entry crashed it.
    @Test func redisCLIRunsCommandsFromStandardInput() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        let command = [
            "redis-cli", "--tls", "--cacert", gateway.caPath, "-p", String(gateway.port), "--user", key.id,
            "--pass", key.secret, "--no-auth-warning",
        ]
        let run = try await ChildProcess.run(
            "/usr/bin/env", command,
            stdin: "PING\nCONTACT.ADD email typed@example.com lifecycle lead\nCONTACT.GET 1\nHELP CONTACT.GET\n")
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.hasPrefix("PONG\n1\n"), "\(run.output)")
        #expect(run.output.contains("typed@example.com"), "\(run.output)")
        await gateway.stop()
    }

    /// `redis-cli --stat` reads INFO's keyspace, memory, clients and stats: every column is a real figure.
    @Test func redisCLIStatShowsRealFigures() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        for index in 0..<3 {
            _ = try await redisCLI(gateway, key: key, arguments: ["CONTACT.ADD", "email", "s\(index)@example.com"])
        }
        // Six seconds: on a loaded machine redis-cli's first row can take more than one.
        let command = [
            "timeout", "-s", "KILL", "6", "stdbuf", "-oL", "redis-cli", "--tls", "--cacert", gateway.caPath, "-p",
            String(gateway.port), "--user", key.id, "--pass", key.secret, "--no-auth-warning", "--stat", "-i", "0.5",
        ]
        let output = try await ChildProcess.run("/usr/bin/env", command).output
        let rows = output.split(separator: "\n").filter { $0.first?.isNumber == true }
        #expect(!rows.isEmpty, "\(output)")
        #expect(!output.contains("-9223"), "no missing field read as LONG_MIN: \(output)")
        let columns = rows.first?.split(separator: " ") ?? []
        #expect(columns.first == "3", "keys: the tenant's records: \(output)")
        await gateway.stop()
    }
}
