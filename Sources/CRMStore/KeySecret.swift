import CRMCore
import Crypto

/// API key ids and secrets. Secrets are 256 random bits shown once; only their
/// SHA-256 digest is stored. A fast digest is right here because a secret is
/// uniformly random, not a password a person chose.
public enum KeySecret {
    /// A new key id: `k_` and 12 lower-case hex digits.
    public static func makeID() -> String {
        "k_" + ASCIIText.hex(randomBytes(6))
    }

    /// A new secret: 64 lower-case hex digits (256 bits).
    public static func makeSecret() -> String {
        ASCIIText.hex(randomBytes(32))
    }

    /// The digest stored for `secret`.
    public static func digest(of secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Compares `secret` with a stored digest in time independent of where they differ.
    public static func matches(_ secret: String, digest stored: [UInt8]) -> Bool {
        let candidate = digest(of: secret)
        guard candidate.count == stored.count else { return false }
        var difference: UInt8 = 0
        for (left, right) in zip(candidate, stored) {
            difference |= left ^ right
        }
        return difference == 0
    }

    /// `count` bytes from the system's random source, eight per read of it (not one).
    private static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return Array(bytes.prefix(count))
    }

}
