import CRMCore
import CRMProtocol
import NIOCore

/// CLIENT ID|SETNAME|GETNAME|SETINFO|INFO|LIST|KILL|HELP.
enum ClientCommands {
    static let handlers: [String: CommandHandler] = [
        "CLIENT ID": { .reply(.integer($0.session.client.id)) },
        "CLIENT SETINFO": setInfo,
        "CLIENT HELP": { invocation in .reply(.array(help(invocation.services.commandTable).map { .simpleString($0) }))
        },
        "CLIENT SETNAME": setName,
        "CLIENT GETNAME": { invocation in .reply(invocation.session.name.map { .bulk($0) } ?? .null) },
        "CLIENT INFO": { .reply(.bulk($0.session.client.listLine + "\n")) },
        "CLIENT LIST": list,
        "CLIENT KILL": kill,
    ]

    /// Connection names follow Redis: printable ASCII without spaces, here at most 128 bytes.
    static func validatedName(_ name: String) throws(CommandError) -> String? {
        guard name.utf8.count <= 128, name.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw CommandError(.err, "client names cannot contain spaces, newlines or special characters")
        }
        return name.isEmpty ? nil : name
    }

    /// `CLIENT SETINFO LIB-NAME|LIB-VER value`, which client libraries send on connect; shown in `CLIENT LIST`.
    static func setInfo(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let attribute = try invocation.text(2).uppercased()
        let value = try invocation.text(3)
        guard value.utf8.count <= 128, value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw CommandError(.err, "\(attribute) cannot contain spaces, newlines or special characters.")
        }
        switch attribute {
        case "LIB-NAME": invocation.session.client.details.withLock { $0.libraryName = value }
        case "LIB-VER": invocation.session.client.details.withLock { $0.libraryVersion = value }
        default: throw CommandError(.err, "Unrecognized option '\(attribute)'")
        }
        return .reply(.ok)
    }

    /// `CLIENT HELP`: one line per subcommand, from the command table.
    static func help(_ table: CommandTable) -> [String] {
        guard let client = table["CLIENT"] else { return [] }
        return ["CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"]
            + table.subcommands(of: client).flatMap { spec in
                [String(spec.syntax.dropFirst("CLIENT ".count)), "    " + spec.summary]
            } + ["HELP", "    Print this help."]
    }

    static func setName(_ invocation: CommandInvocation) throws -> CommandOutcome {
        .done(CommandResult(reply: .ok, effects: [.setName(try validatedName(invocation.text(2)))]))
    }

    /// Admin keys see every connection; tenant keys see their own tenant's.
    private static func visible(_ invocation: CommandInvocation) -> [ClientInfo] {
        let clients = invocation.services.clients.all()
        guard let key = invocation.session.key, key.role != .admin else { return clients }
        return clients.filter { client in client.details.withLock { $0.tenant } == key.tenant }
    }

    /// `CLIENT LIST [TYPE normal|pubsub|master|replica] [ID id ...]`.
    static func list(_ invocation: CommandInvocation) throws -> CommandOutcome {
        var clients = visible(invocation)
        var index = 2
        while index < invocation.arguments.count {
            switch try invocation.text(index).uppercased() {
            case "TYPE" where index + 1 < invocation.arguments.count:
                let type = try invocation.text(index + 1).lowercased()
                switch type {
                case "normal": clients = clients.filter { !$0.isSubscriber }
                case "pubsub": clients = clients.filter(\.isSubscriber)
                case "master", "replica", "slave": clients = []
                default: throw CommandError(.err, "Unknown client type '\(type)'")
                }
                index += 2
            case "ID" where index + 1 < invocation.arguments.count:
                var ids = Set<Int>()
                index += 1
                while index < invocation.arguments.count, let id = Int(try invocation.text(index)) {
                    ids.insert(id)
                    index += 1
                }
                guard !ids.isEmpty else { throw CommandError(.err, "Invalid client ID") }
                clients = clients.filter { ids.contains($0.id) }
            default:
                throw CommandError.syntax()
            }
        }
        return .reply(.bulk(clients.map { $0.listLine + "\n" }.joined()))
    }

    /// `CLIENT KILL ip:port` (replies OK) or `CLIENT KILL ID id | ADDR ip:port | KEY key-id ...` (replies a count).
    static func kill(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let candidates = visible(invocation)
        if invocation.arguments.count == 3 {
            let address = try invocation.text(2)
            guard let client = candidates.first(where: { $0.address == address }) else {
                throw CommandError(.err, "No such client")
            }
            client.channel.close(promise: nil)
            return .reply(.ok)
        }
        var filters: [(ClientInfo) -> Bool] = []
        var index = 2
        while index < invocation.arguments.count {
            guard index + 1 < invocation.arguments.count else { throw CommandError.syntax() }
            let value = try invocation.text(index + 1)
            switch try invocation.text(index).uppercased() {
            case "ID":
                guard let id = Int(value) else { throw CommandError(.err, "client-id should be greater than 0") }
                filters.append { $0.id == id }
            case "ADDR":
                filters.append { $0.address == value }
            case "KEY", "USER":
                filters.append { client in client.details.withLock { $0.keyID } == value }
            default:
                throw CommandError.syntax()
            }
            index += 2
        }
        let matching = candidates.filter { client in filters.allSatisfy { $0(client) } }
        for client in matching { client.channel.close(promise: nil) }
        return .reply(.integer(matching.count))
    }
}
