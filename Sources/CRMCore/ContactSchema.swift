extension RecordSchema {
    /// People: the centre of the CRM (DESIGN.md §1, contact-centred lifecycle).
    public static let contact = RecordSchema(
        type: "contact",
        fields: [
            Field("ext", .externalID, unique: true),
            Field("email", .email, searchable: true, unique: true),
            Field("first_name", .text(maxLength: 256), searchable: true),
            Field("last_name", .text(maxLength: 256), searchable: true),
            Field("phone", .phone),
            Field("title", .text(maxLength: 256)),
            Field("persona", .text(maxLength: 128)),
            Field("lifecycle", .enumeration(Lifecycle.allCases.map(\.rawValue))),
            Field("owner", .text(maxLength: 256)),
            Field("notes", .text(maxLength: 65536), searchable: true),
            Field("company", .reference("company")),
        ]
            + ContactChannel.allCases.flatMap { channel in
                [
                    Field(
                        channel.consentField, .enumeration(ConsentState.allCases.map(\.rawValue)),
                        setBy: "CONTACT.CONSENT"),
                    Field(channel.capField, .integer(ContactChannel.monthlyCapRange), setBy: "CONTACT.CONSENT"),
                ]
            },
        allowsCustomFields: true
    )
}
