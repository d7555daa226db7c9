import CRMCore
import CRMProtocol

/// Tab completion, the argument hint and "did you mean" for the REPL, all
/// read from the command table (and, for record fields, the record schemas).
public struct CommandAssist: Sendable {
    public let table: CommandTable

    /// The REPL's own commands, completed beside the table's.
    public static let replCommands = [":tenant", ":watch", ":monitor", ":key", ":quit", "HELP", "clear"]

    public init(table: CommandTable = .standard) {
        self.table = table
    }

    /// What Tab does: the text to insert at the cursor, and the candidates to list when several fit.
    public struct Completion: Equatable, Sendable {
        public var insert: String
        public var candidates: [String]
    }

    public func complete(_ lineBeforeCursor: String) -> Completion {
        let (done, partial) = Self.split(lineBeforeCursor)
        let typedLowercase = partial.contains { $0.isLowercase }
        var seen = Set<String>()
        let matches = candidates(after: done).map { typedLowercase ? $0.lowercased() : $0 }.filter {
            $0.lowercased().hasPrefix(partial.lowercased()) && seen.insert($0).inserted
        }
        guard let first = matches.first else { return Completion(insert: "", candidates: []) }
        if matches.count == 1 {
            return Completion(insert: String(first.dropFirst(partial.count)) + " ", candidates: [])
        }
        var common = first
        for match in matches.dropFirst() {
            common = String(zip(common, match).prefix { $0 == $1 }.map(\.0))
        }
        return Completion(insert: String(common.dropFirst(partial.count)), candidates: matches)
    }

    /// The arguments the typed command still needs, as its syntax, e.g.
    /// `CONTACT.GET ` → `id`. Empty until a known command name is followed by a space.
    public func hint(_ line: String) -> String {
        let (done, _) = Self.split(line)
        let spec: CommandSpec
        let typed: [String]
        switch resolve(done) {
        case .unknown: return ""
        case .container(let subcommands): return subcommands.joined(separator: "|")
        case .command(let resolved, let arguments): (spec, typed) = (resolved, arguments)
        }
        var remaining = spec.arguments[...]
        var words = typed.count
        while words > 0, let argument = remaining.first, argument.optional != true, argument.multiple != true {
            words -= Self.wordCount(argument)
            remaining = remaining.dropFirst()
        }
        if words > 0 {
            // Past the required arguments: the options not given yet.
            let given = Set(typed.map { $0.uppercased() })
            remaining =
                remaining.filter { argument in argument.token.map { !given.contains($0.uppercased()) } ?? false }[...]
        }
        return remaining.map(\.syntax).joined(separator: " ")
    }

    /// Command names close to an unknown one, best first.
    public func suggestions(for unknown: String, limit: Int = 3) -> [String] {
        let word = unknown.uppercased()
        let names = table.commands.filter { !$0.name.contains(" ") }.map(\.name)
        let scored = names.map { name -> (String, Int) in
            let distance = Self.editDistance(Array(word), Array(name))
            let bonus = name.hasSuffix("." + word) || name.hasPrefix(word) ? -2 : 0
            return (name, distance + bonus)
        }
        let threshold = max(2, word.count / 3)
        return scored.filter { $0.1 <= threshold }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(limit).map(\.0)
    }

    /// Words a Tab may produce after the words already typed.
    func candidates(after words: [String]) -> [String] {
        guard let first = words.first else {
            return table.commands.filter { !$0.name.contains(" ") }.map(\.name) + Self.replCommands
        }
        switch first.uppercased() {
        case "HELP":
            return words.count == 1
                ? table.commands.filter { !$0.name.contains(" ") }.map(\.name)
                    + Set(table.commands.map { "@" + $0.group }).sorted()
                : []
        case ":MONITOR": return words.count == 1 ? ["reorders", "events"] : []
        case ":WATCH": return words.count == 2 ? candidates(after: []) : candidates(after: Array(words.dropFirst(2)))
        default: break
        }
        switch resolve(words) {
        case .unknown: return []
        case .container(let subcommands): return subcommands
        case .command(let spec, let typed):
            return ArgumentWalk(spec: spec, schema: RecordKind(rawValue: spec.group)?.schema).next(after: typed)
        }
    }

    /// What the typed words name: a command (or subcommand) and its arguments so far.
    private enum Resolved {
        case unknown
        /// A container such as CLIENT before its subcommand: the subcommand names.
        case container([String])
        case command(CommandSpec, arguments: [String])
    }

    private func resolve(_ words: [String]) -> Resolved {
        guard let name = words.first, let spec = table[name.uppercased()] else { return .unknown }
        let arguments = Array(words.dropFirst())
        guard spec.subcommands != nil else { return .command(spec, arguments: arguments) }
        guard let sub = arguments.first else {
            return .container(table.subcommands(of: spec).map { String($0.name.split(separator: " ").last ?? "") })
        }
        guard let subspec = table["\(spec.name) \(sub.uppercased())"] else { return .unknown }
        return .command(subspec, arguments: Array(arguments.dropFirst()))
    }

    private static func wordCount(_ argument: CommandArgument) -> Int {
        let own = argument.type == "block" ? (argument.arguments ?? []).map(wordCount).reduce(0, +) : 1
        return own + (argument.token != nil && argument.type != "pure-token" ? 1 : 0)
    }

    /// The finished words of a line and the word being typed (empty after a space).
    static func split(_ line: String) -> (done: [String], partial: String) {
        var words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if line.last == " " || words.isEmpty { return (words, "") }
        let partial = words.removeLast()
        return (words, partial)
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// Follows a command's declared arguments over the words typed so far, to
/// tell what may come next: enumerated values, option tokens, record fields.
struct ArgumentWalk {
    let spec: CommandSpec
    let schema: RecordSchema?

    func next(after words: [String]) -> [String] {
        let positional = spec.arguments.filter { $0.token == nil }
        let options = Dictionary(
            spec.arguments.compactMap { argument in argument.token.map { ($0.uppercased(), argument) } },
            uniquingKeysWith: { first, _ in first })
        var position = 0
        var repeated = 0
        var option: (argument: CommandArgument, consumed: Int)?
        var used = Set<String>()
        for word in words {
            if let (argument, consumed) = option {
                option = consumed + 1 < Self.parts(of: argument).count ? (argument, consumed + 1) : nil
                continue
            }
            if let argument = options[word.uppercased()],
                !(position < positional.count && positional[position].type != "block"
                    && positional[position].optional != true)
            {
                used.insert(word.uppercased())
                if argument.type != "pure-token" { option = (argument, 0) }
                continue
            }
            if position < positional.count {
                if positional[position].multiple == true { repeated += 1 } else { position += 1 }
            }
        }
        if let (argument, consumed) = option {
            return values(of: Self.parts(of: argument)[consumed], previous: words.last)
        }
        var next: [String] = []
        var optionsOpen = true
        if position < positional.count {
            let argument = positional[position]
            if argument.type == "block", argument.multiple == true, let parts = argument.arguments, parts.count == 2 {
                next = repeated % 2 == 0 ? fieldNames() : values(of: parts[1], previous: words.last)
                optionsOpen = false
            } else {
                next = values(of: argument, previous: words.last)
                optionsOpen = argument.optional == true
            }
        }
        if optionsOpen {
            next += options.keys.filter { !used.contains($0) }.sorted()
        }
        return next
    }

    /// The words an option's value takes: a block's required parts, or the argument itself.
    private static func parts(of argument: CommandArgument) -> [CommandArgument] {
        argument.type == "block" ? (argument.arguments ?? []).filter { $0.optional != true } : [argument]
    }

    private func values(of argument: CommandArgument, previous: String?) -> [String] {
        if let values = argument.values { return values }
        if argument.name == "field" { return fieldNames() }
        if argument.name == "value", let previous, let field = schema?.field(named: previous.lowercased()),
            case .enumeration(let values) = field.kind
        {
            return values
        }
        return []
    }

    private func fieldNames() -> [String] {
        schema?.fields.map(\.name) ?? []
    }
}
