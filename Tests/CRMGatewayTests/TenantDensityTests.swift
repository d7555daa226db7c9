import CRMProtocol
import CRMTestSupport
import Foundation
import NIOCore
import Testing

/// Many tenants on one server: creation survives a crash whole, and a server
/// short of file descriptors closes idle tenants, or answers `-TRYAGAIN`,
/// instead of failing.
@Suite struct TenantDensityTests {
    @Test func aCrashDuringTenantCreateLeavesNoHalfTenant() async throws {
        let directory = try TemporaryDirectory()
        var server = try ServerProcess(dataDirectory: directory.path)
        let words = try String(contentsOfFile: directory.path + "/admin.key", encoding: .utf8).split(separator: " ")
        let (adminID, adminSecret) = (String(words[0]), words[1].trimmingCharacters(in: .whitespacesAndNewlines))
        let caPath = directory.path + "/tls/ca.pem"
        let admin = try await TestClient.connect(port: server.port, caPath: caPath)
        #expect(try await admin.send("AUTH", adminID, adminSecret) == .ok)
        var commands = ByteBuffer()
        // Creates take one catalog commit each (thousands a second): enough that the kill comes mid-way.
        for index in 0..<20_000 { commands.writeRESPCommand(["TENANT.CREATE", "crash\(index)"]) }
        try await admin.write(raw: commands)
        // Killed once the first creates are answered (a fixed delay was too short on a loaded
        // machine): thousands are still queued then.
        for _ in 0..<10 { #expect(try await admin.read() == .ok) }
        server.stop(with: SIGKILL)

        server = try ServerProcess(dataDirectory: directory.path)
        let again = try await TestClient.connect(port: server.port, caPath: caPath)
        #expect(try await again.send("AUTH", adminID, adminSecret) == .ok)
        let listed = try #require(try await again.send("TENANT.LIST").elements).compactMap { $0.fields["name"] }
        #expect(listed.count > 0 && listed.count < 20_000, "the crash came mid-way: \(listed.count) created")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/tenants")
        #expect(files.filter { $0.hasSuffix(".creating") }.isEmpty, "no half-written database is left")
        // A listed tenant works (its database is written from the template at its first use);
        // an unlisted name can be created.
        for name in [listed.first!, listed.last!] {
            let key = try #require(try await again.send("KEY.CREATE", name, "owner").elements)
            let tenant = try await TestClient.connect(port: server.port, caPath: caPath)
            #expect(try await tenant.send("AUTH", key[0].string!, key[1].string!) == .ok)
            #expect(try await tenant.send("CONTACT.ADD", "email", "after@crash.example") == .integer(1))
            await tenant.close()
        }
        #expect(try await again.send("TENANT.CREATE", "crash19999") == .ok)
        await again.close()
        server.stop(with: SIGTERM)
    }

    @Test func shortOfDescriptorsItClosesIdleTenantsOrAnswersTryAgain() async throws {
        let directory = try TemporaryDirectory()
        // The hard limit too: the server cannot raise its way out.
        let server = try ServerProcess(
            dataDirectory: directory.path, arguments: ["--max-clients", "40"], descriptorLimit: 100)
        #expect(server.output.contains("too few file descriptors for max_open_tenants"), "\(server.output)")
        let words = try String(contentsOfFile: directory.path + "/admin.key", encoding: .utf8).split(separator: " ")
        let caPath = directory.path + "/tls/ca.pem"
        let admin = try await TestClient.connect(port: server.port, caPath: caPath)
        #expect(
            try await admin.send("AUTH", String(words[0]), words[1].trimmingCharacters(in: .whitespacesAndNewlines))
                == .ok)
        var keys: [(String, String)] = []
        for index in 0..<30 {
            #expect(try await admin.send("TENANT.CREATE", "fd\(index)") == .ok)
            let key = try #require(try await admin.send("KEY.CREATE", "fd\(index)", "owner").elements)
            keys.append((key[0].string!, key[1].string!))
        }

        // One connection switching over all 30: each tenant it leaves is idle and closes as needed.
        let switching = try await TestClient.connect(port: server.port, caPath: caPath)
        for (index, key) in keys.enumerated() {
            #expect(try await switching.send("AUTH", key.0, key.1) == .ok, "tenant \(index)")
            #expect(try await switching.send("CONTACT.ADD", "email", "fd\(index)@example.com") == .integer(1))
        }

        // Connections that each hold a different tenant open exhaust the descriptors: -TRYAGAIN, not a failure.
        var holders: [TestClient] = []
        var refusals: [String] = []
        for key in keys {
            guard let holder = try? await TestClient.connect(port: server.port, caPath: caPath) else { break }
            holders.append(holder)
            guard let reply = try? await holder.send("AUTH", key.0, key.1) else { break }
            if let error = reply.errorMessage {
                refusals.append(error)
                break
            }
        }
        #expect(
            refusals.contains { $0.hasPrefix("TRYAGAIN ") }, "refusals: \(refusals.prefix(3))")
        #expect(try await admin.send("PING") == .simpleString("PONG"), "the server stays up")
        for holder in holders { await holder.close() }

        // Nothing was lost, and with the holders gone every tenant opens again (within a few
        // seconds, once the server has closed what they held).
        for (index, key) in keys.enumerated() {
            var record = RESPValue.null
            for _ in 0..<50 {
                if try await switching.send("AUTH", key.0, key.1) == .ok {
                    record = try await switching.send("CONTACT.GET", "1")
                    if record.errorMessage?.hasPrefix("TRYAGAIN") != true { break }
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(record.fields["email"] == "fd\(index)@example.com", "tenant \(index): \(record)")
        }
        await switching.close()
        await admin.close()
        server.stop(with: SIGTERM)
    }
}
