import NIOCore

/// One client request: the command name followed by its arguments, as raw bytes.
public struct RESPCommand: Sendable, Equatable {
    public var arguments: [ByteBuffer]

    public init(arguments: [ByteBuffer]) {
        self.arguments = arguments
    }

    public init(_ words: [String]) {
        self.arguments = words.map { ByteBuffer(string: $0) }
    }

    /// The command name in upper case, as the command table spells it.
    public var name: String {
        arguments.first.map { String(buffer: $0).uppercased() } ?? ""
    }
}
