-- CONTACT.ADD's tables in PostgreSQL, for Ops/bench's pgbench row: the contact columns and indexes
-- of a crmgate tenant, full-text search as PostgreSQL does it (a stored tsvector with a GIN index,
-- where crmgate keeps an FTS5 index), and the event log.
CREATE TABLE contacts (
    id bigserial PRIMARY KEY,
    version integer NOT NULL DEFAULT 1,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    ext text UNIQUE,
    email text,
    first_name text,
    last_name text,
    phone text,
    title text,
    persona text,
    lifecycle text,
    owner text,
    notes text,
    custom text,
    company bigint,
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple',
        coalesce(email, '') || ' ' || coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' '
        || coalesce(notes, ''))) STORED
);
CREATE UNIQUE INDEX contacts_email ON contacts (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX contacts_lifecycle ON contacts (lifecycle, id);
CREATE INDEX contacts_owner ON contacts (owner, id);
CREATE INDEX contacts_updated_at ON contacts (updated_at, id);
CREATE INDEX contacts_company ON contacts (company, id);
CREATE INDEX contacts_search ON contacts USING gin (search);
CREATE TABLE events (
    seq bigserial PRIMARY KEY,
    type text NOT NULL,
    record_type text NOT NULL,
    record_id bigint NOT NULL,
    fields text NOT NULL,
    key_id text,
    at text NOT NULL
);
CREATE TABLE event_links (
    record_type text NOT NULL,
    record_id bigint NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (record_type, record_id, seq)
);
