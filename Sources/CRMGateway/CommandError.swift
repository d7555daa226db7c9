import CRMCore
import CRMProtocol
import CRMStore

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

    /// The reply for any error a command handler throws.
    static func reply(for error: any Error) -> RESPValue? {
        switch error {
        case let error as CommandError: error.reply
        case let error as InvalidField: CommandError(.invalid, error.description).reply
        case StoreError.notFound(let message): CommandError(.notfound, message).reply
        case StoreError.conflict(let message): CommandError(.conflict, message).reply
        case StoreError.full(let message): CommandError(.limit, message).reply
        case StoreError.unavailable(let message): CommandError(.tryagain, message).reply
        default: StoreError.classify(error).flatMap { reply(for: $0) }
        }
    }
}
