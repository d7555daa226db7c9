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
