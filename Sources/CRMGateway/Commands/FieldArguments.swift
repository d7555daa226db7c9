import CRMCore
import CRMProtocol

/// `field value [field value ...] [IFVERSION v] [FORCE]` from a write command,
/// validated against the command's record schema.
struct FieldArguments: Sendable {
    var changes: FieldChanges
    var ifVersion: Int64?
    var force = false

    init(_ invocation: CommandInvocation, from start: Int, allowsOptions: Bool, schema: RecordSchema) throws {
        var pairs: [(field: String, value: String)] = []
        var index = start
        var ifVersion: Int64?
        var force = false
        while index < invocation.arguments.count {
            let field = try invocation.text(index).lowercased()
            if allowsOptions, field == "force" {
                force = true
                index += 1
                continue
            }
            guard index + 1 < invocation.arguments.count else {
                throw InvalidField(field, "has no value (arguments come in field value pairs)")
            }
            if allowsOptions, field == "ifversion" {
                guard let version = Int64(try invocation.text(index + 1)), version > 0 else {
                    throw InvalidField("IFVERSION", "must be a positive integer")
                }
                ifVersion = version
            } else {
                pairs.append((field, try invocation.text(index + 1)))
            }
            index += 2
        }
        guard !pairs.isEmpty else { throw InvalidField("fields", "give at least one field value pair") }
        self.changes = try schema.validate(pairs)
        self.ifVersion = ifVersion
        self.force = force
    }
}
