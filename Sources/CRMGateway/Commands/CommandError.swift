import CRMCore
import CRMProtocol
import CRMStore
import Logging

/// An error reply: a stable upper-case code and a sentence (`-NOTFOUND no such contact`).
public struct CommandError: Error, Equatable, Sendable {
    /// Error codes crmgate answers with (DESIGN.md §3).
    public enum Code: String, Sendable {
        case err = "ERR"
        case noauth = "NOAUTH"
        case wrongpass = "WRONGPASS"
        case noperm = "NOPERM"
        case noproto = "NOPROTO"
        case notfound = "NOTFOUND"
        case conflict = "CONFLICT"
        case invalid = "INVALID"
        case limit = "LIMIT"
        case busy = "BUSY"
        case execabort = "EXECABORT"
        case tryagain = "TRYAGAIN"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var reply: RESPValue { .error("\(code.rawValue) \(message)") }

    static func syntax(_ detail: String = "syntax error") -> CommandError {
        CommandError(.err, detail)
    }

    /// The reply for any error a command throws: the code its kind of error
    /// maps to, or, for an error nobody expected, an internal error that
    /// points at the server log, where `command` and the error are logged.
    static func reply(for error: any Error, command: String, logger: Logger) -> RESPValue {
        if let known = known(error) { return known.reply }
        logger.error("command failed", metadata: ["command": "\(command)", "error": "\(error)"])
        return CommandError(.err, "internal error while running \(command); see the server log").reply
    }

    private static func known(_ error: any Error) -> CommandError? {
        switch error {
        case let error as CommandError: error
        case let error as InvalidField: CommandError(.invalid, error.description)
        case StoreError.notFound(let message): CommandError(.notfound, message)
        case StoreError.conflict(let message): CommandError(.conflict, message)
        case StoreError.full(let message): CommandError(.limit, message)
        case StoreError.unavailable(let message): CommandError(.tryagain, message)
        case StoreError.unsupported(let message): CommandError(.err, message)
        default: StoreError.classify(error).flatMap(known)
        }
    }
}
