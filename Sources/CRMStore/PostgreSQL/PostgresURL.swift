import Foundation

/// Where a PostgreSQL store is: `postgresql://user[:password]@host[:port]/database[?sslmode=require]`.
/// The password may instead come from the environment or a file (never the
/// logs): ``description`` masks it.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    /// Whether the connection must be TLS (`sslmode=require`); otherwise it is plain.
    public var requiresTLS: Bool

    /// Parses `text`; the error says what is wrong with it (without the password).
    public init(_ text: String) throws(PostgresURLError) {
        guard let components = URLComponents(string: text),
            components.scheme == "postgresql" || components.scheme == "postgres"
        else { throw PostgresURLError("must start with postgresql://") }
        guard let host = components.host, !host.isEmpty else { throw PostgresURLError("names no host") }
        guard let user = components.user, !user.isEmpty else { throw PostgresURLError("names no user (user@host)") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresURLError("names no database (postgresql://user@host:port/database)")
        }
        if let port = components.port, !(1...65535).contains(port) { throw PostgresURLError("has a bad port") }
        var requiresTLS = false
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "require"): requiresTLS = true
            case ("sslmode", "disable"): requiresTLS = false
            default: throw PostgresURLError("takes only sslmode=require or sslmode=disable, not \(item.name)")
            }
        }
        self.user = user
        self.password = components.password
        self.host = host
        self.port = components.port ?? 5432
        self.database = database
        self.requiresTLS = requiresTLS
    }

    /// The URL with its password masked, for logs and `check-config`.
    public var description: String {
        "postgresql://\(user)\(password == nil ? "" : ":****")@\(host):\(port)/\(database)"
            + (requiresTLS ? "?sslmode=require" : "")
    }
}

/// What is wrong with a PostgreSQL URL.
public struct PostgresURLError: Error, Equatable, CustomStringConvertible {
    public let description: String

    init(_ problem: String) {
        description = "the PostgreSQL URL \(problem)"
    }
}
