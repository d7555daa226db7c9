import CRMTestSupport
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// The real `crmgate` binary: first start, TLS policy, graceful shutdown on SIGTERM.
@Suite struct ExecutableTests {
    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files"))
    func sigtermShutsDownGracefullyAndKeepsAcknowledgedWrites() async throws {
        let directory = try TemporaryDirectory()
        // An event-loop count given on the command line starts and stops with it too.
        let server = try await ServerProcess(dataDirectory: directory.path, arguments: ["--threads", "2"])
        let port = server.port
        let keyWords = try String(contentsOfFile: directory.path + "/admin.key", encoding: .utf8).split(separator: " ")
        let admin = try await TestClient.connect(port: port, caPath: directory.path + "/tls/ca.pem")
        #expect(
            try await admin.send(
                "AUTH", String(keyWords[0]), keyWords[1].trimmingCharacters(in: .whitespacesAndNewlines)) == .ok)
        #expect(try await admin.send("TENANT.CREATE", "acme") == .ok)

        let text = await server.stop(with: SIGTERM)
        #expect(server.process.terminationStatus == 0)
        #expect(text.contains("shutdown complete"))
        #expect(
            !text.contains(keyWords[1].trimmingCharacters(in: .whitespacesAndNewlines)), "the secret is never logged")
        #expect(await admin.isClosedByServer())

        let again = try await ServerProcess(dataDirectory: directory.path)
        #expect(again.port > 0)
        let client = try await TestClient.connect(port: again.port, caPath: directory.path + "/tls/ca.pem")
        #expect(
            try await client.send(
                "AUTH", String(keyWords[0]), keyWords[1].trimmingCharacters(in: .whitespacesAndNewlines)) == .ok)
        let listed = try await client.send("TENANT.LIST").elements?.compactMap { $0.fields["name"] }
        #expect(listed == ["acme"], "the tenant created before SIGTERM is there after the restart")
        await client.close()
    }

    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite memory"))
    func theBinaryReportsTheMemorySQLiteHolds() async throws {
        let directory = try TemporaryDirectory()
        let server = try await ServerProcess(dataDirectory: directory.path)
        let admin = try await CrashSafetyTests.connectAdmin(directory: directory.path, port: server.port)
        func sqliteMemory() async throws -> Int {
            let info = try #require(try await admin.send("INFO", "tenants").string)
            let line = try #require(
                info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("tenant_sqlite_memory_bytes:") })
            return try #require(Int(line.split(separator: ":")[1]))
        }
        #expect(try await admin.send("TENANT.CREATE", "acme") == .ok)
        let before = try await sqliteMemory()
        #expect(before > 0, "the catalog's connection holds SQLite memory")
        let key = try #require(try await admin.send("KEY.CREATE", "acme", "owner").elements?.compactMap(\.string))
        let tenant = try await CrashSafetyTests.connect(port: server.port, directory: directory.path, key: key)
        for number in 0..<50 {
            #expect(try await tenant.send("CONTACT.ADD", "email", "c\(number)@example.com") == .integer(number + 1))
        }
        let after = try await sqliteMemory()
        #expect(after > before, "the open tenant's connections hold more: \(before) -> \(after)")
        await tenant.close()
        await admin.close()
        await server.stop(with: SIGTERM)
    }

    @Test func refusesTLSBelowVersion12() async throws {
        let gateway = try await TestGateway.start()
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(gateway.caPath))
        configuration.minimumTLSVersion = .tlsv1
        configuration.maximumTLSVersion = .tlsv11
        let context = try NIOSSLContext(configuration: configuration)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                }
            }
            .connect(host: "127.0.0.1", port: gateway.port).get()
        var ping = ByteBuffer()
        ping.writeString("PING\r\n")
        do {
            try await channel.writeAndFlush(ping)
            Issue.record("a TLS 1.1 client completed a handshake")
            try await channel.close()
        } catch {
            try? await channel.closeFuture.get()
            #expect(!channel.isActive)
        }
        await gateway.stop()
    }
}
