-- One CONTACT.ADD first_name Bench lifecycle lead, statement for statement as a crmgate gateway on
-- PostgreSQL sends it (Ops/bench --storage postgres): in the tenant's schema, under the tenant's
-- advisory lock (pgbench -D lock=KEY), its id and event number from id_counters, the event's link,
-- the newest event for the writer, one durable COMMIT.
BEGIN;
SELECT set_config('search_path', '"tenant_bench"', true), pg_advisory_xact_lock(:lock);
WITH next AS (UPDATE id_counters SET last = last + 1 WHERE name = 'contacts' RETURNING last)
    INSERT INTO contacts (id, created_at, updated_at, first_name, lifecycle)
    VALUES ((SELECT last FROM next), now()::text, now()::text, 'Bench', 'lead') ON CONFLICT DO NOTHING
    RETURNING id \gset
WITH next AS (UPDATE id_counters SET last = last + 1 WHERE name = 'events' RETURNING last)
    INSERT INTO events (seq, type, record_type, record_id, fields, key_id, at)
    VALUES ((SELECT last FROM next), 'contact.created', 'contact', :id,
        '{"first_name":"Bench","lifecycle":"lead"}', 'k_bench', now()::text)
    RETURNING seq \gset
INSERT INTO event_links (record_type, record_id, seq) VALUES ('contact', :id, :seq) ON CONFLICT DO NOTHING;
SELECT max(seq) FROM events;
END;
