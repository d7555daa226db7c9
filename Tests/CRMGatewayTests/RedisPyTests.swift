import Foundation
import Testing

/// redis-py (pinned in `Ops/setup`) against a real server: a `/0` URL,
/// `client_info()`, `transaction()` with `watch()`, a failing EXEC's message,
/// reads that find nothing inside EXEC, `DBSIZE` and `INFO memory|keyspace`.
@Suite struct RedisPyTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Clients/redis_py_paths.py").path

    @Test func everydayPathsOfRedisPyWork() async throws {
        let gateway = try await TestGateway.start()
        let key = try await gateway.createTenantKey("acme")
        let (status, output) = try await ChildProcess.run(
            "/usr/bin/env", ["python3", Self.script, String(gateway.port), gateway.caPath, key.id, key.secret])
        #expect(status == 0, "\(output)")
        #expect(!output.contains("FAIL"), "\(output)")
        #expect(output.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == 20, "\(output)")
        await gateway.stop()
    }
}
