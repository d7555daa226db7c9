/// Writes flat JSON objects of strings, for event payloads and custom fields,
/// without a general-purpose encoder on the write path.
public enum JSONText {
    /// `{"a":"x","b":null}` with keys in the given order.
    public static func object(_ pairs: [(key: String, value: String?)]) -> String {
        var out = "{"
        for (index, pair) in pairs.enumerated() {
            if index > 0 { out += "," }
            appendString(pair.key, to: &out)
            out += ":"
            if let value = pair.value {
                appendString(value, to: &out)
            } else {
                out += "null"
            }
        }
        return out + "}"
    }

    /// `text` as a JSON string literal, quotes included.
    public static func quoted(_ text: String) -> String {
        var out = ""
        appendString(text, to: &out)
        return out
    }

    private static func appendString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
