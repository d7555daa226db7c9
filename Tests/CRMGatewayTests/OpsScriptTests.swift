import CRMGateway
import CRMTestSupport
import Foundation
import Testing

/// The operator scripts in Ops/: install staging and the openssl PKI.
@Suite struct OpsScriptTests {
    static func script(_ name: String) -> String {
        ConfigurationFileTests.repository.appendingPathComponent("Ops/" + name).path
    }

    @Test func installStagesBinariesUnitConfigurationAndPrivateDirectories() async throws {
        let root = try TemporaryDirectory()
        let bin = URL(fileURLWithPath: ServerProcess.binary).deletingLastPathComponent().path
        let (status, output) = try await ChildProcess.run(
            Self.script("install.sh"), ["--root", root.path, "--bin-dir", bin])
        #expect(status == 0, "\(output)")
        let files = FileManager.default
        for path in ["/usr/local/bin/crmgate", "/usr/local/bin/crmgate-admin", "/etc/systemd/system/crmgate.service"] {
            #expect(files.isExecutableFile(atPath: root.path + path) || path.hasSuffix(".service"), "\(path)")
            #expect(files.fileExists(atPath: root.path + path), "\(path)")
        }
        for (path, mode) in [
            ("/var/lib/crmgate", 0o700), ("/var/backups/crmgate", 0o700), ("/etc/crmgate/crmgate.toml", 0o640),
        ] {
            let attributes = try files.attributesOfItem(atPath: root.path + path)
            #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o777 } == mode, "\(path)")
        }
        let configuration = try ConfigurationFile.load(root.path + "/etc/crmgate/crmgate.toml")
        #expect(configuration.dataDirectory == "/var/lib/crmgate")
        #expect(configuration.backupDirectory == "/var/backups/crmgate")
        // A second run (an upgrade) keeps the operator's configuration.
        try "port = 7400\n".write(toFile: root.path + "/etc/crmgate/crmgate.toml", atomically: true, encoding: .utf8)
        #expect(
            try await ChildProcess.run(Self.script("install.sh"), ["--root", root.path, "--bin-dir", bin]).status == 0)
        #expect(try ConfigurationFile.load(root.path + "/etc/crmgate/crmgate.toml").port == 7400)
    }

    @Test func genCertsMakesAServerCertificateAndERPClientCertificatesTheServerAccepts() async throws {
        let directory = try TemporaryDirectory()
        let pki = directory.path + "/pki"
        let (status, output) = try await ChildProcess.run(
            Self.script("gen-certs.sh"),
            ["--out", pki, "--name", "localhost", "--name", "127.0.0.1", "--client", "acme"])
        #expect(status == 0, "\(output)")
        for key in ["ca.key", "server.key", "clients/acme.key"] {
            let mode = try FileManager.default.attributesOfItem(atPath: pki + "/" + key)[.posixPermissions] as? Int
            #expect(mode.map { $0 & 0o777 } == 0o600, "\(key)")
        }
        let gateway = try await TestGateway.start {
            $0.tlsCertificatePath = pki + "/server.pem"
            $0.tlsKeyPath = pki + "/server.key"
            $0.tlsClientCAPath = pki + "/ca.pem"
        }
        let admin = try await TestClient.connect(port: gateway.port, caPath: pki + "/ca.pem")
        #expect(try await admin.send("AUTH", gateway.adminKeyID, gateway.adminSecret) == .ok)
        #expect(try await admin.send("TENANT.CREATE", "acme") == .ok)
        let erp = try #require(try await admin.send("KEY.CREATE", "acme", "erp").elements?.compactMap(\.string))
        let identity = (
            certificate: try String(contentsOfFile: pki + "/clients/acme.pem", encoding: .utf8),
            key: try String(contentsOfFile: pki + "/clients/acme.key", encoding: .utf8)
        )
        let client = try await TestClient.connect(port: gateway.port, caPath: pki + "/ca.pem", identity: identity)
        #expect(try await client.send("AUTH", erp[0], erp[1]) == .ok)
        let bare = try await TestClient.connect(port: gateway.port, caPath: pki + "/ca.pem")
        #expect(try await bare.send("AUTH", erp[0], erp[1]).errorMessage?.hasPrefix("NOPERM") == true)
        for connection in [admin, client, bare] { await connection.close() }
        await gateway.stop()
    }
}
