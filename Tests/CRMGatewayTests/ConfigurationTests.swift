import CRMGateway
import CRMTestSupport
import Foundation
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

@Suite struct ConfigurationFileTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func settingsApplyAndBadKeysTypesAndValuesAreNamed() throws {
        let configuration = try ConfigurationFile.parse(
            """
            port = 7400
            durability = "normal"
            log_format = "json"
            [limits]
            max_tenant_mib = 64
            [timeouts]
            idle_seconds = 0
            [rate_limits]
            tenant_per_second = 500
            """)
        #expect(configuration.port == 7400)
        #expect(configuration.durability == .normal)
        #expect(configuration.logFormat == .json)
        #expect(configuration.maxTenantBytes == 64 << 20)
        #expect(configuration.idleTimeout == nil)
        #expect(configuration.tenantRateLimit == 500)
        #expect(configuration.keyRateLimit == nil)
        for (text, message) in [
            ("prot = 1", "configuration: unknown key prot"),
            ("[limits]\nmax_inline = 1", "configuration: unknown key limits.max_inline"),
            ("port = \"7379\"", "port must be an integer"),
            ("port = 70000", "port must be between 0 and 65535"),
            ("durability = \"fast\"", "durability must be full or normal, not fast"),
            ("log_level = \"loud\"", "log_level must be trace, debug, info, notice, warning, error or critical"),
            ("[rate_limits]\ntenant_per_second = -1", "rate_limits.tenant_per_second must be between 0 and 100000000"),
            ("allow_insecure_plaintext = 1", "allow_insecure_plaintext must be true or false"),
            ("port = ", "configuration:1:8: Error while parsing key-value pair: encountered end-of-file"),
        ] {
            #expect(throws: ConfigurationError(message), "\(text)") { try ConfigurationFile.parse(text) }
        }
    }

    @Test func theExampleFileParsesAndDocumentsEveryKey() throws {
        let path = Self.repository.appendingPathComponent("Ops/crmgate.toml").path
        let example = try String(contentsOfFile: path, encoding: .utf8)
        let configuration = try ConfigurationFile.load(path)
        #expect(configuration.dataDirectory == "/var/lib/crmgate")
        for key in ConfigurationFile.keys {
            let name = String(key.split(separator: ".").last!)
            #expect(
                example.contains("\n\(name) =") || example.contains("\n# \(name) ="), "Ops/crmgate.toml lacks \(key)")
        }
    }

    @Test func theEffectiveConfigurationReadsBackTheSame() throws {
        var configuration = GatewayConfiguration()
        configuration.tlsClientCAPath = "/etc/crmgate/ca.pem"
        configuration.keyRateLimit = 50
        let described = ConfigurationFile.describe(configuration)
        #expect(ConfigurationFile.describe(try ConfigurationFile.parse(described)) == described)
    }

    @Test func flagsOverrideTheFileAndCheckConfigMasksSecrets() async throws {
        let directory = try TemporaryDirectory()
        let file = directory.path + "/crmgate.toml"
        try "port = 7400\nmax_clients = 50\n[tls]\nkey_passphrase = \"hunter2\"\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try await ServerProcess.run(["check-config", file])
        #expect(fromFile.status == 0)
        #expect(fromFile.output.contains("\nport = 7400\n") && fromFile.output.contains("\nmax_clients = 50\n"))
        #expect(fromFile.output.contains("key_passphrase = \"********\""))
        #expect(!fromFile.output.contains("hunter2"))
        let overridden = try await ServerProcess.run(["check-config", file, "--port", "7500", "--durability", "normal"])
        #expect(overridden.output.contains("\nport = 7500\n") && overridden.output.contains("\nmax_clients = 50\n"))
        #expect(overridden.output.contains("durability = \"normal\""))
        try "port = 7400\nhost = \"0.0.0.0\"\nplaintext_port = 7380\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let refused = try await ServerProcess.run(["check-config", file])
        #expect(refused.status != 0)
        #expect(refused.output.contains("refusing plaintext on non-loopback host 0.0.0.0"))
    }

    @Test func checkConfigValidatesTheStorageURLAndMasksItsPassword() async throws {
        let directory = try TemporaryDirectory()
        let file = directory.path + "/crmgate.toml"
        try "storage = \"postgresql://crmgate:hunter2@db.internal:6543/crm?sslmode=require\"\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let checked = try await ServerProcess.run(["check-config", file])
        #expect(checked.status == 0, "\(checked.output)")
        #expect(
            checked.output.contains("storage = \"postgresql://crmgate:****@db.internal:6543/crm?sslmode=require\""),
            "\(checked.output)")
        #expect(!checked.output.contains("hunter2"))
        let flag = try await ServerProcess.run(["check-config", file, "--storage", "postgresql://ops@db2/crm"])
        #expect(flag.output.contains("storage = \"postgresql://ops@db2:5432/crm\""), "\(flag.output)")
        for (url, problem) in [
            ("mysql://u@h/db", "must start with postgresql://"), ("postgresql://u@h", "names no database"),
            ("postgresql://h/db", "names no user"), ("postgresql://u@h/db?sslmode=maybe", "takes only sslmode"),
        ] {
            try "storage = \"\(url)\"\n".write(toFile: file, atomically: true, encoding: .utf8)
            let refused = try await ServerProcess.run(["check-config", file])
            #expect(refused.status != 0)
            #expect(refused.output.contains("storage: the PostgreSQL URL \(problem)"), "\(refused.output)")
        }
    }
}
