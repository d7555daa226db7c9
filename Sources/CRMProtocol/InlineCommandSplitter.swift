/// Splits an inline command line into words with the quoting rules of Redis's
/// `sdssplitargs`: double quotes with `\n \r \t \b \a \\ \" \xHH` escapes,
/// single quotes with only `\'`, and a closing quote that must be followed by
/// a space or the end of the line.
public enum InlineCommandSplitter {
    /// The words of `line`, or nil if its quotes are unbalanced.
    public static func split<Line: Collection<UInt8>>(_ line: Line) -> [[UInt8]]? {
        let bytes = Array(line)
        var words: [[UInt8]] = []
        var index = 0
        while true {
            while index < bytes.count, isSpace(bytes[index]) { index += 1 }
            if index == bytes.count { return words }
            var word: [UInt8] = []
            var inDoubleQuotes = false
            var inSingleQuotes = false
            var done = false
            while !done {
                if inDoubleQuotes {
                    guard index < bytes.count else { return nil }
                    let byte = bytes[index]
                    if byte == UInt8(ascii: "\\"), index + 3 < bytes.count, bytes[index + 1] == UInt8(ascii: "x"),
                        let high = hexValue(bytes[index + 2]), let low = hexValue(bytes[index + 3])
                    {
                        word.append(high << 4 | low)
                        index += 3
                    } else if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                        index += 1
                        word.append(unescape(bytes[index]))
                    } else if byte == UInt8(ascii: "\"") {
                        guard index + 1 == bytes.count || isSpace(bytes[index + 1]) else { return nil }
                        done = true
                    } else {
                        word.append(byte)
                    }
                } else if inSingleQuotes {
                    guard index < bytes.count else { return nil }
                    let byte = bytes[index]
                    if byte == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "'") {
                        index += 1
                        word.append(UInt8(ascii: "'"))
                    } else if byte == UInt8(ascii: "'") {
                        guard index + 1 == bytes.count || isSpace(bytes[index + 1]) else { return nil }
                        done = true
                    } else {
                        word.append(byte)
                    }
                } else if index == bytes.count {
                    done = true
                } else {
                    switch bytes[index] {
                    case let byte where isSpace(byte): done = true
                    case UInt8(ascii: "\""): inDoubleQuotes = true
                    case UInt8(ascii: "'"): inSingleQuotes = true
                    case let byte: word.append(byte)
                    }
                }
                if index < bytes.count { index += 1 }
            }
            words.append(word)
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    private static func unescape(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "a"): 0x07
        default: byte
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
