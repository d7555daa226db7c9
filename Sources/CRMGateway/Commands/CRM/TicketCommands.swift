import CRMCore
import CRMProtocol
import CRMStore

/// Ticket workflow and the SLA policy.
enum TicketCommands {
    static let handlers: [String: CommandHandler] = [
        "TICKET.STATUS": status, "SLA.SET": setLevel, "SLA.GET": levels,
    ]

    static func status(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        let status = try RecordCommands.choice(invocation, 2, "status", as: TicketStatus.self)
        let actor = invocation.session.key?.id
        return try invocation.write {
            .integer(Int(try $0.ticketDesk.setStatus(ticket: id, to: status, actor: actor)))
        }
    }

    /// `SLA.SET priority first_response_minutes resolve_minutes`
    static func setLevel(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let priority = try RecordCommands.choice(invocation, 1, "priority", as: TicketPriority.self)
        let range = 0...ServiceLevel.maxMinutes
        let firstResponse = try invocation.integer(2, name: "first_response_minutes")
        let resolve = try invocation.integer(3, name: "resolve_minutes")
        guard range.contains(firstResponse), range.contains(resolve) else {
            throw InvalidField("minutes", "must be from 0 to \(ServiceLevel.maxMinutes)")
        }
        guard firstResponse <= resolve else {
            throw InvalidField("first_response_minutes", "must not exceed resolve_minutes")
        }
        let level = ServiceLevel(firstResponseMinutes: firstResponse, resolveMinutes: resolve)
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            try transaction.serviceLevels.set(priority, level, actor: actor)
            return .ok
        }
    }

    static func levels(_ invocation: CommandInvocation) throws -> CommandOutcome {
        try invocation.read { transaction in
            .map(
                try transaction.serviceLevels.all().map { entry in
                    (
                        .bulk(entry.priority.rawValue),
                        .map([
                            (.bulk("first_response_minutes"), .integer(Int(entry.level.firstResponseMinutes))),
                            (.bulk("resolve_minutes"), .integer(Int(entry.level.resolveMinutes))),
                        ])
                    )
                })
        }
    }
}
