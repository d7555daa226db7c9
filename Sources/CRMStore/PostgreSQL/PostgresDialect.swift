/// PostgreSQL's SQL where the engines differ.
struct PostgresDialect: SQLDialect {
    static let shared = PostgresDialect()

    func customField(_ name: String) -> String { "(custom::jsonb ->> '\(name)')" }

    var isDistinctFrom: String { "IS DISTINCT FROM" }

    var prefixUpperBound: String { "? || chr(1114111)" }

    /// The key comes from the tenant's `id_counters` table, in the transaction: an
    /// identity column's sequence would keep the numbers an undone write took.
    /// (The tenant's advisory lock makes its writes one at a time, so the row is never contended.)
    func insertWithKey(into table: String, key: String, columns: [String], ignoringConflicts: Bool) -> String {
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        return """
            WITH next AS (UPDATE id_counters SET last = last + 1 WHERE name = '\(table)' RETURNING last) \
            INSERT INTO \(table) (\(key), \(columns.joined(separator: ", "))) \
            VALUES ((SELECT last FROM next), \(placeholders))\(ignoringConflicts ? " ON CONFLICT DO NOTHING" : "") \
            RETURNING \(key)
            """
    }

    func integerQuotient(_ dividend: String, _ divisor: String) -> String { "div(\(dividend), \(divisor))" }

    var eventTypeMatches: String { "type LIKE ?" }

    func eventTypePattern(_ type: String) -> String {
        let escaped = { (text: Substring) in
            text.map { "\\%_".contains($0) ? "\\\($0)" : String($0) }.joined()
        }
        return type.hasSuffix("*") ? escaped(type.dropLast()) + "%" : escaped(type[...])
    }

    /// The matches of the record table's generated `search` vector (GIN-indexed), in id order.
    func searchSource(records: RecordTable) -> String {
        let table = records.table
        return
            "(SELECT id AS hit FROM \(table) WHERE search @@ CAST(? AS tsquery)) AS matched JOIN \(table) ON id = hit"
    }

    /// Every word a quoted lexeme matched as a prefix, all required.
    func searchPattern(_ words: [String]) -> String {
        words.map { "'\($0.replacingOccurrences(of: "'", with: "''"))':*" }.joined(separator: " & ")
    }

    /// The text the `search` vector is made of: the searchable columns with
    /// every ASCII character but letters and digits as a space, as the
    /// search words are split (``CRMCore/FindQuery/searchWords``) and as
    /// SQLite's unicode61 tokenizer splits the FTS5 index.
    static func searchVector(_ columns: [String]) -> String {
        // Byte-wise ("C"): the columns' collations differ, and a regular expression needs one.
        let text = columns.map { "COALESCE(\($0)::text COLLATE \"C\", '')" }.joined(separator: " || ' ' || ")
        return
            "to_tsvector('simple'::regconfig, regexp_replace(\(text), '[\\x01-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f]+', ' ', 'g'))"
    }

    /// The statements of `sql`, split at each `;` outside quotes.
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var quoted = false
        for character in sql {
            if character == "'" { quoted.toggle() }
            if character == ";", !quoted {
                statements.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        statements.append(current)
        return statements.filter { !$0.allSatisfy(\.isWhitespace) }
    }

    /// `sql` with each `?` outside quotes replaced by `$1`, `$2`, … in order.
    static func numberingPlaceholders(_ sql: String) -> String {
        guard sql.contains("?") else { return sql }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quoted = false
        for character in sql {
            if character == "'" { quoted.toggle() }
            if character == "?", !quoted {
                number += 1
                out += "$\(number)"
            } else {
                out.append(character)
            }
        }
        return out
    }
}
