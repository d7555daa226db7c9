import CRMGateway
import CRMProtocol
import CRMTestSupport
import Foundation
import Logging
import Testing

/// A real crmgate server on an ephemeral loopback port with its own data directory.
final class TestGateway {
    let directory: TemporaryDirectory
    let server: GatewayServer
    let adminKeyID: String
    let adminSecret: String

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
        configure(&configuration)
        var logger = logs?.logger(label: "crmgate-test") ?? Logger(label: "crmgate-test")
        if logs == nil { logger.logLevel = .warning }
        let server = try GatewayServer(configuration: configuration, logger: logger)
        try await server.start()
        return try TestGateway(directory: directory, server: server)
    }

    private init(directory: TemporaryDirectory, server: GatewayServer) throws {
        self.directory = directory
        self.server = server
        let words = try String(contentsOfFile: directory.path + "/admin.key", encoding: .utf8).split(separator: " ")
        adminKeyID = String(words[0])
        adminSecret = words[1].trimmingCharacters(in: .whitespacesAndNewlines)
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
        return (key[0].string!, key[1].string!)
    }

    func connect(tenant: String, role: String = "owner", create: Bool = true) async throws -> TestClient {
        let key = try await createTenantKey(tenant, role: role, create: create)
        return try await connect(keyID: key.id, secret: key.secret)
    }

    func stop() async {
        await server.shutdown()
    }
}
