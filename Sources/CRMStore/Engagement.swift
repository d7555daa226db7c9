import CRMCore
import Foundation

/// Activities get their kind and the record they are about from ACTIVITY.ADD.
struct ActivityRules: RecordRules {
    func prepareInsert(_ db: any SQLDatabase, _ changes: inout FieldChanges, now: String) throws {
        if changes["occurred_at"] == nil || changes["occurred_at"] == .some(nil) {
            changes.set("occurred_at", now)
        }
        if changes["channel"] == nil, let channel = (changes["kind"] ?? nil).flatMap(ActivityKind.init)?.channel {
            changes.set("channel", channel.rawValue)
        }
    }
}

/// One event on a timeline.
public struct TimelineEntry: Sendable {
    public var seq: Int64
    public var type: String
    public var recordType: String
    public var recordID: Int64
    public var fields: [(name: String, value: String?)]
    public var keyID: String?
    public var at: String
}

/// A page of a timeline, newest first; `next` continues below that sequence number.
public struct TimelinePage: Sendable {
    public var entries: [TimelineEntry]
    public var next: Int64?
}

/// Whether a contact may be contacted on a channel now, and why.
public struct Reachability: Sendable, Equatable {
    public var reachable: Bool
    public var reason: String
    public var consent: String?
    public var cap: Int64?
    /// Activities on the channel in the last 30 days.
    public var used: Int64
}

/// The shared memory: activities, timelines and the channels contacts choose.
public struct Engagement<Access: StorageAccess> {
    let db: any SQLDatabase

    /// Everything that touched a record, newest first; a company's timeline includes its contacts'.
    public func timeline(of subject: RecordKind, id: Int64, limit: Int, before: Int64?) throws -> TimelinePage {
        guard try subject.table.exists(db, id: id) else {
            throw StoreError.notFound("no such \(subject.rawValue)")
        }
        var sources = "SELECT seq FROM event_links WHERE record_type = ? AND record_id = ?"
        var arguments: [any SQLBindable] = [subject.rawValue, id]
        if subject == .company {
            sources += """
                 UNION SELECT l.seq FROM contacts c JOIN event_links l ON l.record_type = 'contact' AND l.record_id = c.id
                 WHERE c.company = ?
                """
            arguments.append(id)
        }
        arguments += [before ?? Int64.max, limit + 1]
        let rows = try db.rows(
            """
            SELECT seq, type, record_type, record_id, fields, key_id, at FROM events
            WHERE seq IN (\(sources)) AND seq < ? ORDER BY seq DESC LIMIT ?
            """, arguments)
        var entries = rows.map(Self.entry)
        let next = entries.trimToPage(limit)?.seq
        return TimelinePage(entries: entries, next: next)
    }

    /// Opted in on the channel, and under its monthly cap counting the channel's activities of the last 30 days.
    public func reachability(contact id: Int64, channel: ContactChannel) throws -> Reachability {
        guard let contact = try RecordTable.contacts.fetch(db, id: id) else {
            throw StoreError.notFound("no such contact")
        }
        let consent = contact[channel.consentField]
        let cap = contact[channel.capField].flatMap { Int64($0) }
        let now = WallClock.milliseconds()
        let since = Timestamp.iso8601(milliseconds: now - 30 * 86_400_000)
        let used =
            try db.value(
                Int64.self, "SELECT COUNT(*) FROM activities WHERE contact = ? AND channel = ? AND occurred_at >= ?",
                [id, channel.rawValue, since]) ?? 0
        let verdict: (Bool, String)
        switch consent.flatMap(ConsentState.init) {
        case nil: verdict = (false, "no consent recorded for \(channel.rawValue)")
        case .out: verdict = (false, "opted out of \(channel.rawValue)")
        case .in:
            if let cap, used >= cap {
                verdict = (false, "monthly cap of \(cap) reached (\(used) in the last 30 days)")
            } else {
                verdict = (true, "opted in")
            }
        }
        return Reachability(reachable: verdict.0, reason: verdict.1, consent: consent, cap: cap, used: used)
    }

    static func entry(_ row: SQLRow) -> TimelineEntry {
        let json: String = row[4]
        let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
        let fields = object.keys.sorted().map { ($0, object[$0] as? String) }
        return TimelineEntry(
            seq: row[0], type: row[1], recordType: row[2], recordID: row[3], fields: fields, keyID: row[5], at: row[6])
    }
}

extension Engagement where Access == WriteAccess {
    /// Records an activity on a record; it is linked to that record's contact and company too.
    public func addActivity(
        kind: ActivityKind, on subject: RecordKind, id: Int64, _ changes: FieldChanges, actor: String?
    ) throws -> Int64 {
        guard let record = try subject.table.fetch(db, id: id) else {
            throw StoreError.notFound("no such \(subject.rawValue)")
        }
        var changes = changes
        changes.set("kind", kind.rawValue)
        changes.set(subject.rawValue, String(id))
        for link in ["contact", "company"] where link != subject.rawValue {
            if let value = record[link] { changes.set(link, value) }
        }
        return try RecordCollection<WriteAccess>(db: db, table: .activities, rules: ActivityRules()).add(
            changes, actor: actor)
    }

    /// Records a contact's choice for a channel; returns the contact's new version.
    public func setConsent(
        contact id: Int64, channel: ContactChannel, state: ConsentState, maxPerMonth: Int64?, source: String?,
        actor: String?
    ) throws -> Int64 {
        guard let current = try RecordTable.contacts.fetch(db, id: id) else {
            throw StoreError.notFound("no such contact")
        }
        if let source {
            try RecordSchema.checkText(source, field: "SOURCE", maxLength: StoreLimits.maxConsentSourceLength)
        }
        if let maxPerMonth, !ContactChannel.monthlyCapRange.contains(maxPerMonth) {
            throw InvalidField("MAXPERMONTH", "must be an integer from 0 to 10000")
        }
        var changes = FieldChanges()
        changes.set(channel.consentField, state.rawValue)
        if let maxPerMonth { changes.set(channel.capField, String(maxPerMonth)) }
        var event = changes
        event.set("channel", channel.rawValue)
        event.set("source", source)
        let now = WallClock.now()
        let version = try RecordTable.contacts.update(
            db, current, changes, actor: actor, now: now, event: "contact.consent", eventFields: event)
        try db.execute(
            """
            INSERT INTO consent_changes (contact_id, channel, state, max_per_month, source, key_id, at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [id, channel.rawValue, state.rawValue, maxPerMonth, source, actor, now])
        return version
    }
}
