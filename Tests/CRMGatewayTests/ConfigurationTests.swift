import CRMGateway
import Testing

@Suite struct ConfigurationTests {
    @Test func plaintextIsLoopbackOnlyUnlessForced() throws {
        var configuration = GatewayConfiguration()
        configuration.plaintextPort = 7380
        try configuration.validate()
        configuration.host = "0.0.0.0"
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.allowInsecurePlaintext = true
        try configuration.validate()
    }

    @Test func certificateAndKeyGoTogether() {
        var configuration = GatewayConfiguration()
        configuration.tlsCertificatePath = "/tmp/cert.pem"
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }

    @Test func plaintextListenerServesLoopbackClients() async throws {
        let gateway = try await TestGateway.start { $0.plaintextPort = 0 }
        let port = try #require(gateway.server.ports.plaintext)
        let client = try await TestClient.connect(port: port, caPath: nil)
        #expect(try await client.send("PING") == .simpleString("PONG"))
        await client.close()
        await gateway.stop()
    }
}
