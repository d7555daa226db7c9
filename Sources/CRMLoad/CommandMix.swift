import CRMProtocol

/// The commands a run sends and their shares, as `--mix NAME:weight,...`
/// gives them (memtier's `--ratio`, for any command of the command table).
public struct CommandMix: Sendable, CustomStringConvertible {
    /// Command names (as the table spells them) and their weights, in the order given.
    public let entries: [(name: String, weight: Int)]
    /// A weighted pick table: `slots[random % slots.count]` is an index into `entries`.
    private let slots: [Int]

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `CONTACT.ADD:40,CONTACT.GET:30`; a name without a weight weighs 1.
    public init(_ text: String, table: CommandTable = .standard) throws(Invalid) {
        var entries: [(String, Int)] = []
        for part in text.split(separator: ",") {
            let pieces = part.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let name = pieces[0].uppercased()
            guard let spec = table[name], spec.subcommands == nil else {
                throw Invalid(description: "--mix: unknown command \(pieces[0]) (see Protocols/commands.json)")
            }
            let weight = pieces.count > 1 ? Int(pieces[1]) : 1
            guard let weight, weight > 0, weight <= 1_000_000 else {
                throw Invalid(description: "--mix: the weight of \(name) must be a positive integer")
            }
            entries.append((spec.name, weight))
        }
        guard !entries.isEmpty else { throw Invalid(description: "--mix names no command") }
        self.entries = entries
        let total = entries.reduce(0) { $0 + $1.1 }
        // At most 10,000 slots: weights are scaled down if they add up to more.
        let scale = max(1, total / 10_000)
        slots = entries.enumerated().flatMap { index, entry in Array(repeating: index, count: max(1, entry.1 / scale)) }
    }

    /// The entry index of a pick, given a random number.
    func pick(_ random: UInt64) -> Int {
        slots[Int(random % UInt64(slots.count))]
    }

    /// Each command's share of the picks (0…1).
    public var shares: [String: Double] {
        let total = Double(entries.reduce(0) { $0 + $1.weight })
        return Dictionary(entries.map { ($0.name, Double($0.weight) / total) }, uniquingKeysWith: +)
    }

    public var description: String { entries.map { "\($0.name):\($0.weight)" }.joined(separator: ",") }

    /// Whether any command uses the connection's ERP feed (SEQ numbers).
    var usesFeed: Bool { entries.contains { ["INV.ADJ", "INV.SET"].contains($0.name) } }
    /// Whether any command names the tenant's load company (`load-co`).
    var usesCompany: Bool { entries.contains { $0.name.hasPrefix("INV.") || $0.name == "COMPANY.GET" } }
    /// Whether any command needs a deal of the connection's own.
    var usesDeal: Bool { entries.contains { $0.name.hasPrefix("DEAL.") && $0.name != "DEAL.ADD" } }
}
