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

    /// Stores `key` for `tenant` in the file at `path` (created with mode
    /// 0600 if missing), replacing an earlier key of that tenant; comments and
    /// other tenants' lines stay.
    public static func store(_ key: Key, tenant: String, in path: String) throws {
        guard !tenant.isEmpty, !tenant.contains(where: \.isWhitespace),
            !key.id.contains(where: \.isWhitespace), !key.secret.contains(where: \.isWhitespace)
        else { throw Problem(description: "tenant, key id and secret are single words") }
        var lines: [String] = []
        if FileManager.default.fileExists(atPath: path) {
            _ = try TenantKeyring(path: path)
            lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
                .filter { $0.split(whereSeparator: \.isWhitespace).first.map(String.init) != tenant }
        }
        lines.append("\(tenant) \(key.id) \(key.secret)")
        let text = lines.joined(separator: "\n") + "\n"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else {
            throw Problem(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        _ = fchmod(descriptor, 0o600)
        let written = Array(text.utf8).withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == text.utf8.count else { throw Problem(description: "cannot write \(path)") }
    }

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
