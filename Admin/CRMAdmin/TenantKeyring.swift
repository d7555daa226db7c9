import Foundation

/// Tenant keys an operator keeps for `:tenant NAME`: a file of
/// `tenant key-id secret` lines (`#` starts a comment) that only its owner
/// may read, as ssh insists for private keys.
public struct TenantKeyring: Sendable {
    public struct Key: Sendable, Equatable {
        public var id: String
        public var secret: String

        public init(id: String, secret: String) {
            self.id = id
            self.secret = secret
        }
    }

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    public let keys: [String: Key]

    /// Reads the file; refuses one that group or others can read or write.
    public init(path: String) throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let permissions = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
        guard permissions & 0o077 == 0 else {
            throw Problem(
                description:
                    "\(path) is readable by others (mode \(String(permissions, radix: 8))); run chmod 600 \(path)")
        }
        var keys: [String: Key] = [:]
        for (number, line) in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").enumerated() {
            let words = line.split(whereSeparator: \.isWhitespace)
            if words.isEmpty || words[0].hasPrefix("#") { continue }
            guard words.count == 3 else {
                throw Problem(description: "\(path):\(number + 1): expected `tenant key-id secret`")
            }
            keys[String(words[0])] = Key(id: String(words[1]), secret: String(words[2]))
        }
        self.keys = keys
    }
}

/// What goes into the history file: the line with every secret replaced.
public enum HistoryRedaction {
    public static let placeholder = "<redacted>"

    /// `line` without the secrets of `AUTH id secret`, `HELLO ... AUTH id secret`, or any of `known`.
    public static func redact(_ line: String, known: [String] = []) -> String {
        var words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let upper = words.map { $0.uppercased() }
        if let first = upper.first(where: { !$0.isEmpty }) {
            if first == "AUTH", let last = words.indices.last(where: { !words[$0].isEmpty }),
                words.filter({ !$0.isEmpty }).count >= 2
            {
                words[last] = placeholder
            } else if first == "HELLO", let auth = upper.firstIndex(of: "AUTH") {
                let secretIndex = words[(auth + 1)...].indices.filter { !words[$0].isEmpty }.dropFirst().first
                if let secretIndex { words[secretIndex] = placeholder }
            }
        }
        var redacted = words.joined(separator: " ")
        for secret in known where secret.count >= 8 {
            redacted = redacted.replacingOccurrences(of: secret, with: placeholder)
        }
        return redacted
    }
}
