-- One CONTACT.ADD first_name Bench lifecycle lead, as crmgate writes it: the contact and its event,
-- in one durable transaction.
BEGIN;
INSERT INTO contacts (created_at, updated_at, first_name, lifecycle)
    VALUES (now()::text, now()::text, 'Bench', 'lead') RETURNING id \gset
INSERT INTO events (type, record_type, record_id, fields, key_id, at)
    VALUES ('contact.created', 'contact', :id, '{"first_name":"Bench","lifecycle":"lead"}', 'k_bench', now()::text);
END;
