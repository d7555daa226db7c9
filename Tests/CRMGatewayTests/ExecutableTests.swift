import CRMTestSupport
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// The real `crmgate` binary: first start, TLS policy, graceful shutdown on SIGTERM.
@Suite struct ExecutableTests {
    static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/crmgate").path

    /// Starts the binary and waits for its "accepting connections" log line; returns the process, its TLS port and log.
    private func start(dataDirectory: String) throws -> (Process, Int, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["--data-dir", dataDirectory, "--port", "0"]
        let log = Pipe()
        process.standardError = log
        process.standardOutput = log
        try process.run()
        var text = ""
        while !text.contains("tls_port=") {
            let chunk = log.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let portText = try #require(text.split(separator: " ").first { $0.hasPrefix("tls_port=") })
        return (process, try #require(Int(portText.dropFirst("tls_port=".count))), log)
    }

    @Test func sigtermShutsDownGracefullyAndKeepsAcknowledgedWrites() async throws {
        let directory = try TemporaryDirectory()
        let (process, port, log) = try start(dataDirectory: directory.path)
        let keyWords = try String(contentsOfFile: directory.path + "/admin.key", encoding: .utf8).split(separator: " ")
        let admin = try await TestClient.connect(port: port, caPath: directory.path + "/tls/ca.pem")
        #expect(
            try await admin.send(
                "AUTH", String(keyWords[0]), keyWords[1].trimmingCharacters(in: .whitespacesAndNewlines)) == .ok)
        #expect(try await admin.send("TENANT.CREATE", "acme") == .ok)

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let text = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(text.contains("shutdown complete"))
        #expect(
            !text.contains(keyWords[1].trimmingCharacters(in: .whitespacesAndNewlines)), "the secret is never logged")
        #expect(await admin.isClosedByServer())

        let (again, _, _) = try start(dataDirectory: directory.path)
        defer { again.terminate() }
        #expect(FileManager.default.fileExists(atPath: directory.path + "/tenants/acme.sqlite"))
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
