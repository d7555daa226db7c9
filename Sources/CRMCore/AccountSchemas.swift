extension RecordSchema {
    private static let score = Field.Kind.integer(0...100)

    /// Companies (accounts), with their relationship stage and parameters.
    public static let company = RecordSchema(
        type: "company",
        fields: [
            Field("ext", .externalID, unique: true),
            Field("name", .text(maxLength: 256), searchable: true),
            Field("domain", .text(maxLength: 253), searchable: true),
            Field("kam", .text(maxLength: 256)),
            Field("stage", .enumeration(RelationshipStage.allCases.map(\.rawValue))),
            Field("trust", score),
            Field("commitment", score),
            Field("interdependence", score),
            Field("norms", score),
            Field("industry", .text(maxLength: 128)),
            Field("phone", .phone),
            Field("notes", .text(maxLength: 65536), searchable: true),
            Field("tier", .text(maxLength: 1), setBy: "ANALYTICS.TIERS"),
        ],
        allowsCustomFields: true
    )

    /// Deals in a pipeline; `status` follows the stage.
    public static let deal = RecordSchema(
        type: "deal",
        fields: [
            Field("ext", .externalID, unique: true),
            Field("title", .text(maxLength: 256), searchable: true),
            Field("company", .reference("company")),
            Field("contact", .reference("contact")),
            Field("pipeline", .text(maxLength: 64)),
            Field("stage", .text(maxLength: 64)),
            Field("amount", .integer(0...1_000_000_000_000_000)),
            Field("currency", .currency),
            Field("close_date", .date),
            Field("source", .text(maxLength: 128)),
            Field("owner", .text(maxLength: 256)),
            Field(
                "status", .enumeration(DealStatus.allCases.map(\.rawValue)), setBy: "DEAL.MOVE, DEAL.WIN or DEAL.LOSE"),
            Field("lost_reason", .text(maxLength: 1024), setBy: "DEAL.LOSE"),
            Field("closed_at", .timestamp, setBy: "DEAL.WIN or DEAL.LOSE"),
        ],
        allowsCustomFields: true
    )

    /// Support tickets with SLA due times from the tenant's policy.
    public static let ticket = RecordSchema(
        type: "ticket",
        fields: [
            Field("ext", .externalID, unique: true),
            Field("subject", .text(maxLength: 512), searchable: true),
            Field("body", .text(maxLength: 65536), searchable: true),
            Field("contact", .reference("contact")),
            Field("company", .reference("company")),
            Field("status", .enumeration(TicketStatus.allCases.map(\.rawValue))),
            Field("priority", .enumeration(TicketPriority.allCases.map(\.rawValue))),
            Field("channel", .text(maxLength: 64)),
            Field("assignee", .text(maxLength: 256)),
            Field("first_response_due", .timestamp, setBy: "the SLA policy (SLA.SET)"),
            Field("resolve_due", .timestamp, setBy: "the SLA policy (SLA.SET)"),
            Field("first_response_at", .timestamp, setBy: "TICKET.STATUS"),
            Field("resolved_at", .timestamp, setBy: "TICKET.STATUS"),
        ],
        allowsCustomFields: true
    )

    /// Notes, calls, meetings and emails on the shared timeline. The record
    /// it is about is given with `ON type id`; the links to its contact and
    /// company are filled in from that record.
    public static let activity = RecordSchema(
        type: "activity",
        fields: [
            Field("kind", .enumeration(ActivityKind.allCases.map(\.rawValue)), setBy: "ACTIVITY.ADD kind"),
            Field("subject", .text(maxLength: 512)),
            Field("body", .text(maxLength: 65536)),
            Field("channel", .enumeration(ContactChannel.allCases.map(\.rawValue))),
            Field("direction", .enumeration(["inbound", "outbound"])),
            Field("occurred_at", .timestamp),
            Field("duration_minutes", .integer(0...10_000)),
            Field("contact", .reference("contact"), setBy: "ACTIVITY.ADD ON"),
            Field("company", .reference("company"), setBy: "ACTIVITY.ADD ON"),
            Field("deal", .reference("deal"), setBy: "ACTIVITY.ADD ON"),
            Field("ticket", .reference("ticket"), setBy: "ACTIVITY.ADD ON"),
        ],
        allowsCustomFields: false
    )
}
