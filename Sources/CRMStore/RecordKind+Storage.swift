import CRMCore

/// How the store keeps the records of one kind: its table (with the search
/// index) and the rules its records follow. One instance per kind, built once.
final class RecordStorage: Sendable {
    let table: RecordTable
    let rules: any RecordRules

    private init(table: RecordTable, rules: any RecordRules) {
        self.table = table
        self.rules = rules
    }

    static let contacts = RecordStorage(table: .contacts, rules: ContactRules())
    static let companies = RecordStorage(table: .companies, rules: CompanyRules())
    static let deals = RecordStorage(table: .deals, rules: DealRules())
    static let tickets = RecordStorage(table: .tickets, rules: TicketRules())
}

/// The one map from a record kind to how the store keeps it.
extension RecordKind {
    var storage: RecordStorage {
        switch self {
        case .contact: .contacts
        case .company: .companies
        case .deal: .deals
        case .ticket: .tickets
        }
    }

    var table: RecordTable { storage.table }
    var rules: any RecordRules { storage.rules }
}
