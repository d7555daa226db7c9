import CRMProtocol
import CRMTestSupport
import Crypto
import Foundation
import NIOSSL
import Testing
import X509

/// Secrets stay secret, key files are private, TLS offers only the documented
/// policy, and ERP keys can be bound to client certificates.
@Suite struct SecurityTests {
    @Test func secretsNeverAppearInLogsClientListInfoErrorsOrTheCatalog() async throws {
        let logs = LogCapture()
        let gateway = try await TestGateway.start(logs: logs) { $0.authFailuresBeforeThrottle = 100 }
        let owner = try await gateway.createTenantKey("acme")
        let erp = try await gateway.createTenantKey("acme", role: "erp", create: false)
        let secrets = [gateway.adminSecret, owner.secret, erp.secret]

        let client = try await gateway.connect()
        var seen: [String] = []
        for attempt in [
            ["AUTH", owner.id, erp.secret], ["AUTH", owner.secret, owner.id], ["AUTH", erp.id, "x" + erp.secret],
            ["HELLO", "3", "AUTH", owner.id, gateway.adminSecret], ["HELLO", "3", "AUTH", owner.secret, owner.secret],
        ] {
            let reply = try await client.send(attempt)
            #expect(reply.errorMessage?.hasPrefix("WRONGPASS") == true, "\(attempt[0]) with a wrong pair: \(reply)")
            seen.append("\(reply)")
        }
        #expect(
            try await client.send("HELLO", "3", "AUTH", owner.id, owner.secret, "SETNAME", "erp-1").errorMessage == nil)
        _ = try await client.send("CONTACT.ADD", "email", "ada@example.com")
        let admin = try await gateway.connectAsAdmin()
        for command in [
            ["CLIENT", "LIST"], ["CLIENT", "INFO"], ["INFO"], ["INFO", "all"], ["KEY.LIST", "acme"],
            ["TENANT.INFO", "acme"], ["INFO", "clients"], ["INFO", "stats"],
        ] {
            seen.append("\(try await admin.send(command))")
        }
        seen.append("\(try await client.send("CLIENT", "INFO"))")
        seen.append(logs.text)
        #expect(logs.text.contains("AUTH failed"), "the failures were logged")
        #expect(logs.text.contains("(not a key id)"), "a secret sent as a key id is masked")
        for secret in secrets {
            #expect(!seen.contains { $0.contains(secret) }, "a secret leaked")
        }
        if TestStorage.isPostgres {
            let catalog = try await TestStorage.postgresRows(of: gateway.directory, schema: "crmgate")
            #expect(catalog["keys"]?.isEmpty == false)
            for secret in secrets {
                #expect(!catalog.values.joined().contains { $0.contains(secret) }, "stored in clear")
            }
        } else {
            let catalog = try Data(contentsOf: URL(fileURLWithPath: gateway.directory.path + "/catalog.sqlite"))
            let wal =
                (try? Data(contentsOf: URL(fileURLWithPath: gateway.directory.path + "/catalog.sqlite-wal"))) ?? Data()
            for secret in secrets {
                #expect(
                    catalog.range(of: Data(secret.utf8)) == nil && wal.range(of: Data(secret.utf8)) == nil,
                    "stored in clear")
            }
        }
        await client.close()
        await admin.close()
        await gateway.stop()
    }

    @Test func keyFilesAndTheDataDirectoryArePrivate() async throws {
        let gateway = try await TestGateway.start()
        for (path, mode) in [
            ("", 0o700), ("/admin.key", 0o600), ("/tls/server.key", 0o600), ("/tls/ca.key", 0o600),
        ] {
            let attributes = try FileManager.default.attributesOfItem(atPath: gateway.directory.path + path)
            #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o777 } == mode, "mode of \(path)")
        }
        await gateway.stop()
    }

    @Test func tls12OffersOnlyForwardSecretAEADSuites() async throws {
        let gateway = try await TestGateway.start()
        let cbcOnly = try await TestClient.connect(port: gateway.port, caPath: gateway.caPath) { tls in
            tls.maximumTLSVersion = .tlsv12
            tls.cipherSuiteValues = [.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, .TLS_RSA_WITH_AES_128_CBC_SHA]
        }
        await #expect(throws: (any Error).self, "a CBC-only TLS 1.2 client completed a handshake") {
            try await cbcOnly.send("PING")
        }
        let gcm = try await TestClient.connect(port: gateway.port, caPath: gateway.caPath) { tls in
            tls.maximumTLSVersion = .tlsv12
            tls.cipherSuiteValues = [.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
        }
        #expect(try await gcm.send("PING") == .simpleString("PONG"))
        await gcm.close()
        await gateway.stop()
    }

    @Test func erpKeysNeedAClientCertificateNamingTheirTenant() async throws {
        let directory = try TemporaryDirectory()
        // The development CA the server generates on first start also signs the test's client certificates.
        let first = try await TestGateway.start(directory: directory)
        await first.stop()
        let gateway = try await TestGateway.start(directory: directory) {
            $0.tlsClientCAPath = directory.path + "/tls/ca.pem"
        }
        let erp = try await gateway.createTenantKey("acme", role: "erp")
        let owner = try await gateway.createTenantKey("acme", create: false)
        let acmeIdentity = try Self.clientIdentity(commonName: "acme", caDirectory: directory.path + "/tls")
        let otherIdentity = try Self.clientIdentity(commonName: "globex", caDirectory: directory.path + "/tls")

        let bare = try await gateway.connect()
        let refused = try await bare.send("AUTH", erp.id, erp.secret)
        #expect(refused.errorMessage?.hasPrefix("NOPERM erp keys need a client certificate") == true, "\(refused)")
        #expect(try await bare.send("AUTH", owner.id, owner.secret) == .ok, "other roles need no certificate")
        let wrongTenant = try await TestClient.connect(
            port: gateway.port, caPath: gateway.caPath, identity: otherIdentity)
        #expect(try await wrongTenant.send("AUTH", erp.id, erp.secret).errorMessage?.hasPrefix("NOPERM") == true)
        let certified = try await TestClient.connect(port: gateway.port, caPath: gateway.caPath, identity: acmeIdentity)
        #expect(try await certified.send("AUTH", erp.id, erp.secret) == .ok)
        #expect(try await certified.send("INV.LIST", "nope").errorMessage?.hasPrefix("NOTFOUND") == true)

        let stranger = try Self.clientIdentity(commonName: "acme", caDirectory: nil)
        let untrusted = try await TestClient.connect(port: gateway.port, caPath: gateway.caPath, identity: stranger)
        await #expect(throws: (any Error).self, "a certificate from another CA was accepted") {
            try await untrusted.send("PING")
        }
        for client in [bare, wrongTenant, certified] { await client.close() }
        await gateway.stop()
    }

    /// A client certificate for `commonName`, signed by the CA in `caDirectory`
    /// (`ca.pem`, `ca.key`), or self-signed when nil.
    static func clientIdentity(commonName: String, caDirectory: String?) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        var issuerKey = key
        var issuer = try DistinguishedName { CommonName(commonName) }
        if let caDirectory {
            issuerKey = try P256.Signing.PrivateKey(
                pemRepresentation: String(contentsOfFile: caDirectory + "/ca.key", encoding: .utf8))
            issuer = try Certificate(pemEncoded: String(contentsOfFile: caDirectory + "/ca.pem", encoding: .utf8))
                .subject
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-60), notValidAfter: now.addingTimeInterval(3600), issuer: issuer,
            subject: try DistinguishedName { CommonName(commonName) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.clientAuth])
            },
            issuerPrivateKey: Certificate.PrivateKey(issuerKey))
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }
}
