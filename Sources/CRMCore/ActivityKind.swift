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
