import Foundation

/// A value bound to a statement or read from a row, in the types both
/// engines store: the services' SQL speaks only these.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value a statement can bind.
protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

/// A Swift value a row's column can be read as; `decode` is nil when the
/// column holds something else (or NULL, except for optionals).
protocol SQLDecodable {
    static func decode(_ value: SQLValue) -> Self?
}

extension SQLValue: SQLBindable {
    var sqlValue: SQLValue { self }
}

extension Int64: SQLBindable, SQLDecodable {
    var sqlValue: SQLValue { .integer(self) }

    static func decode(_ value: SQLValue) -> Int64? {
        switch value {
        case .integer(let number): number
        case .real(let number): Int64(exactly: number.rounded(.towardZero))
        case .text(let text): Int64(text)
        case .null, .blob: nil
        }
    }
}

extension Int: SQLBindable, SQLDecodable {
    var sqlValue: SQLValue { .integer(Int64(self)) }
    static func decode(_ value: SQLValue) -> Int? { Int64.decode(value).map(Int.init) }
}

extension Bool: SQLBindable, SQLDecodable {
    var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    static func decode(_ value: SQLValue) -> Bool? { Int64.decode(value).map { $0 != 0 } }
}

extension Double: SQLBindable, SQLDecodable {
    var sqlValue: SQLValue { .real(self) }

    static func decode(_ value: SQLValue) -> Double? {
        switch value {
        case .integer(let number): Double(number)
        case .real(let number): number
        case .text(let text): Double(text)
        case .null, .blob: nil
        }
    }
}

extension String: SQLBindable, SQLDecodable {
    var sqlValue: SQLValue { .text(self) }

    /// Text as stored; numbers as the text commands see (decimal).
    static func decode(_ value: SQLValue) -> String? {
        switch value {
        case .text(let text): text
        case .integer(let number): String(number)
        case .real(let number): String(number)
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        case .null: nil
        }
    }
}

extension Data: SQLBindable, SQLDecodable {
    var sqlValue: SQLValue { .blob(Array(self)) }

    static func decode(_ value: SQLValue) -> Data? {
        switch value {
        case .blob(let bytes): Data(bytes)
        case .text(let text): Data(text.utf8)
        case .null, .integer, .real: nil
        }
    }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

extension Optional: SQLDecodable where Wrapped: SQLDecodable {
    /// NULL reads as nil; any other value as the wrapped type reads it.
    static func decode(_ value: SQLValue) -> Wrapped?? {
        if case .null = value { return .some(nil) }
        return Wrapped.decode(value).map(Optional.some)
    }
}

/// One result row, read into memory.
struct SQLRow: Sendable {
    let values: [SQLValue]

    /// Column `index` as `T`. A column that cannot be read as `T` is a bug in
    /// the statement (a NULL read as a non-optional, say), as in GRDB.
    subscript<T: SQLDecodable>(_ index: Int) -> T {
        guard let value = T.decode(values[index]) else {
            preconditionFailure("column \(index) holds \(values[index]), not \(T.self)")
        }
        return value
    }
}
