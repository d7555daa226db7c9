import Crypto
import Foundation
import SwiftASN1
import X509

/// A development CA and a server certificate signed by it (SAN `localhost`,
/// `127.0.0.1`, `::1`), made on first start when no certificate is configured.
/// Clients trust `ca.pem`; the keys never leave the data directory.
enum DevelopmentCertificate {
    struct Paths {
        var ca: String
        var certificate: String
        var key: String
    }

    static func paths(in dataDirectory: String) -> Paths {
        let directory = dataDirectory + "/tls"
        return Paths(ca: directory + "/ca.pem", certificate: directory + "/server.pem", key: directory + "/server.key")
    }

    /// Creates the files unless they exist; returns whether it created them.
    static func ensure(in dataDirectory: String) throws -> Bool {
        let paths = paths(in: dataDirectory)
        let files = FileManager.default
        if files.fileExists(atPath: paths.certificate), files.fileExists(atPath: paths.key) { return false }
        try files.createDirectory(atPath: dataDirectory + "/tls", withIntermediateDirectories: true)

        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("crmgate")
            CommonName("crmgate development CA")
        }
        let ca = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(5 * 365 * 86400),
            issuer: caName,
            subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(caKey.publicKey))
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey)
        )

        let serverKey = P256.Signing.PrivateKey()
        let server = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(2 * 365 * 86400),
            issuer: caName,
            subject: try DistinguishedName {
                OrganizationName("crmgate")
                CommonName("localhost")
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([
                    .dnsName("localhost"),
                    .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                    .ipAddress(ASN1OctetString(contentBytes: ArraySlice(Array(repeating: 0, count: 15) + [1]))),
                ])
                AuthorityKeyIdentifier(
                    keyIdentifier: SubjectKeyIdentifier(hash: Certificate.PublicKey(caKey.publicKey)).keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey)
        )

        try PrivateFile.write(ca.serializeAsPEM().pemString + "\n", to: paths.ca, mode: 0o644)
        try PrivateFile.write(
            server.serializeAsPEM().pemString + "\n" + ca.serializeAsPEM().pemString + "\n", to: paths.certificate,
            mode: 0o644)
        try PrivateFile.write(serverKey.pemRepresentation + "\n", to: paths.key, mode: 0o600)
        try PrivateFile.write(caKey.pemRepresentation + "\n", to: dataDirectory + "/tls/ca.key", mode: 0o600)
        return true
    }
}
