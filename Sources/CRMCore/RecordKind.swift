/// The kinds of record a tenant keeps, each with its fields: the subjects
/// activities and timelines are about. The store maps each kind to its table,
/// search index and rules in one place (`RecordKind+Storage` in CRMStore).
public enum RecordKind: String, CaseIterable, Sendable {
    case contact, company, deal, ticket

    /// The fields records of this kind have.
    public var schema: RecordSchema {
        switch self {
        case .contact: .contact
        case .company: .company
        case .deal: .deal
        case .ticket: .ticket
        }
    }
}
