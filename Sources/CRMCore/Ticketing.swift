/// A support ticket's status; `resolved` and `closed` stop the SLA clock.
public enum TicketStatus: String, CaseIterable, Sendable {
    case new, open, pending, resolved, closed

    public var isSettled: Bool { self == .resolved || self == .closed }

    /// The timestamps a move to this status sets in `changes`, at `now`:
    /// leaving `new` is the first response, reaching resolved or closed
    /// resolves, and reopening clears the resolution. `responded` and
    /// `resolved` are the ticket's stamps so far; `previous` its status (nil for a new ticket).
    public func stamp(
        from previous: TicketStatus?, responded: String?, resolved: String?, now: String,
        into changes: inout FieldChanges
    ) {
        if self != .new, responded == nil { changes.set("first_response_at", now) }
        if isSettled, resolved == nil { changes.set("resolved_at", now) }
        if !isSettled, previous?.isSettled == true { changes.set("resolved_at", nil) }
    }
}

/// A ticket's priority, which picks its SLA targets.
public enum TicketPriority: String, CaseIterable, Sendable {
    case low, normal, high, urgent
}

/// Response and resolution targets for one priority, in minutes.
public struct ServiceLevel: Sendable, Equatable {
    public var firstResponseMinutes: Int64
    public var resolveMinutes: Int64

    public init(firstResponseMinutes: Int64, resolveMinutes: Int64) {
        self.firstResponseMinutes = firstResponseMinutes
        self.resolveMinutes = resolveMinutes
    }

    /// The policy a tenant starts with: urgent 1 h / 4 h, high 4 h / 1 day,
    /// normal 8 h / 3 days, low 1 day / 7 days.
    public static func standard(for priority: TicketPriority) -> ServiceLevel {
        switch priority {
        case .urgent: ServiceLevel(firstResponseMinutes: 60, resolveMinutes: 240)
        case .high: ServiceLevel(firstResponseMinutes: 240, resolveMinutes: 1440)
        case .normal: ServiceLevel(firstResponseMinutes: 480, resolveMinutes: 4320)
        case .low: ServiceLevel(firstResponseMinutes: 1440, resolveMinutes: 10080)
        }
    }

    /// At most a year, so due times stay meaningful.
    public static let maxMinutes: Int64 = 525_600
}
