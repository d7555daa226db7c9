import CRMCore

/// The PostgreSQL layout: the catalog in the `crmgate` schema, and each
/// tenant's tables in a schema of its own (`tenant_<name>`), the same tables
/// as a tenant's SQLite file. Nothing refers from one schema to another, as
/// Citus's schema-based sharding requires: each tenant's schema can live
/// whole on one node and move as a unit.
enum PostgresSchema {
    /// The catalog's schema.
    static let catalog = "crmgate"

    /// The schema holding a tenant's tables.
    static func tenant(_ name: TenantName) -> String { "tenant_\(name.value)" }

    /// A schema name quoted as an identifier (tenant names may hold `-`).
    static func quoted(_ schema: String) -> String { "\"\(schema)\"" }

    /// A schema as `search_path` takes it, as a string literal (names hold only `a-z 0-9 _ -`).
    static func literal(_ schema: String) -> String { "'\(quoted(schema))'" }

    /// The key of a tenant's advisory lock, taken by every write transaction:
    /// one writer per tenant, as SQLite has, across every gateway.
    static func lockKey(_ name: TenantName) -> Int64 {
        // FNV-1a over the name: stable across processes and gateways, unlike Swift's hashValue.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.value.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    /// Creates the catalog's schema and tables if missing.
    static func createCatalog(_ db: PostgresTransaction) throws {
        try db.runSchemaChanges(
            """
            CREATE SCHEMA IF NOT EXISTS \(catalog);
            CREATE TABLE IF NOT EXISTS \(catalog).tenants (
                name TEXT COLLATE "C" PRIMARY KEY,
                suspended BIGINT NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS \(catalog).keys (
                id TEXT COLLATE "C" PRIMARY KEY,
                tenant TEXT COLLATE "C" REFERENCES \(catalog).tenants(name) ON DELETE CASCADE,
                role TEXT NOT NULL,
                label TEXT,
                secret_digest BYTEA NOT NULL,
                created_at TEXT NOT NULL,
                revoked_at TEXT
            );
            CREATE INDEX IF NOT EXISTS keys_tenant ON \(catalog).keys(tenant);
            CREATE TABLE IF NOT EXISTS \(catalog).migrations (
                tenant TEXT COLLATE "C" PRIMARY KEY,
                copied_at TEXT NOT NULL,
                checksum TEXT NOT NULL
            );
            """)
    }

    /// The tenant schema's migrations, in order; a schema records how many it
    /// ran in its `schema_version` table, as a SQLite file does in `user_version`.
    static let tenantMigrations: [@Sendable (PostgresTransaction) throws -> Void] = [createTenantTables]

    /// Creates or upgrades the tenant schema the transaction's `search_path` names.
    static func migrateTenant(_ db: PostgresTransaction, schema: String) throws {
        try db.runSchemaChanges(
            "CREATE SCHEMA IF NOT EXISTS \(quoted(schema)); CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)"
        )
        let version = try db.value(Int.self, "SELECT max(version) FROM schema_version") ?? 0
        guard version < tenantMigrations.count else { return }
        for migration in tenantMigrations[version...] { try migration(db) }
        try db.execute("DELETE FROM schema_version")
        try db.execute("INSERT INTO schema_version (version) VALUES (?)", [tenantMigrations.count])
    }

    /// v1: the tables of a SQLite tenant at its latest migration. Record
    /// tables are laid out from their ``RecordSchema``; each searchable one
    /// carries a generated `tsvector` of its searchable fields, GIN-indexed.
    private static func createTenantTables(_ db: PostgresTransaction) throws {
        // Email and domain compare without case, as SQLite's COLLATE NOCASE; the rest byte by byte, as SQLite's BINARY.
        var changes = [
            "CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        ]
        changes += recordTables.map(recordTable)
        changes.append(
            """
            CREATE UNIQUE INDEX contacts_email ON contacts(email) WHERE email IS NOT NULL;
            CREATE INDEX contacts_lifecycle ON contacts(lifecycle, id);
            CREATE INDEX contacts_owner ON contacts(owner, id);
            CREATE INDEX contacts_updated_at ON contacts(updated_at, id);
            CREATE INDEX contacts_company ON contacts(company, id);
            CREATE INDEX companies_stage ON companies(stage, id);
            CREATE INDEX companies_tier ON companies(tier, id);
            CREATE INDEX companies_kam ON companies(kam, id);
            CREATE INDEX companies_name ON companies(name, id);
            CREATE INDEX deals_status ON deals(status, id);
            CREATE INDEX deals_company ON deals(company, status, closed_at);
            CREATE INDEX deals_contact ON deals(contact, id);
            CREATE INDEX deals_pipeline ON deals(pipeline, stage, id);
            CREATE INDEX deals_close_date ON deals(close_date, id);
            CREATE INDEX tickets_status ON tickets(status, id);
            CREATE INDEX tickets_priority ON tickets(priority, id);
            CREATE INDEX tickets_assignee ON tickets(assignee, id);
            CREATE INDEX tickets_contact ON tickets(contact, id);
            CREATE INDEX tickets_company ON tickets(company, created_at);
            CREATE INDEX activities_contact ON activities(contact, channel, occurred_at);
            CREATE INDEX activities_company ON activities(company, occurred_at);
            CREATE TABLE events (
                seq BIGINT PRIMARY KEY,
                type TEXT COLLATE "C" NOT NULL,
                record_type TEXT COLLATE "C" NOT NULL,
                record_id BIGINT NOT NULL,
                fields TEXT NOT NULL,
                key_id TEXT,
                at TEXT NOT NULL
            );
            CREATE TABLE event_links (
                record_type TEXT COLLATE "C" NOT NULL,
                record_id BIGINT NOT NULL,
                seq BIGINT NOT NULL,
                PRIMARY KEY (record_type, record_id, seq)
            );
            CREATE TABLE company_stages (
                seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                company_id BIGINT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
                from_stage TEXT,
                to_stage TEXT NOT NULL,
                reason TEXT NOT NULL,
                key_id TEXT,
                at TEXT NOT NULL
            );
            CREATE INDEX company_stages_company ON company_stages(company_id, seq);
            CREATE TABLE consent_changes (
                seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                contact_id BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
                channel TEXT NOT NULL,
                state TEXT NOT NULL,
                max_per_month BIGINT,
                source TEXT,
                key_id TEXT,
                at TEXT NOT NULL
            );
            CREATE INDEX consent_changes_contact ON consent_changes(contact_id, seq);
            CREATE TABLE pipeline_stages (
                pipeline TEXT COLLATE "C" NOT NULL,
                position BIGINT NOT NULL,
                stage TEXT COLLATE "C" NOT NULL,
                probability BIGINT NOT NULL,
                PRIMARY KEY (pipeline, position)
            );
            CREATE TABLE service_levels (
                priority TEXT COLLATE "C" PRIMARY KEY,
                first_response_minutes BIGINT NOT NULL,
                resolve_minutes BIGINT NOT NULL
            );
            CREATE TABLE cost_rates (
                item TEXT COLLATE "C" PRIMARY KEY,
                amount BIGINT NOT NULL
            );
            CREATE TABLE inventory (
                company BIGINT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
                sku TEXT COLLATE "C" NOT NULL,
                on_hand BIGINT NOT NULL DEFAULT 0,
                on_order BIGINT NOT NULL DEFAULT 0,
                min BIGINT,
                max BIGINT,
                multiple BIGINT NOT NULL DEFAULT 1,
                lead_days BIGINT NOT NULL DEFAULT 0,
                unit_price BIGINT,
                currency TEXT,
                updated_at TEXT NOT NULL,
                reported BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (company, sku)
            );
            CREATE TABLE reorders (
                id BIGINT PRIMARY KEY,
                company BIGINT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
                sku TEXT COLLATE "C" NOT NULL,
                quantity BIGINT NOT NULL,
                received BIGINT,
                status TEXT COLLATE "C" NOT NULL,
                deal BIGINT REFERENCES deals(id) ON DELETE SET NULL,
                reason TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            );
            CREATE UNIQUE INDEX reorders_one_open ON reorders(company, sku)
                WHERE status IN ('proposed', 'confirmed', 'held');
            CREATE INDEX reorders_status ON reorders(status, id);
            CREATE INDEX reorders_company ON reorders(company, id);
            CREATE TABLE feeds (
                name TEXT COLLATE "C" PRIMARY KEY,
                last_seq BIGINT NOT NULL DEFAULT 0,
                applied BIGINT NOT NULL DEFAULT 0,
                duplicates BIGINT NOT NULL DEFAULT 0,
                updated_at TEXT NOT NULL
            );
            CREATE TABLE feed_gaps (
                feed TEXT COLLATE "C" NOT NULL,
                from_seq BIGINT NOT NULL,
                to_seq BIGINT NOT NULL,
                UNIQUE (feed, from_seq)
            );
            """)
        changes.append("CREATE TABLE id_counters (name TEXT COLLATE \"C\" PRIMARY KEY, last BIGINT NOT NULL DEFAULT 0)")
        // The names are this file's own table names.
        changes.append("INSERT INTO id_counters (name) VALUES " + counted.map { "('\($0)')" }.joined(separator: ", "))
        try db.runSchemaChanges(changes.joined(separator: ";\n"))
        try TenantDefaults.insert(db)
    }

    /// The tables whose keys ``PostgresDialect/insertWithKey(into:key:columns:ignoringConflicts:)``
    /// allocates from `id_counters`, as SQLite's AUTOINCREMENT does.
    static let counted = recordTables.map(\.table) + ["events", "reorders"]

    /// Every record table, those a record references first.
    private static let recordTables = [RecordTable.companies, .contacts, .deals, .tickets, .activities]

    /// What a record table's columns must hold beyond what the schema validates (as the SQLite tables have).
    private static let requiredColumns: [String: String] = [
        "companies.stage": "NOT NULL DEFAULT 'transaction'", "deals.pipeline": "NOT NULL", "deals.stage": "NOT NULL",
        "deals.status": "NOT NULL", "tickets.status": "NOT NULL", "tickets.priority": "NOT NULL",
        "activities.kind": "NOT NULL", "activities.occurred_at": "NOT NULL",
    ]

    /// A record table: system columns, a column per schema field, the JSON `custom` column, the search vector.
    private static func recordTable(_ records: RecordTable) -> String {
        var columns = [
            "id BIGINT PRIMARY KEY", "version BIGINT NOT NULL DEFAULT 1",
            "created_at TEXT COLLATE \"C\" NOT NULL", "updated_at TEXT COLLATE \"C\" NOT NULL",
        ]
        for field in records.schema.fields {
            var type: String
            switch field.kind {
            case .reference(let target):
                let table = RecordKind(rawValue: target)?.table.table ?? target
                type = "BIGINT REFERENCES \(table)(id) ON DELETE SET NULL"
            case .email:
                type = "TEXT COLLATE nocase"
            case _ where field.name == "domain":
                type = "TEXT COLLATE nocase"
            case _ where field.isNumeric:
                type = "BIGINT"
            default:
                type = "TEXT COLLATE \"C\""
            }
            if field.name == "ext" { type += " UNIQUE" }
            if let required = requiredColumns["\(records.table).\(field.name)"] { type += " " + required }
            columns.append("\(field.name) \(type)")
        }
        columns.append("custom TEXT")
        let searchable = records.schema.fields.filter(\.searchable).map(\.name)
        if records.searchTable != nil, !searchable.isEmpty {
            columns.append("search tsvector GENERATED ALWAYS AS (\(PostgresDialect.searchVector(searchable))) STORED")
        }
        var sql = "CREATE TABLE \(records.table) (\(columns.joined(separator: ", ")));"
        if records.searchTable != nil, !searchable.isEmpty {
            sql += " CREATE INDEX \(records.table)_search ON \(records.table) USING gin (search);"
        }
        return sql
    }
}
