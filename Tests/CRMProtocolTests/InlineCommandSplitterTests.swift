import CRMProtocol
import Testing

@Suite struct InlineCommandSplitterTests {
    private func split(_ line: String) -> [String]? {
        InlineCommandSplitter.split(Array(line.utf8))?.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func splitsOnWhitespace() {
        #expect(split("  SET  key\tvalue ") == ["SET", "key", "value"])
        #expect(split("") == [])
    }

    @Test func followsRedisDoubleQuoteEscapes() {
        #expect(
            split(#"ECHO "a\nb" "\x41\x42" "q\"q" "back\\slash""#) == ["ECHO", "a\nb", "AB", "q\"q", "back\\slash"])
        #expect(split(#"ECHO """#) == ["ECHO", ""])
    }

    @Test func singleQuotesOnlyEscapeTheQuote() {
        #expect(split(#"ECHO 'it\'s' 'a\nb'"#) == ["ECHO", "it's", #"a\nb"#])
    }

    @Test func rejectsUnbalancedOrRunOnQuotes() {
        #expect(split(#"ECHO "open"#) == nil)
        #expect(split("ECHO 'open") == nil)
        #expect(split(#"ECHO "a"b"#) == nil)
    }
}
