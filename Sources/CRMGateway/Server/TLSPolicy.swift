import NIOSSL
import X509

/// The TLS settings every listener uses (README "Security"): TLS 1.2 and 1.3
/// only; on TLS 1.2 only forward-secret AEAD suites (ECDHE with AES-GCM or
/// ChaCha20-Poly1305); TLS 1.3 uses BoringSSL's fixed AEAD suites. With a
/// client CA, clients may present a certificate, which must chain to that CA.
enum TLSPolicy {
    static let tls12CipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ]

    static func serverConfiguration(
        certificatePath: String, keyPath: String, keyPassphrase: String?, clientCAPath: String?
    ) throws -> TLSConfiguration {
        let key =
            if let keyPassphrase {
                try NIOSSLPrivateKey(file: keyPath, format: .pem) { $0(Array(keyPassphrase.utf8)) }
            } else {
                try NIOSSLPrivateKey(file: keyPath, format: .pem)
            }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificatePath).map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        tls.minimumTLSVersion = .tlsv12
        tls.cipherSuiteValues = tls12CipherSuites
        // A server-initiated close (idle or AUTH timeout, KILL) waits for the peer's close_notify; a
        // peer that only closes its socket (seen as half-closure, not as the end) would otherwise
        // hold its connection slot for NIO's default 5 s.
        tls.shutdownTimeout = .milliseconds(500)
        if let clientCAPath {
            tls.certificateVerification = .optionalVerification
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCAPath))
        }
        return tls
    }

    /// The common name of the certificate the peer presented and the client CA
    /// verified, if any. Call on the channel's event loop.
    static func verifiedClientName(of client: ClientInfo) -> String? {
        guard let handler = try? client.channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
            let presented = handler.peerCertificate,
            let certificate = try? Certificate(derEncoded: presented.toDERBytes())
        else { return nil }
        for relativeName in certificate.subject {
            for attribute in relativeName where attribute.type == .RDNAttributeType.commonName {
                return attribute.value.description
            }
        }
        return nil
    }
}
