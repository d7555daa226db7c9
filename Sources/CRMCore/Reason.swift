/// The `REASON text` of a stage move, a lost deal or a cancelled reorder:
/// not blank, at most ``maxLength`` bytes, no NUL.
public enum Reason {
    public static let maxLength = 1024

    public static func validated(_ reason: String) throws(InvalidField) -> String {
        guard reason.contains(where: { !$0.isWhitespace }) else {
            throw InvalidField("REASON", "give a reason")
        }
        try RecordSchema.checkText(reason, field: "REASON", maxLength: maxLength)
        return reason
    }
}
