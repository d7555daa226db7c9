import CRMCore
import CRMProtocol
import Logging
import NIOCore

/// A command's implementation. It validates its arguments and either replies
/// at once or returns a future completed off the event loop.
typealias CommandHandler = @Sendable (CommandInvocation) throws -> CommandOutcome

/// Looks commands up in the command table and runs them, enforcing what the
/// table declares: authentication, roles and arity. Handlers see only
/// commands that passed those checks.
struct CommandDispatcher: Sendable {
    /// A command's table entry with its handler, looked up once per command
    /// and shared, not copied: the hot path reads a few of its fields.
    final class Route: Sendable {
        let spec: CommandSpec
        let handler: CommandHandler?
        /// See ``CommandDispatcher/isTenantOperation(_:)``.
        let isTenantOperation: Bool

        init(spec: CommandSpec, handler: CommandHandler?) {
            self.spec = spec
            self.handler = handler
            isTenantOperation =
                spec.subcommands == nil && !spec.flags.contains(.admin)
                && (spec.flags.contains(.write) || spec.flags.contains(.readonly))
                && !TransactionQueue.connectionChanging.contains(spec.name)
        }
    }

    /// Every entry of the command table (subcommands as `CONTAINER SUB`), by name.
    private let routes: [String: Route]

    init(table: CommandTable, handlers: [String: CommandHandler]) {
        routes = Dictionary(
            table.commands.map { ($0.name, Route(spec: $0, handler: handlers[$0.name])) },
            uniquingKeysWith: { first, _ in first })
    }

    /// Every handler, by command-table name.
    static var allHandlers: [String: CommandHandler] {
        var handlers: [String: CommandHandler] = [:]
        for group in [
            ConnectionCommands.handlers, ClientCommands.handlers, ServerCommands.handlers, TenantCommands.handlers,
            KeyCommands.handlers, RecordCommands.handlers, CompanyStageCommands.handlers, DealCommands.handlers,
            TicketCommands.handlers, EngagementCommands.handlers, PrivacyCommands.handlers, AnalyticsCommands.handlers,
            TransactionCommands.handlers, InventoryCommands.handlers, EventCommands.handlers, BackupCommands.handlers,
            InfoCommands.handlers,
        ] {
            handlers.merge(group) { first, _ in first }
        }
        return handlers
    }

    /// The command's table entry, or the error reply the table's gates give:
    /// unknown command or subcommand, authentication, role, arity.
    func resolve(_ command: RESPCommand, session: Session) -> Result<Route, CommandError> {
        let name = command.name
        guard var route = routes[name] else {
            return .failure(
                CommandError(
                    .err, "unknown command '\(Self.quoted(name))', with args beginning with: \(Self.preview(command))"
                ))
        }
        if route.spec.subcommands != nil, command.arguments.count >= 2 {
            let subcommand = String(buffer: command.arguments[1]).uppercased()
            guard let subroute = routes["\(name) \(subcommand)"] else {
                return .failure(
                    CommandError(.err, "unknown subcommand '\(Self.quoted(subcommand))'. Try \(name) HELP."))
            }
            route = subroute
        }
        if session.key == nil, !route.spec.flags.contains(.noauth) {
            return .failure(CommandError(.noauth, "Authentication required."))
        }
        if session.inSubscribeMode, !route.spec.flags.contains(.pubsub),
            !["PING", "QUIT", "RESET"].contains(route.spec.name)
        {
            return .failure(
                CommandError(
                    .err,
                    "Can't execute '\(route.spec.name.lowercased())': only (P)SUBSCRIBE / (P)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                ))
        }
        if let role = session.role, !route.spec.roles.contains(role) {
            return .failure(
                CommandError(.noperm, "this key's role (\(role.rawValue)) may not run '\(route.spec.name)'"))
        }
        guard route.spec.acceptsArgumentCount(command.arguments.count) else {
            return .failure(
                CommandError(.err, "wrong number of arguments for '\(route.spec.name.lowercased())' command"))
        }
        return .success(route)
    }

    /// The error reply ``resolve(_:session:)`` gives, if any.
    func gateError(_ command: RESPCommand, session: Session) -> RESPValue? {
        if case .failure(let error) = resolve(command, session: session) { return error.reply }
        return nil
    }

    func dispatch(_ command: RESPCommand, session: Session, services: GatewayServices, eventLoop: any EventLoop)
        -> CommandOutcome
    {
        let route: Route
        switch resolve(command, session: session) {
        case .success(let resolved): route = resolved
        case .failure(let error): return .reply(error.reply)
        }
        let commandName = route.spec.name
        if !route.spec.flags.contains(.noauth), let key = session.key, let refusal = services.rateLimits.check(key) {
            services.statistics.rateLimited.add(1, ordering: .relaxed)
            session.activity?.rateLimited.add(1, ordering: .relaxed)
            return .done(CommandResult(reply: refusal.error.reply, effects: [.holdReading(refusal.milliseconds)]))
        }
        guard let handler = route.handler else {
            return .reply(
                CommandError(.err, "'\(commandName)' needs a subcommand; try COMMAND DOCS \(commandName)").reply)
        }
        let invocation = CommandInvocation(
            arguments: command.arguments, route: route, session: session, services: services, eventLoop: eventLoop)
        do {
            switch try handler(invocation) {
            case .done(let result):
                return .done(result)
            case .tenant(var operation):
                operation.command = commandName
                return .tenant(operation)
            case .pending(let future):
                return .pending(
                    future.recover { error in
                        CommandResult(
                            reply: CommandError.reply(for: error, command: commandName, logger: invocation.logger))
                    })
            }
        } catch {
            return .reply(CommandError.reply(for: error, command: commandName, logger: invocation.logger))
        }
    }

    /// Whether `command` works only on the session's tenant database, so it
    /// may join a batch or a transaction (commands that change the connection,
    /// such as FEED.OPEN, must finish before the next command is dispatched).
    func isTenantOperation(_ command: RESPCommand) -> Bool {
        routes[command.name]?.isTenantOperation ?? false
    }

    /// A name shown back in an error, cut short and without control characters.
    private static func quoted(_ text: String) -> String {
        String(
            text.prefix(64).map {
                $0.isASCII && ($0.isLetter || $0.isNumber || $0.isPunctuation || $0 == " ") ? $0 : "?"
            })
    }

    private static func preview(_ command: RESPCommand) -> String {
        command.arguments.dropFirst().prefix(3).map { "'\(quoted(String(buffer: $0)))'" }.joined(separator: " ")
    }
}
