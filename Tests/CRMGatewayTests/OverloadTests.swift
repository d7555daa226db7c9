import CRMProtocol
import CRMTestSupport
import Foundation
import NIOCore
import Testing

/// Rate limits: a tenant or key over its limit gets `-LIMIT … retry in N ms`
/// and nothing else changes; the other tenants are served as before.
@Suite struct OverloadTests {
    /// The flood must arrive faster than the limit refills: on PostgreSQL each write's round trips pace it.
    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite's write speed"))
    func aFloodingTenantIsLimitedWhileAnotherTenantIsServed() async throws {
        let gateway = try await TestGateway.start { $0.tenantRateLimit = 300 }
        let flooder = try await gateway.connect(tenant: "flood")
        let calm = try await gateway.connect(tenant: "calm")
        #expect(try await flooder.send("CONTACT.ADD", "email", "f@example.com") == .integer(1))
        #expect(try await calm.send("CONTACT.ADD", "email", "c@example.com") == .integer(1))

        // The flood is written at once and answered while the calm tenant works.
        var flood = ByteBuffer()
        for _ in 0..<4_000 { flood.writeRESPCommand(["CONTACT.SET", "1", "title", "x"]) }
        try await flooder.write(raw: flood)
        var calmReplies: [RESPValue] = []
        for index in 0..<100 {
            calmReplies.append(try await calm.send("CONTACT.SET", "1", "title", "t\(index)"))
        }
        var limited: [String] = []
        for _ in 0..<4_000 {
            if let error = try await flooder.read().errorMessage, error.hasPrefix("LIMIT ") { limited.append(error) }
        }
        #expect(calmReplies.allSatisfy { $0.errorMessage == nil }, "the calm tenant was never limited")
        #expect(limited.count > 2_000, "only about 300 commands/s (plus a second's burst) got through")
        let hint = try #require(limited.first)
        #expect(hint.hasPrefix("LIMIT rate limit of 300 commands/s for tenant flood reached; retry in "), "\(hint)")
        let milliseconds = try #require(Int(hint.split(separator: " ").dropLast().last ?? ""))
        #expect((1...1_000).contains(milliseconds))
        let version = try await calm.send("CONTACT.GET", "1").fields["version"]
        #expect(version == "101", "every calm write applied")

        try await Task.sleep(for: .milliseconds(milliseconds + 50))
        #expect(
            try await flooder.send("CONTACT.GET", "1").fields["email"] == "f@example.com", "after the hint it works")
        let stats = try await flooder.send("INFO", "stats").string ?? ""
        #expect(stats.contains("rate_limited_commands:\(limited.count)"), "the flooding tenant sees its own refusals")
        #expect(try await calm.send("INFO", "stats").string?.contains("rate_limited_commands:0") == true)
        await flooder.close()
        await calm.close()
        await gateway.stop()
    }

    @Test func aKeyLimitHoldsOneKeyAndNotItsTenantsOtherKeys() async throws {
        let gateway = try await TestGateway.start { $0.keyRateLimit = 50 }
        let busyKey = try await gateway.createTenantKey("acme")
        let otherKey = try await gateway.createTenantKey("acme", create: false)
        let busy = try await gateway.connect(keyID: busyKey.id, secret: busyKey.secret)
        let other = try await gateway.connect(keyID: otherKey.id, secret: otherKey.secret)
        let replies = try await busy.pipeline(Array(repeating: ["CONTACT.FIND"], count: 200))
        let refusals = replies.compactMap(\.errorMessage)
        #expect(refusals.count >= 100)
        #expect(refusals.allSatisfy { $0.hasPrefix("LIMIT rate limit of 50 commands/s for key \(busyKey.id) reached") })
        #expect(try await other.send("CONTACT.FIND").errorMessage == nil)
        #expect(try await busy.send("PING") == .simpleString("PONG"), "connection commands are never limited")
        await busy.close()
        await other.close()
        await gateway.stop()
    }
}
