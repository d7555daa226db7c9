/// A rejected field or value; the reply is `-INVALID field: reason`.
public struct InvalidField: Error, Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var reason: String

    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}
