import CRMGateway
import CRMProtocol
import CRMTestSupport
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SwiftASN1
import Synchronization
import Testing
import X509

/// INFO sections, SLOWLOG, the Prometheus endpoint, structured logs and certificate reload.
@Suite struct ObservabilityTests {
    @Test func infoStorageNamesTheEngineAndShowsPostgreSQLsPoolToAdminsOnly() async throws {
        let gateway = try await TestGateway.start()
        let client = try await gateway.connect(tenant: "acme")
        #expect(try await client.send("CONTACT.ADD", "email", "a@example.com") == .integer(1))
        let admin = try await gateway.connectAsAdmin()
        let storage = try #require(try await admin.send("INFO", "storage").string)
        let fields = Dictionary(
            storage.split(separator: "\r\n").compactMap { line -> (String, String)? in
                let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
                return parts.count == 2 ? (parts[0], parts[1]) : nil
            }, uniquingKeysWith: { $1 })
        if TestStorage.isPostgres {
            #expect(fields["storage"] == "postgresql")
            #expect(fields["postgres_pool_size"] == "4")
            #expect(fields["postgres_connections_in_use"] == "0", "nothing runs between commands")
            #expect(fields["postgres_waiting_for_connection"] == "0")
            #expect(fields["postgres_errors"] == "0")
            #expect((Int(fields["postgres_statements"] ?? "") ?? 0) > 5, "\(storage)")
            #expect((Double(fields["postgres_round_trip_mean_us"] ?? "") ?? 0) > 0, "\(storage)")
        } else {
            #expect(fields["storage"] == "sqlite")
            #expect(fields["tenants_directory"] == gateway.directory.path + "/tenants")
        }
        #expect(try await client.send("INFO", "storage").string?.contains("storage:") == false, "an admin section")
        await client.close()
        await admin.close()
        await gateway.stop()
    }

    /// A partner company with an inventory rule, a reorder and a feed gap, so every counter has something to count.
    static func seed(_ client: TestClient) async throws {
        for command in [
            ["COMPANY.ADD", "name", "Partner", "ext", "erp-1"], ["COMPANY.STAGE", "1", "transition", "REASON", "grow"],
            ["COMPANY.STAGE", "1", "partner", "REASON", "EDI"],
            ["INV.RULE", "erp-1", "SKU-1", "MIN", "5", "MAX", "50"],
            ["INV.SET", "erp-1", "SKU-1", "20"], ["INV.ADJ", "erp-1", "SKU-1", "-18", "FEED", "wh", "SEQ", "1"],
            ["INV.ADJ", "erp-1", "SKU-1", "1", "FEED", "wh", "SEQ", "5"],
        ] {
            #expect(try await client.send(command).errorMessage == nil, "\(command)")
        }
    }

    @Test func infoHasCommandStatsTenantsAndFeedsForAdminsOnly() async throws {
        let gateway = try await TestGateway.start()
        let owner = try await gateway.connect(tenant: "acme")
        try await Self.seed(owner)
        _ = try await owner.send("CONTACT.GET", "999")
        let admin = try await gateway.connectAsAdmin()
        let info = try #require(try await admin.send("INFO").string)
        for line in [
            "# Commandstats", "cmdstat_inv.adj:calls=2,usec=", "# Tenants", "tenants:1", "open_tenant_databases:1",
            "# Feeds", "reorders_created:1", "feed_gaps:1", "# Persistence", "group_commits:",
        ] {
            #expect(info.contains(line), "INFO lacks \(line)")
        }
        let contactGet = try #require(info.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_contact.get:") })
        #expect(contactGet.hasSuffix(",failed_calls=1"), "\(contactGet)")
        let ownerInfo = try #require(try await owner.send("INFO", "everything").string)
        #expect(ownerInfo.contains("# Stats") && !ownerInfo.contains("cmdstat_") && !ownerInfo.contains("# Tenants"))
        await owner.close()
        await admin.close()
        await gateway.stop()
    }

    @Test func reordersAndGapsOfAnAbortedTransactionAreNotCounted() async throws {
        let gateway = try await TestGateway.start()
        let owner = try await gateway.connect(tenant: "acme")
        for command in [
            ["COMPANY.ADD", "name", "Partner", "ext", "erp-1"], ["COMPANY.STAGE", "1", "transition", "REASON", "grow"],
            ["COMPANY.STAGE", "1", "partner", "REASON", "EDI"], ["INV.SET", "erp-1", "SKU-1", "20"],
            ["INV.RULE", "erp-1", "SKU-1", "MIN", "5", "MAX", "50"], ["MULTI"],
        ] {
            #expect(try await owner.send(command).errorMessage == nil, "\(command)")
        }
        // The adjustment would create a reorder and record a gap (SEQ 1-4 missing); the failing SET undoes both.
        #expect(
            try await owner.send("INV.ADJ", "erp-1", "SKU-1", "-18", "FEED", "wh", "SEQ", "5")
                == .simpleString("QUEUED"))
        #expect(try await owner.send("CONTACT.SET", "999", "title", "CTO") == .simpleString("QUEUED"))
        let exec = try await owner.send("EXEC")
        guard case .array(let replies) = exec else {
            Issue.record("EXEC answered \(exec)")
            return
        }
        #expect(replies.map { $0.errorMessage.map { String($0.prefix(9)) } } == ["EXECABORT", "NOTFOUND "])
        #expect(
            try await owner.send("REORDER.LIST").elements?[1].elements?.isEmpty == true, "the aborted reorder is gone")
        let admin = try await gateway.connectAsAdmin()
        let before = try #require(try await admin.send("INFO", "feeds").string)
        #expect(before.contains("reorders_created:0\r\n") && before.contains("feed_gaps:0\r\n"), "\(before)")

        #expect(try await owner.send("INV.ADJ", "erp-1", "SKU-1", "-18", "FEED", "wh", "SEQ", "5") == .integer(2))
        let after = try #require(try await admin.send("INFO", "feeds").string)
        #expect(after.contains("reorders_created:1\r\n") && after.contains("feed_gaps:1\r\n"), "\(after)")
        await owner.close()
        await admin.close()
        await gateway.stop()
    }

    @Test func slowlogKeepsSlowCommandsNewestFirstWithCredentialsRedacted() async throws {
        let gateway = try await TestGateway.start {
            $0.slowlogThresholdMicroseconds = 0
            $0.slowlogMaxLength = 5
        }
        let key = try await gateway.createTenantKey("acme")
        let owner = try await gateway.connect(keyID: key.id, secret: key.secret)
        _ = try await owner.send(
            "CONTACT.ADD", "email", "slow@example.com", "notes", String(repeating: "n", count: 300))
        let admin = try await gateway.connectAsAdmin()
        #expect(try await admin.send("SLOWLOG", "LEN") == .integer(5), "capped at slowlog max_len")
        let entries = try #require(try await admin.send("SLOWLOG", "GET", "-1").elements)
        #expect(entries.count == 5)
        let ids = entries.compactMap { $0.elements?[0].string.flatMap(Int.init) }
        #expect(ids == ids.sorted(by: >), "newest first")
        let add = try #require(entries.first { $0.elements?[3].elements?.first?.string == "CONTACT.ADD" })
        let words = (add.elements?[3].elements ?? []).compactMap(\.string)
        #expect(
            words == ["CONTACT.ADD", "(5 bytes)", "(16 bytes)", "(5 bytes)", "(300 bytes)"], "CRM data only as sizes")
        let all = "\(entries)"
        #expect(!all.contains(key.secret) && !all.contains(gateway.adminSecret), "AUTH secrets are redacted")
        #expect(try await admin.send("SLOWLOG", "RESET") == .ok)
        #expect(try await admin.send("SLOWLOG", "LEN") == .integer(1), "only SLOWLOG RESET itself since")
        #expect(try await owner.send("SLOWLOG", "LEN").errorMessage?.hasPrefix("NOPERM") == true)
        await owner.close()
        await admin.close()
        await gateway.stop()
    }

    @Test func prometheusEndpointServesCommandsLatenciesBatchesReordersAndGaps() async throws {
        let gateway = try await TestGateway.start { $0.metricsPort = 0 }
        let owner = try await gateway.connect(tenant: "acme")
        try await Self.seed(owner)
        let port = try #require(gateway.server.ports.metrics)
        let metrics = try await Self.httpGet(port: port, path: "/metrics")
        #expect(metrics.hasPrefix("HTTP/1.1 200 OK"))
        for sample in [
            #"crmgate_commands_total{command="inv.adj",result="ok"} 2"#,
            #"crmgate_command_duration_seconds_bucket{command="inv.adj",le="+Inf"} 2"#,
            "crmgate_connections 1", "crmgate_reorders_created_total 1", "crmgate_feed_gaps_total 1",
            "crmgate_group_commit_batch_size_count",
        ] {
            #expect(metrics.contains(sample), "/metrics lacks \(sample)")
        }
        #expect(try await Self.httpGet(port: port, path: "/").hasPrefix("HTTP/1.1 404"))
        // Every metric the Grafana dashboard charts is one the server exports.
        let dashboard = try String(
            contentsOf: ConfigurationFileTests.repository.appendingPathComponent("Ops/grafana-dashboard.json"),
            encoding: .utf8)
        let charted = Set(
            dashboard.matches(of: /crmgate_[a-z_]+/).map {
                String($0.output).replacing(/_(bucket|sum|count)$/, with: "")
            })
        #expect(charted.count >= 6)
        for name in charted {
            #expect(metrics.contains("\n" + name), "the dashboard charts \(name), which /metrics lacks")
        }
        await owner.close()
        await gateway.stop()
    }

    @Test func logLinesAreLogfmtOrJSONAndCommandsCarryRequestIDs() async throws {
        let lines = LinesBox()
        let logfmt = LogOutput(label: "crmgate", level: .info, format: .logfmt) { lines.append($0) }
        var logger = Logger(label: "crmgate") { _ in logfmt }
        logger.info("hello world", metadata: ["key_id": "k_1", "note": "a \"quoted\" = value"])
        let json = LogOutput(label: "crmgate", level: .info, format: .json) { lines.append($0) }
        logger = Logger(label: "crmgate") { _ in json }
        logger.warning("line\nbreak", metadata: ["peer": "127.0.0.1"])
        let (text, object) = (lines.all[0], lines.all[1])
        #expect(text.contains(#"level=info label=crmgate msg="hello world" key_id=k_1 note="a \"quoted\" = value""#))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(object.utf8)) as? [String: String])
        #expect(parsed["msg"] == "line\nbreak" && parsed["level"] == "warning" && parsed["peer"] == "127.0.0.1")

        let logs = LogCapture()
        let gateway = try await TestGateway.start(logs: logs)
        _ = try await gateway.createTenantKey("acme")
        let created = try #require(logs.text.split(separator: "\n").first { $0.contains("key created") })
        #expect(created.contains("request_id="), "\(created)")
        await gateway.stop()
    }

    @Test func sighupReloadsTheCertificateWithoutDroppingConnections() async throws {
        let gateway = try await TestGateway.start()
        let before = try await gateway.connect()
        let oldSerial = try await Self.serverSerial(port: gateway.port, caPath: gateway.caPath)
        let tls = gateway.directory.path + "/tls"
        let (certificate, key) = try Self.serverCertificate(caDirectory: tls)
        try certificate.write(toFile: tls + "/server.pem", atomically: true, encoding: .utf8)
        try key.write(toFile: tls + "/server.key", atomically: true, encoding: .utf8)
        #expect(gateway.server.reloadCertificates())
        let newSerial = try await Self.serverSerial(port: gateway.port, caPath: gateway.caPath)
        #expect(newSerial != oldSerial, "new connections get the new certificate")
        #expect(try await before.send("PING") == .simpleString("PONG"), "open connections stay")

        try "not a certificate".write(toFile: tls + "/server.pem", atomically: true, encoding: .utf8)
        #expect(!gateway.server.reloadCertificates(), "a broken file is refused")
        #expect(try await Self.serverSerial(port: gateway.port, caPath: gateway.caPath) == newSerial)
        await before.close()
        await gateway.stop()
    }

    @Test(.enabled(if: !TestStorage.isPostgres, "SQLite files")) func theBinaryReloadsOnSIGHUP() async throws {
        let directory = try TemporaryDirectory()
        let server = try await ServerProcess(dataDirectory: directory.path)
        kill(server.process.processIdentifier, SIGHUP)
        let deadline = ContinuousClock.now + .seconds(10)
        while !server.output.contains("reloaded the TLS certificate"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(server.output.contains("reloaded the TLS certificate"))
        #expect(server.process.isRunning)
        await server.stop(with: SIGTERM)
    }

    /// The serial number of the certificate the server presents to a new connection.
    static func serverSerial(port: Int, caPath: String) async throws -> String {
        let client = try await TestClient.connect(port: port, caPath: caPath)
        #expect(try await client.send("PING") == .simpleString("PONG"))
        let presented = try #require(try await client.channel.nioSSL_peerCertificate().get())
        let certificate = try Certificate(derEncoded: presented.toDERBytes())
        await client.close()
        return "\(certificate.serialNumber)"
    }

    /// A new server certificate for localhost, signed by the development CA in `caDirectory`.
    static func serverCertificate(caDirectory: String) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let caKey = try P256.Signing.PrivateKey(
            pemRepresentation: String(contentsOfFile: caDirectory + "/ca.key", encoding: .utf8))
        let ca = try Certificate(pemEncoded: String(contentsOfFile: caDirectory + "/ca.pem", encoding: .utf8))
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(3600),
            issuer: ca.subject, subject: try DistinguishedName { CommonName("localhost") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([
                    .dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                ])
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))
        return (try certificate.serializeAsPEM().pemString + "\n", key.pemRepresentation + "\n")
    }

    /// One plain HTTP/1.1 GET with `Connection: close`; the whole response as text.
    static func httpGet(port: Int, path: String) async throws -> String {
        let collected = LinesBox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(lines: collected))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(
            ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
        try await channel.closeFuture.get()
        return collected.all.joined()
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let lines: LinesBox

        init(lines: LinesBox) {
            self.lines = lines
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            lines.append(String(buffer: unwrapInboundIn(data)))
        }
    }
}

/// Text collected from another thread.
final class LinesBox: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    func append(_ line: String) {
        lines.withLock { $0.append(line) }
    }
}
