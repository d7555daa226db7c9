import Synchronization

/// SQL text built once per statement shape and dialect, then reused: the
/// write path asked for the same few `INSERT`s on every write, and building
/// their text (joins and interpolation, then a new string for the statement
/// cache to hash) was 7% of a `CONTACT.ADD`'s time on the writer.
final class StatementTexts: Sendable {
    private struct Key: Hashable {
        let dialect: ObjectIdentifier
        let shape: Int
    }

    private let texts = Mutex<[Key: String]>([:])

    /// The text of the statement `shape` names for `dialect`, made by `build` the first time.
    func text(_ dialect: any SQLDialect, shape: Int, build: () -> String) -> String {
        let key = Key(dialect: ObjectIdentifier(type(of: dialect)), shape: shape)
        if let text = texts.withLock({ $0[key] }) { return text }
        let text = build()
        texts.withLock { $0[key] = text }
        return text
    }
}
