import CRMProtocol
import Testing

@testable import CRMGateway

@Suite struct CommandTableAgreementTests {
    @Test func dispatchTableMatchesCommandsJSON() {
        let table = CommandTable.standard
        let leaves = Set(table.commands.filter { $0.subcommands == nil }.map(\.name))
        let implemented = Set(CommandDispatcher.allHandlers.keys)
        #expect(leaves.subtracting(implemented).isEmpty, "declared but not implemented")
        #expect(implemented.subtracting(table.commands.map(\.name)).isEmpty, "implemented but not declared")
    }
}
