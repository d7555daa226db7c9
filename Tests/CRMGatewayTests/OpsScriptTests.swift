import CRMGateway
import CRMTestSupport
import Foundation
import Glibc
import Testing

/// The operator scripts in Ops/: install staging, the openssl PKI and the private PostgreSQL.
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

    /// A port nothing listens on now: the kernel's pick for a socket bound to port 0.
    static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(socket, address, length) == 0 && getsockname(socket, address, &length) == 0
            }
        }
        try #require(bound, "bind: \(String(cString: strerror(errno)))")
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func postgresStartsAPrivateDurableClusterAndStopsIt() async throws {
        let port = try Self.freePort()
        let (started, directory) = try await ChildProcess.run(
            Self.script("postgres"), ["start", String(port)], includingStandardError: false)
        let cluster = directory.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(started == 0, "\(directory)")
        let (status, output) = try await ChildProcess.run(
            "/usr/bin/psql",
            [
                "-h", cluster, "-p", String(port), "-U", "postgres", "-At", "-c", "SHOW fsync", "-c",
                "SHOW synchronous_commit",
                "-c", "SELECT count(*) FROM pg_database",
            ])
        #expect(status == 0 && output.split(separator: "\n").prefix(2) == ["on", "on"], "\(output)")
        #expect(try await ChildProcess.run(Self.script("postgres"), ["stop", cluster]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: cluster), "the cluster's directory is removed")
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
