import NIOCore

/// One client request: the command name followed by its arguments, as raw bytes.
public struct RESPCommand: Sendable, Equatable {
    public let arguments: [ByteBuffer]
    /// The command name in upper case, as the command table spells it; computed once per request.
    public let name: String

    public init(arguments: [ByteBuffer]) {
        self.arguments = arguments
        self.name = arguments.first.map { String(buffer: $0).uppercased() } ?? ""
    }

    public init(_ words: [String]) {
        self.init(arguments: words.map { ByteBuffer(string: $0) })
    }
}
