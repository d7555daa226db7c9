import CRMProtocol
import CRMTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

/// Many tenants on one server: creation survives a crash whole, and a server
/// short of file descriptors closes idle tenants, or answers `-TRYAGAIN`,
/// instead of failing.
@Suite(.enabled(if: !TestStorage.isPostgres, "SQLite files")) struct TenantDensityTests {
    @Test func aCrashDuringTenantCreateLeavesNoHalfTenant() async throws {
        let directory = try TemporaryDirectory()
        var server = try await ServerProcess(dataDirectory: directory.path)
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
        await server.stop(with: SIGKILL)

        server = try await ServerProcess(dataDirectory: directory.path)
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
        await server.stop(with: SIGTERM)
    }

    @Test func shortOfDescriptorsItClosesIdleTenantsOrAnswersTryAgain() async throws {
        let directory = try TemporaryDirectory()
        // The hard limit too: the server cannot raise its way out.
        let server = try await ServerProcess(
            dataDirectory: directory.path, arguments: ["--max-clients", "40"], descriptorLimit: 100)
        #expect(server.output.contains("too few file descriptors for max_open_tenants"), "\(server.output)")
        let caPath = directory.path + "/tls/ca.pem"
        let (admin, keys) = try await Self.tenantsWithKeys(30, named: "fd", on: server, in: directory)

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
        await server.stop(with: SIGTERM)
    }
}

extension TenantDensityTests {
    /// An admin connection to `server`, and `count` tenants it created (`name0`, `name1`, …) with an
    /// owner key each, as (key id, secret).
    private static func tenantsWithKeys(
        _ count: Int, named name: String, on server: ServerProcess, in directory: TemporaryDirectory
    ) async throws -> (admin: TestClient, keys: [(String, String)]) {
        let words = try String(contentsOfFile: directory.path + "/admin.key", encoding: .utf8).split(separator: " ")
        let admin = try await TestClient.connect(port: server.port, caPath: directory.path + "/tls/ca.pem")
        #expect(
            try await admin.send("AUTH", String(words[0]), words[1].trimmingCharacters(in: .whitespacesAndNewlines))
                == .ok)
        var keys: [(String, String)] = []
        for index in 0..<count {
            #expect(try await admin.send("TENANT.CREATE", "\(name)\(index)") == .ok)
            let key = try #require(try await admin.send("KEY.CREATE", "\(name)\(index)", "owner").elements)
            keys.append((key[0].string!, key[1].string!))
        }
        return (admin, keys)
    }

    /// Descriptors this process holds now (0 once it is gone).
    private static func descriptors(of pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    /// Busy tenants' readers take descriptors beyond their writers': the server
    /// keeps clear of its limit (libdispatch aborts the process when it cannot
    /// open a file), by budgeting open tenants and closing idle ones.
    @Test func busyTenantsReadingAndWritingNeverTakeTheLastDescriptors() async throws {
        let directory = try TemporaryDirectory()
        let limit = 1_200
        let server = try await ServerProcess(
            dataDirectory: directory.path, arguments: ["--max-clients", "20"], descriptorLimit: limit)
        let caPath = directory.path + "/tls/ca.pem"
        let (admin, tenantKeys) = try await Self.tenantsWithKeys(250, named: "busy", on: server, in: directory)

        let port = server.port
        // Four connections, each command on another tenant, writing and reading (a search always on a
        // reader connection): every tenant they reach opens its writer and readers, more tenants than
        // the limit holds with theirs.
        let pid = server.process.processIdentifier
        let highest = RecordedMaximum()
        let sampler = Task {
            while !Task.isCancelled {
                highest.record(Self.descriptors(of: pid))
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        let failures = try await withThrowingTaskGroup(of: [String].self) { group in
            for connection in 0..<4 {
                group.addTask {
                    let client = try await TestClient.connect(port: port, caPath: caPath)
                    var failures: [String] = []
                    for round in 0..<2 {
                        for (index, key) in tenantKeys.enumerated() where index % 4 == connection {
                            for reply in [
                                try await client.send("AUTH", key.0, key.1),
                                try await client.send("CONTACT.ADD", "email", "r\(round)@busy\(index).example"),
                                try await client.send("CONTACT.GET", "1"),
                                try await client.send("CONTACT.FIND", "WHERE", "lifecycle", "=", "lead", "LIMIT", "10"),
                                try await client.send("CONTACT.FIND", "SEARCH", "busy\(index)", "LIMIT", "5"),
                            ] {
                                if let error = reply.errorMessage, !error.hasPrefix("TRYAGAIN") {
                                    failures.append(error)
                                }
                            }
                        }
                    }
                    await client.close()
                    return failures
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        sampler.cancel()
        #expect(failures.isEmpty, "\(failures.prefix(3))")
        #expect(highest.value < limit - 64, "descriptors peaked at \(highest.value) of \(limit)")
        #expect(try await admin.send("PING") == .simpleString("PONG"), "the server stays up")
        await admin.close()
        await server.stop(with: SIGTERM)
    }
}

/// The largest of the values recorded, from any task.
private final class RecordedMaximum: Sendable {
    private let maximum = Atomic<Int>(0)
    func record(_ value: Int) { maximum.max(value, ordering: .relaxed) }
    var value: Int { maximum.load(ordering: .relaxed) }
}
