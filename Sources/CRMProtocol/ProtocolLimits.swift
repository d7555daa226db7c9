/// Hard limits on what one client may send, enforced by ``RESPCommandDecoder``.
public struct ProtocolLimits: Sendable, Equatable {
    /// Longest inline command line, and longest `*n` / `$n` header line.
    public var maxInlineLength: Int
    /// Longest single bulk string argument.
    public var maxBulkLength: Int
    /// Most arguments in one command, the command name included.
    public var maxArguments: Int
    /// Most bytes one command may hold while it is still incomplete.
    public var maxPendingBytes: Int

    public init(
        maxInlineLength: Int = 64 * 1024,
        maxBulkLength: Int = 1024 * 1024,
        maxArguments: Int = 1024,
        maxPendingBytes: Int = 32 * 1024 * 1024
    ) {
        self.maxInlineLength = maxInlineLength
        self.maxBulkLength = maxBulkLength
        self.maxArguments = maxArguments
        self.maxPendingBytes = maxPendingBytes
    }

    /// The limits a server uses unless configured otherwise.
    public static let `default` = ProtocolLimits()
}

/// A malformed or oversized request. The server answers
/// `-ERR Protocol error: <reason>` and closes the connection, as Redis does.
public struct RESPProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { "Protocol error: \(reason)" }
}
