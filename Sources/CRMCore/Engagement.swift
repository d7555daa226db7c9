/// A channel a contact can be reached on; each has its own consent and cap.
public enum ContactChannel: String, CaseIterable, Sendable {
    case email, sms, phone, post

    /// The record field holding the contact's consent on this channel.
    public var consentField: String { "consent_\(rawValue)" }
    /// The record field holding the contact's monthly cap on this channel.
    public var capField: String { "cap_\(rawValue)" }

    /// What a monthly cap may be.
    public static let monthlyCapRange: ClosedRange<Int64> = 0...10_000
}

/// What a contact said about a channel.
public enum ConsentState: String, CaseIterable, Sendable {
    case `in`, out
}

/// The kind of an activity on the shared timeline.
public enum ActivityKind: String, CaseIterable, Sendable {
    case note, call, meeting, email

    /// The channel an activity of this kind uses, which counts against that channel's cap.
    public var channel: ContactChannel? {
        switch self {
        case .call: .phone
        case .email: .email
        case .note, .meeting: nil
        }
    }
}

/// The record types an activity or a timeline can be about.
public enum TimelineSubject: String, CaseIterable, Sendable {
    case contact, company, deal, ticket

    /// The fields records of this type have.
    public var schema: RecordSchema {
        switch self {
        case .contact: .contact
        case .company: .company
        case .deal: .deal
        case .ticket: .ticket
        }
    }
}
