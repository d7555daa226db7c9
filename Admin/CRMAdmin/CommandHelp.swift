import CRMProtocol

/// `HELP`, `HELP command` and `HELP @group`, written from the command table.
public struct CommandHelp: Sendable {
    public let table: CommandTable

    public init(table: CommandTable = .standard) {
        self.table = table
    }

    /// The help text for a topic: nil for the overview, `@group`, or a command name
    /// (with its subcommand, e.g. `CLIENT LIST`). Nil when the topic is unknown.
    public func text(for topic: String?) -> String? {
        guard let topic, !topic.isEmpty else { return overview }
        if topic.hasPrefix("@") {
            let group = String(topic.dropFirst()).lowercased()
            let commands = table.commands.filter { $0.group == group }
            guard !commands.isEmpty else { return nil }
            return commands.map { "\($0.syntax)\n  \($0.summary)" }.joined(separator: "\n\n")
        }
        guard let spec = table[topic.uppercased()] else { return nil }
        var lines = [spec.syntax, "  summary: \(spec.summary)", "  group: @\(spec.group)  since: \(spec.since)"]
        if let complexity = spec.complexity { lines.append("  complexity: \(complexity)") }
        lines.append("  roles: \(spec.roles.map(\.rawValue).joined(separator: ", "))")
        if let subcommands = spec.subcommands {
            lines.append("  subcommands: \(subcommands.joined(separator: ", "))")
        }
        if let example = spec.example { lines.append("  example: \(example)") }
        if !spec.errors.isEmpty {
            lines.append("  errors:")
            lines += spec.errors.map { "    -\($0)" }
        }
        return lines.joined(separator: "\n")
    }

    /// `text` with each line broken at word boundaries to fit `width`
    /// columns; continuation lines keep the line's indentation.
    public static func wrap(_ text: String, width: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.count > width else { return String(line) }
            let indent = String(repeating: " ", count: line.prefix(while: { $0 == " " }).count)
            var rows: [String] = []
            var row = ""
            for word in line.dropFirst(indent.count).split(separator: " ") {
                if !row.isEmpty, row.count + 1 + word.count > width {
                    rows.append(row)
                    row = indent + "  " + String(word)
                } else {
                    row += (row.isEmpty ? indent : " ") + String(word)
                }
            }
            rows.append(row)
            return rows.joined(separator: "\n")
        }.joined(separator: "\n")
    }

    private var overview: String {
        let groups = Set(table.commands.map(\.group)).sorted().map { "@" + $0 }
        return """
            Type commands as in redis-cli, e.g. CONTACT.FIND WHERE lifecycle = lead LIMIT 10.
            Tab completes command names, subcommands and listed values; the hint on the right shows what is left.
            HELP command       summary, syntax, example and errors of a command
            HELP @group        the commands of a group: \(groups.joined(separator: " "))
            :tenant NAME       authenticate with the key stored for tenant NAME in the keys file
            :watch SECONDS cmd run a command every SECONDS until Ctrl-C (e.g. :watch 2 INFO stats)
            :monitor reorders  follow the reorder stream (or: events) until Ctrl-C
            :key save TENANT KEY-ID  store a tenant key for :tenant (the secret is read without echo)
            clear              clear the screen
            :quit              leave (Ctrl-D too)
            """
    }
}
