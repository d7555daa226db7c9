import GRDB

/// The versioned schema of a tenant database; migrations run at open.
enum TenantMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-contacts-and-events") { db in
            try db.execute(
                sql: """
                    CREATE TABLE contacts (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        version INTEGER NOT NULL DEFAULT 1,
                        created_at TEXT NOT NULL,
                        updated_at TEXT NOT NULL,
                        ext TEXT UNIQUE,
                        email TEXT COLLATE NOCASE,
                        first_name TEXT,
                        last_name TEXT,
                        phone TEXT,
                        title TEXT,
                        persona TEXT,
                        lifecycle TEXT,
                        owner TEXT,
                        notes TEXT,
                        custom TEXT
                    );
                    CREATE UNIQUE INDEX contacts_email ON contacts(email) WHERE email IS NOT NULL;
                    CREATE INDEX contacts_lifecycle ON contacts(lifecycle, id);
                    CREATE INDEX contacts_owner ON contacts(owner, id);
                    CREATE INDEX contacts_updated_at ON contacts(updated_at, id);
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        type TEXT NOT NULL,
                        record_type TEXT NOT NULL,
                        record_id INTEGER NOT NULL,
                        fields TEXT NOT NULL,
                        key_id TEXT,
                        at TEXT NOT NULL
                    );
                    CREATE INDEX events_record ON events(record_type, record_id, seq);
                    """
            )
            try db.create(virtualTable: "contacts_fts", using: FTS5()) { table in
                table.synchronize(withTable: "contacts")
                table.tokenizer = .unicode61()
                table.column("email")
                table.column("first_name")
                table.column("last_name")
                table.column("notes")
            }
        }
        return migrator
    }
}
