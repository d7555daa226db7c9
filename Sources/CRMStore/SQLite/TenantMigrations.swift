import CRMCore
import GRDB

/// The versioned schema of a tenant database; migrations run at open.
enum TenantMigrations {
    /// The schema version a fully migrated database carries in `PRAGMA
    /// user_version`: the number of migrations.
    static let version = migrator.migrations.count

    /// Brings the database up to ``version``. A database that already carries
    /// it (every one after its first open) costs one pragma read, not the
    /// migrator's look at its table of applied migrations.
    static func migrate(_ writer: some DatabaseWriter) throws {
        let stamped = try writer.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA user_version") } ?? 0
        guard stamped != version else { return }
        try migrator.migrate(writer)
        try writer.writeWithoutTransaction { try $0.execute(sql: "PRAGMA user_version = \(version)") }
    }

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
        migrator.registerMigration("v2-crm-domain", migrate: crmDomain)
        migrator.registerMigration("v3-inventory-and-feeds", migrate: inventoryAndFeeds)
        migrator.registerMigration("v4-feed-gaps-with-rowid", migrate: feedGapsWithRowID)
        migrator.registerMigration("v5-search-index-per-commit", migrate: SearchIndex.install)
        migrator.registerMigration("v6-reported-stock", migrate: reportedStock)
        return migrator
    }

    /// Companies and stages, pipelines and deals, tickets and SLAs, activities,
    /// consent, cost rates, and event links for timelines.
    private static func crmDomain(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE companies (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    version INTEGER NOT NULL DEFAULT 1,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    ext TEXT UNIQUE,
                    name TEXT,
                    domain TEXT COLLATE NOCASE,
                    kam TEXT,
                    stage TEXT NOT NULL DEFAULT 'transaction',
                    trust INTEGER,
                    commitment INTEGER,
                    interdependence INTEGER,
                    norms INTEGER,
                    industry TEXT,
                    phone TEXT,
                    notes TEXT,
                    tier TEXT,
                    custom TEXT
                );
                CREATE INDEX companies_stage ON companies(stage, id);
                CREATE INDEX companies_tier ON companies(tier, id);
                CREATE INDEX companies_kam ON companies(kam, id);
                CREATE INDEX companies_name ON companies(name, id);
                CREATE TABLE company_stages (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
                    from_stage TEXT,
                    to_stage TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    key_id TEXT,
                    at TEXT NOT NULL
                );
                CREATE INDEX company_stages_company ON company_stages(company_id, seq);

                ALTER TABLE contacts ADD COLUMN company INTEGER REFERENCES companies(id) ON DELETE SET NULL;
                ALTER TABLE contacts ADD COLUMN consent_email TEXT;
                ALTER TABLE contacts ADD COLUMN cap_email INTEGER;
                ALTER TABLE contacts ADD COLUMN consent_sms TEXT;
                ALTER TABLE contacts ADD COLUMN cap_sms INTEGER;
                ALTER TABLE contacts ADD COLUMN consent_phone TEXT;
                ALTER TABLE contacts ADD COLUMN cap_phone INTEGER;
                ALTER TABLE contacts ADD COLUMN consent_post TEXT;
                ALTER TABLE contacts ADD COLUMN cap_post INTEGER;
                CREATE INDEX contacts_company ON contacts(company, id);
                CREATE TABLE consent_changes (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
                    channel TEXT NOT NULL,
                    state TEXT NOT NULL,
                    max_per_month INTEGER,
                    source TEXT,
                    key_id TEXT,
                    at TEXT NOT NULL
                );
                CREATE INDEX consent_changes_contact ON consent_changes(contact_id, seq);

                CREATE TABLE pipeline_stages (
                    pipeline TEXT NOT NULL,
                    position INTEGER NOT NULL,
                    stage TEXT NOT NULL,
                    probability INTEGER NOT NULL,
                    PRIMARY KEY (pipeline, position)
                ) WITHOUT ROWID;
                CREATE TABLE deals (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    version INTEGER NOT NULL DEFAULT 1,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    ext TEXT UNIQUE,
                    title TEXT,
                    company INTEGER REFERENCES companies(id) ON DELETE SET NULL,
                    contact INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
                    pipeline TEXT NOT NULL,
                    stage TEXT NOT NULL,
                    amount INTEGER,
                    currency TEXT,
                    close_date TEXT,
                    source TEXT,
                    owner TEXT,
                    status TEXT NOT NULL,
                    lost_reason TEXT,
                    closed_at TEXT,
                    custom TEXT
                );
                CREATE INDEX deals_status ON deals(status, id);
                CREATE INDEX deals_company ON deals(company, status, closed_at);
                CREATE INDEX deals_contact ON deals(contact, id);
                CREATE INDEX deals_pipeline ON deals(pipeline, stage, id);
                CREATE INDEX deals_close_date ON deals(close_date, id);

                CREATE TABLE service_levels (
                    priority TEXT PRIMARY KEY,
                    first_response_minutes INTEGER NOT NULL,
                    resolve_minutes INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE tickets (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    version INTEGER NOT NULL DEFAULT 1,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    ext TEXT UNIQUE,
                    subject TEXT,
                    body TEXT,
                    contact INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
                    company INTEGER REFERENCES companies(id) ON DELETE SET NULL,
                    status TEXT NOT NULL,
                    priority TEXT NOT NULL,
                    channel TEXT,
                    assignee TEXT,
                    first_response_due TEXT,
                    resolve_due TEXT,
                    first_response_at TEXT,
                    resolved_at TEXT,
                    custom TEXT
                );
                CREATE INDEX tickets_status ON tickets(status, id);
                CREATE INDEX tickets_priority ON tickets(priority, id);
                CREATE INDEX tickets_assignee ON tickets(assignee, id);
                CREATE INDEX tickets_contact ON tickets(contact, id);
                CREATE INDEX tickets_company ON tickets(company, created_at);

                CREATE TABLE activities (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    version INTEGER NOT NULL DEFAULT 1,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    subject TEXT,
                    body TEXT,
                    channel TEXT,
                    direction TEXT,
                    occurred_at TEXT NOT NULL,
                    duration_minutes INTEGER,
                    contact INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
                    company INTEGER REFERENCES companies(id) ON DELETE SET NULL,
                    deal INTEGER REFERENCES deals(id) ON DELETE SET NULL,
                    ticket INTEGER REFERENCES tickets(id) ON DELETE SET NULL,
                    custom TEXT
                );
                CREATE INDEX activities_contact ON activities(contact, channel, occurred_at);
                CREATE INDEX activities_company ON activities(company, occurred_at);

                CREATE TABLE cost_rates (
                    item TEXT PRIMARY KEY,
                    amount INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE event_links (
                    record_type TEXT NOT NULL,
                    record_id INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    PRIMARY KEY (record_type, record_id, seq)
                ) WITHOUT ROWID;
                INSERT INTO event_links (record_type, record_id, seq) SELECT record_type, record_id, seq FROM events;
                DROP INDEX events_record;
                """
        )
        for (table, schema) in [("companies", RecordSchema.company), ("deals", .deal), ("tickets", .ticket)] {
            let columns = schema.fields.filter(\.searchable).map(\.name)
            try db.create(virtualTable: "\(table)_fts", using: FTS5()) { fts in
                fts.synchronize(withTable: table)
                fts.tokenizer = .unicode61()
                for column in columns { fts.column(column) }
            }
        }
        try TenantDefaults.insert(SQLiteTransaction(db: db))
    }

    /// Stock per (company, sku) with its reorder rule, reorders, and ERP feed positions.
    private static func inventoryAndFeeds(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE inventory (
                    company INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
                    sku TEXT NOT NULL,
                    on_hand INTEGER NOT NULL DEFAULT 0,
                    on_order INTEGER NOT NULL DEFAULT 0,
                    min INTEGER,
                    max INTEGER,
                    multiple INTEGER NOT NULL DEFAULT 1,
                    lead_days INTEGER NOT NULL DEFAULT 0,
                    unit_price INTEGER,
                    currency TEXT,
                    updated_at TEXT NOT NULL,
                    PRIMARY KEY (company, sku)
                ) WITHOUT ROWID;
                CREATE TABLE reorders (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    company INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
                    sku TEXT NOT NULL,
                    quantity INTEGER NOT NULL,
                    received INTEGER,
                    status TEXT NOT NULL,
                    deal INTEGER REFERENCES deals(id) ON DELETE SET NULL,
                    reason TEXT,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE UNIQUE INDEX reorders_one_open ON reorders(company, sku)
                    WHERE status IN ('proposed', 'confirmed', 'held');
                CREATE INDEX reorders_status ON reorders(status, id);
                CREATE INDEX reorders_company ON reorders(company, id);
                CREATE TABLE feeds (
                    name TEXT PRIMARY KEY,
                    last_seq INTEGER NOT NULL DEFAULT 0,
                    applied INTEGER NOT NULL DEFAULT 0,
                    duplicates INTEGER NOT NULL DEFAULT 0,
                    updated_at TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE feed_gaps (
                    feed TEXT NOT NULL,
                    from_seq INTEGER NOT NULL,
                    to_seq INTEGER NOT NULL,
                    PRIMARY KEY (feed, from_seq)
                ) WITHOUT ROWID;
                """)
    }

    /// Feed gaps move to a rowid table, so transaction observers (metrics) see them recorded.
    private static func feedGapsWithRowID(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE feed_gaps_v4 (
                    feed TEXT NOT NULL,
                    from_seq INTEGER NOT NULL,
                    to_seq INTEGER NOT NULL,
                    UNIQUE (feed, from_seq)
                );
                INSERT INTO feed_gaps_v4 (feed, from_seq, to_seq) SELECT feed, from_seq, to_seq FROM feed_gaps;
                DROP TABLE feed_gaps;
                ALTER TABLE feed_gaps_v4 RENAME TO feed_gaps;
                """)
    }

    /// Stock levels remember whether the ERP reported them: a rule alone must
    /// not order against the 0 an unreported SKU starts with. A level is
    /// reported if an `INV.SET` or `INV.ADJ` of it was ever recorded.
    private static func reportedStock(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE inventory ADD COLUMN reported INTEGER NOT NULL DEFAULT 0;
                UPDATE inventory SET reported = 1 WHERE EXISTS (
                    SELECT 1 FROM events WHERE type IN ('inventory.set', 'inventory.adjusted')
                    AND record_type = 'company' AND record_id = inventory.company
                    AND json_extract(fields, '$.sku') = inventory.sku);
                """)
    }
}
