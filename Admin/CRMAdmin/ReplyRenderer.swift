import CRMCore
import CRMProtocol
import NIOCore

/// How replies are printed.
public enum OutputMode: Sendable, Equatable {
    /// For people: records as aligned blocks, lists as tables, errors in red when `color`.
    case human(color: Bool)
    /// One JSON document per reply, for scripts.
    case json
    /// redis-cli's `--raw`: bare values, one per line.
    case raw
}

/// Turns replies into text for the terminal or a script.
public struct ReplyRenderer: Sendable {
    public let mode: OutputMode
    /// Cells wider than this are cut with an ellipsis in tables.
    public var maxCellWidth = 40

    public init(mode: OutputMode) {
        self.mode = mode
    }

    /// The reply as lines of text, without a trailing newline.
    public func render(_ value: RESPValue) -> String {
        switch mode {
        case .json: Self.json(value)
        case .raw: raw(value)
        case .human(let color): human(value, color: color)
        }
    }

    // MARK: people

    private func human(_ value: RESPValue, color: Bool) -> String {
        switch value {
        case .error(let message):
            let text = "(error) \(message)"
            return color ? "\u{1B}[31m\(text)\u{1B}[0m" : text
        case .map(let pairs):
            return pairs.isEmpty ? "(empty map)" : block(pairs)
        case .array(let elements), .push(let elements):
            if elements.isEmpty { return "(empty array)" }
            if elements.count == 2, let rows = elements[1].elements, rows.allSatisfy(\.isMap), elements[0].isCursor {
                let footer =
                    elements[0].cursorText.map { "-- next: CURSOR \($0) --" }
                    ?? "(\(rows.count) \(rows.count == 1 ? "row" : "rows"))"
                return rows.isEmpty ? footer : table(rows) + "\n" + footer
            }
            if elements.allSatisfy(\.isMap) { return table(elements) }
            return elements.enumerated().map { index, element in
                let prefix = "\(index + 1)) "
                let body = human(element, color: color).split(separator: "\n", omittingEmptySubsequences: false)
                return ([prefix + body[0]] + body.dropFirst().map { String(repeating: " ", count: prefix.count) + $0 })
                    .joined(separator: "\n")
            }.joined(separator: "\n")
        default:
            return scalar(value, quoted: true)
        }
    }

    /// A record: one `field  value` line per field, names aligned.
    private func block(_ pairs: [(key: RESPValue, value: RESPValue)]) -> String {
        let names = pairs.map { scalar($0.key, quoted: false) }
        let width = names.map(\.count).max() ?? 0
        return zip(names, pairs).map { name, pair in
            name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + inline(pair.value)
        }.joined(separator: "\n")
    }

    /// Records as a table: a column per field, in order of first appearance.
    private func table(_ rows: [RESPValue]) -> String {
        var columns: [String] = []
        var cells: [[String: String]] = []
        for row in rows {
            guard case .map(let pairs) = row else { continue }
            var cellsOfRow: [String: String] = [:]
            for pair in pairs {
                let name = scalar(pair.key, quoted: false)
                if !columns.contains(name) { columns.append(name) }
                cellsOfRow[name] = cut(inline(pair.value))
            }
            cells.append(cellsOfRow)
        }
        let widths = columns.map { column in max(column.count, cells.map { ($0[column] ?? "").count }.max() ?? 0) }
        func line(_ values: [String]) -> String {
            zip(values, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingTrailingSpaces
        }
        return
            ([line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
            + cells.map { row in line(columns.map { row[$0] ?? "" }) }).joined(separator: "\n")
    }

    private func cut(_ text: String) -> String {
        text.count > maxCellWidth ? String(text.prefix(maxCellWidth - 1)) + "…" : text
    }

    /// A value on one line: lists comma-separated, maps as `k=v`.
    private func inline(_ value: RESPValue) -> String {
        switch value {
        case .array(let elements), .push(let elements):
            return elements.map(inline).joined(separator: ", ")
        case .map(let pairs):
            return pairs.map { "\(scalar($0.key, quoted: false))=\(inline($0.value))" }.joined(separator: ", ")
        case .null:
            return ""
        default:
            return scalar(value, quoted: false)
        }
    }

    private func scalar(_ value: RESPValue, quoted: Bool) -> String {
        switch value {
        case .simpleString(let text): return text
        case .error(let text): return "(error) \(text)"
        case .integer(let number): return quoted ? "(integer) \(number)" : String(number)
        case .double(let number): return quoted ? "(double) \(number)" : String(number)
        case .boolean(let flag): return quoted ? "(\(flag))" : String(flag)
        case .null: return "(nil)"
        // `.encoded` never comes from the wire (a server builds it); shown as its bytes.
        case .bulkString(let bytes), .encoded(let bytes):
            let text = String(decoding: bytes.readableBytesView, as: UTF8.self)
            return quoted && text.isEmpty ? "\"\"" : text
        case .array, .map, .push: return inline(value)
        }
    }

    // MARK: scripts

    private func raw(_ value: RESPValue) -> String {
        switch value {
        case .array(let elements), .push(let elements): return elements.map(raw).joined(separator: "\n")
        case .map(let pairs): return pairs.flatMap { [raw($0.key), raw($0.value)] }.joined(separator: "\n")
        case .null: return ""
        case .error(let message): return message
        default: return scalar(value, quoted: false)
        }
    }

    /// The reply as JSON: maps are objects, arrays arrays, errors `{"error": "..."}`.
    public static func json(_ value: RESPValue) -> String {
        switch value {
        case .simpleString(let text): return JSONText.quoted(text)
        case .bulkString(let bytes), .encoded(let bytes):
            return JSONText.quoted(String(decoding: bytes.readableBytesView, as: UTF8.self))
        case .error(let message): return "{\"error\":\(JSONText.quoted(message))}"
        case .integer(let number): return String(number)
        case .double(let number): return number.isFinite ? String(number) : JSONText.quoted(String(number))
        case .boolean(let flag): return String(flag)
        case .null: return "null"
        case .array(let elements), .push(let elements): return "[" + elements.map(json).joined(separator: ",") + "]"
        case .map(let pairs):
            return "{"
                + pairs.map { pair in
                    let key: String =
                        switch pair.key {
                        case .bulkString, .simpleString: json(pair.key)
                        default: JSONText.quoted(json(pair.key))
                        }
                    return key + ":" + json(pair.value)
                }.joined(separator: ",") + "}"
        }
    }
}

extension RESPValue {
    fileprivate var isMap: Bool {
        if case .map = self { return true }
        return false
    }

    /// A keyset cursor as FIND and LIST replies carry it first.
    fileprivate var isCursor: Bool {
        switch self {
        case .bulkString, .simpleString, .integer, .null: true
        default: false
        }
    }

    /// The cursor to continue with, or nil at the end ("0" or null).
    fileprivate var cursorText: String? {
        guard let text = string, text != "0", !text.isEmpty else { return nil }
        return text
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
