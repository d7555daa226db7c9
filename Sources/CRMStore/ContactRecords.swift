import CRMCore

/// Contacts: the lifecycle moves forward only unless forced.
struct ContactRules: RecordRules {
    func prepareUpdate(
        _ db: any SQLDatabase, _ current: StoredRecord, _ changes: inout FieldChanges, force: Bool, now: String
    ) throws {
        if case .some(.some(let next)) = changes["lifecycle"], let nextStage = Lifecycle(rawValue: next) {
            try Lifecycle.checkMove(from: current["lifecycle"].flatMap(Lifecycle.init), to: nextStage, force: force)
        }
    }
}
