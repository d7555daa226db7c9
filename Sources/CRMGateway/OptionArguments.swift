import CRMCore

/// Trailing `TOKEN value` options of a command, such as `LIMIT 10 CURSOR c`,
/// in any order, each at most once. A token with arity 0 is a flag.
struct OptionArguments {
    private var values: [String: [String]] = [:]

    init(_ words: [String], tokens: [String: Int]) throws(InvalidField) {
        var index = 0
        while index < words.count {
            let token = words[index].uppercased()
            guard let arity = tokens[token] else {
                throw InvalidField(
                    words[index], "unexpected; expected one of \(tokens.keys.sorted().joined(separator: ", "))")
            }
            guard values[token] == nil else { throw InvalidField(token, "given twice") }
            guard index + arity < words.count else { throw InvalidField(token, "missing its value") }
            values[token] = Array(words[(index + 1)..<(index + 1 + arity)])
            index += 1 + arity
        }
    }

    func has(_ token: String) -> Bool { values[token] != nil }

    func value(_ token: String) -> String? { values[token]?.first }

    /// A `CURSOR` that is a position number (a sequence number or an id): nil
    /// when absent or `0`, which start at the beginning.
    func numberCursor() throws(InvalidField) -> Int64? {
        guard let cursor = value("CURSOR"), cursor != "0" else { return nil }
        guard let position = Int64(cursor), position > 0 else {
            throw InvalidField("CURSOR", "not a cursor this server issued")
        }
        return position
    }

    /// An integer option within `range`, or nil when absent.
    func integer(_ token: String, in range: ClosedRange<Int64>) throws(InvalidField) -> Int64? {
        guard let text = value(token) else { return nil }
        guard let number = Int64(text), range.contains(number) else {
            throw InvalidField(token, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// An integer option within `range`, or `default` when absent.
    func integer(_ token: String, in range: ClosedRange<Int>, default defaultValue: Int) throws(InvalidField) -> Int {
        try integer(token, in: Int64(range.lowerBound)...Int64(range.upperBound)).map { Int($0) } ?? defaultValue
    }
}
