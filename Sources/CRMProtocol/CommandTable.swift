import Foundation

/// The command table, decoded once from the copy of `Protocols/commands.json`
/// compiled into the binary (see `Ops/gen-command-table`).
public struct CommandTable: Sendable {
    /// Every command and subcommand, in the order the JSON declares them.
    public let commands: [CommandSpec]
    private let byName: [String: CommandSpec]

    /// Decodes a table from its JSON form.
    public init(json: Data) throws {
        commands = try JSONDecoder().decode([CommandSpec].self, from: json)
        byName = Dictionary(commands.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The table compiled into this binary.
    public static let standard: CommandTable = {
        do {
            return try CommandTable(json: Data(sourceJSON.utf8))
        } catch {
            fatalError("the compiled-in command table does not decode: \(error)")
        }
    }()

    /// The spec of `name` (upper case; subcommands as `CONTAINER SUB`).
    public subscript(name: String) -> CommandSpec? {
        byName[name]
    }

    /// Top-level commands (containers and plain commands, not subcommands).
    public var topLevel: [CommandSpec] {
        commands.filter { !$0.name.contains(" ") }
    }

    /// The subcommands of a container such as `CLIENT`.
    public func subcommands(of container: CommandSpec) -> [CommandSpec] {
        (container.subcommands ?? []).compactMap { byName["\(container.name) \($0)"] }
    }
}
