import CRMCore

/// The one map from a record kind to how the store keeps it: its table (with
/// the search index) and the rules its records follow.
extension RecordKind {
    var table: RecordTable { storage.table }
    var rules: any RecordRules { storage.rules }

    private var storage: (table: RecordTable, rules: any RecordRules) {
        switch self {
        case .contact: (.contacts, ContactRules())
        case .company: (.companies, CompanyRules())
        case .deal: (.deals, DealRules())
        case .ticket: (.tickets, TicketRules())
        }
    }
}
