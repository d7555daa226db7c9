import CSQLiteConfig

/// Process-wide SQLite settings, made before SQLite first initializes.
public enum SQLiteLibrary {
    /// Has SQLite count its memory with an atomic instead of its memory
    /// statistics, whose mutex every allocation and free took (5% of a busy
    /// writer's time in perf; about 6% more CONTACT.ADDs at -P 16 without it).
    /// Call before anything opens a database; later, SQLite keeps its own statistics.
    public static func configureForServer() {
        _ = crmgate_sqlite3_count_memory_without_locks()
    }

    /// The bytes SQLite holds now.
    public static var memoryUsed: Int { Int(crmgate_sqlite3_memory_used()) }
}
