import CRMGateway
import CRMProtocol
import CRMTestSupport
import Foundation
import Logging
import Testing

/// A real crmgate server on an ephemeral loopback port with its own data directory.
///
/// Every gateway of the suite logs at debug level into a capture, and on
/// ``stop()`` checks that no secret it handed out appears in those logs.
final class TestGateway {
    let directory: TemporaryDirectory
    let server: GatewayServer
    let adminKeyID: String
    let adminSecret: String
    private let logs: LogCapture
    private var secrets: [String]

    var port: Int { server.ports.tls }
    var caPath: String { directory.path + "/tls/ca.pem" }

    static func start(
        directory: TemporaryDirectory? = nil, logs: LogCapture? = nil,
        configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) async throws -> TestGateway {
        let directory = try directory ?? TemporaryDirectory()
        var configuration = GatewayConfiguration()
        configuration.dataDirectory = directory.path
        configuration.port = 0
        configuration.storage = try await TestStorage.postgresURL(of: directory)
        configuration.postgresConnections = 4
        configure(&configuration)
        let logs = logs ?? LogCapture()
        let server = try await GatewayServer(
            configuration: configuration, logger: logs.logger(label: "crmgate-test", level: .debug))
        try await server.start()
        return try TestGateway(directory: directory, server: server, logs: logs)
    }

    /// A second gateway on `first`'s PostgreSQL (its catalog and tenants), with a data directory
    /// (TLS, lock) of its own and `first`'s admin key.
    static func start(sharingStorageWith first: TestGateway) async throws -> TestGateway {
        let directory = try TemporaryDirectory()
        let url = try #require(try await TestStorage.postgresURL(of: first.directory), "PostgreSQL only")
        try FileManager.default.copyItem(
            atPath: first.directory.path + "/admin.key", toPath: directory.path + "/admin.key")
        let gateway = try await start(directory: directory, logs: first.logs) { $0.storage = url }
        gateway.secrets = first.secrets
        return gateway
    }

    private init(directory: TemporaryDirectory, server: GatewayServer, logs: LogCapture) throws {
        self.directory = directory
        self.server = server
        self.logs = logs
        let words = try String(contentsOfFile: directory.path + "/admin.key", encoding: .utf8).split(separator: " ")
        adminKeyID = String(words[0])
        adminSecret = words[1].trimmingCharacters(in: .whitespacesAndNewlines)
        secrets = [adminSecret]
    }

    func connect() async throws -> TestClient {
        try await TestClient.connect(port: port, caPath: caPath)
    }

    func connect(keyID: String, secret: String) async throws -> TestClient {
        let client = try await connect()
        let reply = try await client.send("AUTH", keyID, secret)
        #expect(reply == .ok)
        return client
    }

    func connectAsAdmin() async throws -> TestClient {
        try await connect(keyID: adminKeyID, secret: adminSecret)
    }

    /// Creates a tenant and a key of `role` in it; returns the key id and secret.
    func createTenantKey(_ tenant: String, role: String = "owner", create: Bool = true) async throws -> (
        id: String, secret: String
    ) {
        let admin = try await connectAsAdmin()
        if create {
            #expect(try await admin.send("TENANT.CREATE", tenant) == .ok)
        }
        let key = try #require(try await admin.send("KEY.CREATE", tenant, role).elements)
        await admin.close()
        secrets.append(key[1].string!)
        return (key[0].string!, key[1].string!)
    }

    func connect(tenant: String, role: String = "owner", create: Bool = true) async throws -> TestClient {
        let key = try await createTenantKey(tenant, role: role, create: create)
        return try await connect(keyID: key.id, secret: key.secret)
    }

    func stop() async {
        await server.shutdown()
        let text = logs.text
        #expect(!secrets.contains { text.contains($0) }, "a secret is in the server's log")
    }
}
