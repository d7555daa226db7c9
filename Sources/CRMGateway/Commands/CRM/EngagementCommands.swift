import CRMCore
import CRMProtocol
import CRMStore

/// Activities, timelines, and the channels contacts choose.
enum EngagementCommands {
    static let handlers: [String: CommandHandler] = [
        "ACTIVITY.ADD": addActivity, "TIMELINE": timeline, "CONTACT.CONSENT": consent,
        "CONTACT.REACHABLE": reachable,
    ]

    /// `ACTIVITY.ADD kind ON type id [field value ...]`
    static func addActivity(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let kind = try RecordCommands.choice(invocation, 1, "kind", as: ActivityKind.self)
        guard try invocation.text(2).uppercased() == "ON" else {
            throw CommandError.syntax("syntax error: expected ON type id")
        }
        let subject = try RecordCommands.choice(invocation, 3, "type", as: RecordKind.self)
        let id = try RecordCommands.recordID(invocation, 4, type: subject.rawValue)
        let changes =
            invocation.arguments.count > 5
            ? try FieldArguments(invocation, from: 5, allowsOptions: false, schema: .activity).changes
            : FieldChanges()
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            .integer(
                Int(try transaction.engagement.addActivity(kind: kind, on: subject, id: id, changes, actor: actor)))
        }
    }

    /// `TIMELINE type id [LIMIT n] [CURSOR c]`: `[next-cursor, [event ...]]`, newest first.
    static func timeline(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let subject = try RecordCommands.choice(invocation, 1, "type", as: RecordKind.self)
        let id = try RecordCommands.recordID(invocation, 2, type: subject.rawValue)
        let options = try OptionArguments(invocation.texts(from: 3), tokens: ["LIMIT": 1, "CURSOR": 1])
        let limit = try options.integer("LIMIT", in: 1...StoreLimits.maxTimelinePage, default: 20)
        let before = try options.numberCursor()
        return try invocation.read { transaction in
            let page = try transaction.engagement.timeline(of: subject, id: id, limit: limit, before: before)
            return .array([.bulk(page.next.map { String($0) } ?? "0"), .array(page.entries.map(reply))])
        }
    }

    static func reply(_ entry: TimelineEntry) -> RESPValue {
        .map([
            (.bulk("seq"), .integer(Int(entry.seq))), (.bulk("at"), .bulk(entry.at)),
            (.bulk("type"), .bulk(entry.type)),
            (.bulk("record"), .bulk("\(entry.recordType):\(entry.recordID)")),
            (.bulk("key_id"), entry.keyID.map(RESPValue.bulk) ?? .null),
            (.bulk("fields"), .map(entry.fields.map { (.bulk($0.name), $0.value.map(RESPValue.bulk) ?? .null) })),
        ])
    }

    /// `CONTACT.CONSENT id channel (in|out) [MAXPERMONTH n] [SOURCE text]`
    static func consent(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        let channel = try RecordCommands.choice(invocation, 2, "channel", as: ContactChannel.self)
        let state = try RecordCommands.choice(invocation, 3, "consent", as: ConsentState.self)
        let options = try OptionArguments(invocation.texts(from: 4), tokens: ["MAXPERMONTH": 1, "SOURCE": 1])
        let cap = try options.integer("MAXPERMONTH", in: ContactChannel.monthlyCapRange)
        let source = options.value("SOURCE")
        let actor = invocation.session.key?.id
        return try invocation.write { transaction in
            .integer(
                Int(
                    try transaction.engagement.setConsent(
                        contact: id, channel: channel, state: state, maxPerMonth: cap, source: source, actor: actor)))
        }
    }

    static func reachable(_ invocation: CommandInvocation) throws -> CommandOutcome {
        let id = try RecordCommands.recordID(invocation, 1)
        let channel = try RecordCommands.choice(invocation, 2, "channel", as: ContactChannel.self)
        return try invocation.read { transaction in
            let answer = try transaction.engagement.reachability(contact: id, channel: channel)
            return .map([
                (.bulk("reachable"), .integer(answer.reachable ? 1 : 0)), (.bulk("reason"), .bulk(answer.reason)),
                (.bulk("consent"), answer.consent.map(RESPValue.bulk) ?? .null),
                (.bulk("cap"), answer.cap.map { .integer(Int($0)) } ?? .null),
                (.bulk("used_30d"), .integer(Int(answer.used))),
            ])
        }
    }
}
