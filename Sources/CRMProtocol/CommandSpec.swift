import CRMCore

/// One command as declared in `Protocols/commands.json`: the single source of
/// truth for dispatch, `COMMAND DOCS`, the admin REPL's help and the reference.
public struct CommandSpec: Codable, Sendable, Equatable {
    /// Upper-case name; a subcommand is written `CONTAINER SUB` (e.g. `CLIENT LIST`).
    public var name: String
    public var group: String
    public var summary: String
    public var since: String
    public var complexity: String?
    /// Redis convention: `n` means exactly n words including the name, `-n` at least n.
    public var arity: Int
    public var arguments: [CommandArgument]
    /// Roles whose keys may run the command.
    public var roles: [Role]
    public var flags: [Flag]
    public var example: String?
    /// Error replies the command can give beyond the generic ones, each `CODE explanation`.
    public var errors: [String]
    /// For a container such as `CLIENT`: the names of its subcommands.
    public var subcommands: [String]?

    /// Command properties, named as in Redis's command table where Redis has them.
    public enum Flag: String, Codable, Sendable {
        /// Runs before `AUTH`.
        case noauth
        /// Changes stored data.
        case write
        /// Only reads stored data.
        case readonly
        /// Constant time, no storage access.
        case fast
        /// Server or tenant administration.
        case admin
        /// Pub/sub subscription: runs in RESP2 subscribe mode.
        case pubsub
    }

    /// Whether `count` words (the name included) satisfy the arity.
    public func acceptsArgumentCount(_ count: Int) -> Bool {
        arity >= 0 ? count == arity : count >= -arity
    }

    /// The usage line, e.g. `CONTACT.GET id`.
    public var syntax: String {
        ([name] + arguments.map(\.syntax)).joined(separator: " ")
    }
}

/// One argument of a command, shaped like Redis's `COMMAND DOCS` arguments.
public struct CommandArgument: Codable, Sendable, Equatable {
    public var name: String
    /// `string`, `integer`, `pure-token`, `oneof` or `block`.
    public var type: String
    /// A literal keyword that precedes the value (`LIMIT count`), or is the whole argument for `pure-token`.
    public var token: String?
    public var optional: Bool?
    public var multiple: Bool?
    /// Enumerated values, for completion and validation hints.
    public var values: [String]?
    /// The parts of a `oneof` or `block`.
    public var arguments: [CommandArgument]?

    /// The argument as a usage fragment, e.g. `[LIMIT count]` or `field value [field value ...]`.
    public var syntax: String {
        var core: String
        switch type {
        case "pure-token":
            core = token ?? name
        case "oneof":
            core = (arguments ?? []).map(\.syntax).joined(separator: "|")
            if optional != true { core = "<\(core)>" }
        case "block":
            core = (arguments ?? []).map(\.syntax).joined(separator: " ")
        default:
            core = values.map { $0.joined(separator: "|") } ?? name
        }
        if let token, type != "pure-token" {
            core = "\(token) \(core)"
        }
        if multiple == true {
            core = "\(core) [\(core) ...]"
        }
        return optional == true ? "[\(core)]" : core
    }
}
