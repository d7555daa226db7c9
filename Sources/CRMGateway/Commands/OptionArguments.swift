import CRMCore

/// Trailing `TOKEN value` options of a command, such as `LIMIT 10 CURSOR c`,
/// in any order, each at most once. A token with arity 0 is a flag; a
/// variadic token (`TYPE t ...`) takes the words up to the next token.
struct OptionArguments {
    private var values: [String: [String]] = [:]

    init(_ words: [String], tokens: [String: Int], variadic: Set<String> = []) throws(InvalidField) {
        var index = 0
        while index < words.count {
            let token = words[index].uppercased()
            guard values[token] == nil else { throw InvalidField(token, "given twice") }
            if variadic.contains(token) {
                let end =
                    words[(index + 1)...].firstIndex { word in
                        let upper = word.uppercased()
                        return tokens[upper] != nil || variadic.contains(upper)
                    } ?? words.endIndex
                guard end > index + 1 else { throw InvalidField(token, "missing its value") }
                values[token] = Array(words[(index + 1)..<end])
                index = end
                continue
            }
            guard let arity = tokens[token] else {
                let expected = Set(tokens.keys).union(variadic).sorted().joined(separator: ", ")
                throw InvalidField(words[index], "unexpected; expected one of \(expected)")
            }
            guard index + arity < words.count else { throw InvalidField(token, "missing its value") }
            values[token] = Array(words[(index + 1)..<(index + 1 + arity)])
            index += 1 + arity
        }
    }

    func has(_ token: String) -> Bool { values[token] != nil }

    func value(_ token: String) -> String? { values[token]?.first }

    /// Every value of a variadic token; empty when absent.
    func values(_ token: String) -> [String] { values[token] ?? [] }

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
