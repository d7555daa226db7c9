/// A parsed `*.FIND` request:
/// `[WHERE field op value [[AND] field op value ...]] [SEARCH text] [SORTBY field [ASC|DESC]] [LIMIT n] [CURSOR c]`.
public struct FindQuery: Sendable, Equatable {
    public enum Operator: String, Sendable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
        case prefix = "PREFIX"
    }

    public struct Condition: Sendable, Equatable {
        public var field: String
        public var op: Operator
        public var value: String

        public init(field: String, op: Operator, value: String) {
            self.field = field
            self.op = op
            self.value = value
        }
    }

    public var conditions: [Condition] = []
    public var search: String?
    public var sortField = "id"
    public var descending = false
    public var limit = 20
    /// Where the previous page ended.
    public var after: FindCursor?

    /// The words of `search`, each matched as a prefix of a word in a
    /// record: runs of ASCII letters and digits and of any non-ASCII
    /// characters, ASCII letters in lower case; everything else separates
    /// words. Empty when `search` has no words.
    public var searchWords: [String] {
        guard let search else { return [] }
        return search.utf8.split { byte in
            byte < 0x80 && !(UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
                && !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }.map { word in
            String(
                decoding: word.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 | 0x20 : $0 },
                as: UTF8.self)
        }
    }

    public static let maxLimit = 1000
    public static let maxConditions = 16
    private static let keywords: Set<String> = ["WHERE", "SEARCH", "SORTBY", "LIMIT", "CURSOR"]

    public init() {}

    /// Parses the words after the command name.
    public static func parse(_ words: [String], schema: RecordSchema) throws(InvalidField) -> FindQuery {
        var query = FindQuery()
        var cursorText: String?
        var index = 0
        func next(_ what: String) throws(InvalidField) -> String {
            guard index < words.count else { throw InvalidField(what, "missing") }
            defer { index += 1 }
            return words[index]
        }
        while index < words.count {
            let keyword = words[index].uppercased()
            index += 1
            switch keyword {
            case "WHERE":
                repeat {
                    if index < words.count, words[index].uppercased() == "AND" { index += 1 }
                    let field = try next("WHERE")
                    guard schema.isQueryable(field) else {
                        throw InvalidField(field, "unknown \(schema.type) field")
                    }
                    let opText = try next(field)
                    guard let op = Operator(rawValue: opText.uppercased()) else {
                        throw InvalidField(field, "unknown operator \(opText) (use = != < <= > >= PREFIX)")
                    }
                    var value = try next(field)
                    if let spec = schema.field(named: field), op == .equal || op == .notEqual, !value.isEmpty {
                        value = try RecordSchema.normalize(value, for: spec)
                    }
                    query.conditions.append(Condition(field: field, op: op, value: value))
                    guard query.conditions.count <= maxConditions else {
                        throw InvalidField("WHERE", "at most \(maxConditions) conditions")
                    }
                } while index < words.count && !keywords.contains(words[index].uppercased())
            case "SEARCH":
                let text = try next("SEARCH")
                guard text.utf8.count <= 1024 else { throw InvalidField("SEARCH", "longer than 1024 bytes") }
                query.search = text
            case "SORTBY":
                let field = try next("SORTBY")
                guard schema.isQueryable(field) else {
                    throw InvalidField(field, "unknown \(schema.type) field")
                }
                query.sortField = field
                if index < words.count, ["ASC", "DESC"].contains(words[index].uppercased()) {
                    query.descending = words[index].uppercased() == "DESC"
                    index += 1
                }
            case "LIMIT":
                guard let limit = Int(try next("LIMIT")), (1...maxLimit).contains(limit) else {
                    throw InvalidField("LIMIT", "must be an integer from 1 to \(maxLimit)")
                }
                query.limit = limit
            case "CURSOR":
                cursorText = try next("CURSOR")
            default:
                throw InvalidField(words[index - 1], "unexpected; expected WHERE, SEARCH, SORTBY, LIMIT or CURSOR")
            }
        }
        if let cursorText, cursorText != "0" {
            let cursor = try FindCursor(encoded: cursorText)
            guard cursor.sortField == query.sortField, cursor.descending == query.descending else {
                throw InvalidField("CURSOR", "belongs to a different SORTBY; repeat the original query")
            }
            query.after = cursor
        }
        return query
    }
}

/// The position after the last record of a page: its sort value and id.
/// Encoded as opaque hex text so clients pass it back unchanged.
public struct FindCursor: Sendable, Equatable {
    public var sortField: String
    public var descending: Bool
    public var sortValue: String
    public var id: Int64

    public init(sortField: String, descending: Bool, sortValue: String, id: Int64) {
        self.sortField = sortField
        self.descending = descending
        self.sortValue = sortValue
        self.id = id
    }

    public init(encoded: String) throws(InvalidField) {
        let invalid = InvalidField("CURSOR", "not a cursor this server issued")
        guard encoded.utf8.count <= 4096, let bytes = ASCIIText.bytes(fromHex: encoded) else { throw invalid }
        let parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard parts.count == 4, let id = Int64(parts[3]), ["a", "d"].contains(parts[1]) else { throw invalid }
        self.init(sortField: parts[0], descending: parts[1] == "d", sortValue: parts[2], id: id)
    }

    public var encoded: String {
        ASCIIText.hex([sortField, descending ? "d" : "a", sortValue, String(id)].joined(separator: "\u{0}").utf8)
    }
}
