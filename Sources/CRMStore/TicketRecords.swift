import CRMCore

/// Tickets: due times from the tenant's SLA policy, the first-response and
/// resolution times the status records, and a breach flag computed on read.
struct TicketRules: RecordRules {
    func prepareInsert(_ db: any SQLDatabase, _ changes: inout FieldChanges, now: String) throws {
        let status = (changes["status"] ?? nil).flatMap(TicketStatus.init) ?? .new
        let priority = (changes["priority"] ?? nil).flatMap(TicketPriority.init) ?? .normal
        changes.set("status", status.rawValue)
        changes.set("priority", priority.rawValue)
        try setDueTimes(db, priority: priority, from: now, &changes)
        status.stamp(from: nil, responded: nil, resolved: nil, now: now, into: &changes)
    }

    func prepareUpdate(
        _ db: any SQLDatabase, _ current: StoredRecord, _ changes: inout FieldChanges, force: Bool, now: String
    ) throws {
        if changes["status"] == .some(nil) { throw InvalidField("status", "a ticket always has a status") }
        if changes["priority"] == .some(nil) { throw InvalidField("priority", "a ticket always has a priority") }
        if let priority = (changes["priority"] ?? nil).flatMap(TicketPriority.init),
            priority.rawValue != current["priority"]
        {
            try setDueTimes(db, priority: priority, from: current.createdAt, &changes)
        }
        if let status = (changes["status"] ?? nil).flatMap(TicketStatus.init), status.rawValue != current["status"] {
            status.stamp(
                from: current["status"].flatMap(TicketStatus.init), responded: current["first_response_at"],
                resolved: current["resolved_at"], now: now, into: &changes)
        }
    }

    var presentsStoredFieldsOnly: Bool { false }

    /// Adds `sla_breached`: 1 when a due time passed before the response or resolution it asks for.
    func present(_ record: StoredRecord, now: @autoclosure () -> String) -> StoredRecord {
        var record = record
        let now = now()
        let responded = record["first_response_at"] ?? now
        let resolved = record["resolved_at"] ?? now
        let breached =
            record["first_response_due"].map { responded > $0 } == true
            || record["resolve_due"].map { resolved > $0 } == true
        record.fields.append(("sla_breached", breached ? "1" : "0"))
        return record
    }

    private func setDueTimes(
        _ db: any SQLDatabase, priority: TicketPriority, from start: String, _ changes: inout FieldChanges
    ) throws {
        let level = try ServiceLevels<ReadAccess>(db: db).level(for: priority)
        changes.set("first_response_due", Timestamp.adding(minutes: level.firstResponseMinutes, to: start))
        changes.set("resolve_due", Timestamp.adding(minutes: level.resolveMinutes, to: start))
    }
}

/// The tenant's SLA policy: response and resolution targets per priority.
public struct ServiceLevels<Access: StorageAccess> {
    let db: any SQLDatabase

    public func level(for priority: TicketPriority) throws -> ServiceLevel {
        let row = try db.row(
            "SELECT first_response_minutes, resolve_minutes FROM service_levels WHERE priority = ?", [priority.rawValue]
        )
        return row.map { ServiceLevel(firstResponseMinutes: $0[0], resolveMinutes: $0[1]) }
            ?? .standard(for: priority)
    }

    public func all() throws -> [(priority: TicketPriority, level: ServiceLevel)] {
        try TicketPriority.allCases.map { ($0, try level(for: $0)) }
    }
}

extension ServiceLevels where Access == WriteAccess {
    /// Sets one priority's targets; tickets created or re-prioritised afterwards use them.
    public func set(_ priority: TicketPriority, _ level: ServiceLevel, actor: String?) throws {
        try db.execute(
            """
            INSERT INTO service_levels (priority, first_response_minutes, resolve_minutes) VALUES (?, ?, ?)
            ON CONFLICT (priority) DO UPDATE SET
                first_response_minutes = excluded.first_response_minutes, resolve_minutes = excluded.resolve_minutes
            """, [priority.rawValue, level.firstResponseMinutes, level.resolveMinutes])
        let fields = FieldChanges([
            "priority": priority.rawValue, "first_response_minutes": String(level.firstResponseMinutes),
            "resolve_minutes": String(level.resolveMinutes),
        ])
        try EventLog.append(
            db, type: "sla.set", recordType: "sla", recordID: 0, changes: fields, actor: actor, at: WallClock.now())
    }
}

/// Ticket workflow beyond field changes.
public struct TicketDesk {
    let db: any SQLDatabase
    private var tickets: RecordCollection<WriteAccess> { RecordCollection(db: db, kind: .ticket) }

    /// Moves a ticket to `status`; returns its new version.
    public func setStatus(ticket id: Int64, to status: TicketStatus, actor: String?) throws -> Int64 {
        let current = try tickets.stored(id: id)
        guard current["status"] != status.rawValue else {
            throw InvalidField("status", "the ticket is already \(status.rawValue)")
        }
        return try tickets.update(
            current, FieldChanges(["status": status.rawValue]), ifVersion: nil, force: false, actor: actor,
            event: "ticket.status")
    }
}
