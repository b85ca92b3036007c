-- gen_store_scale.sql: grows a PostgreSQL MSS store for bench/store's scale part.
-- psql -v first=N -v last=M -v per=P -f gen_store_scale.sql DB
-- Adds accounts gen<first>..gen<last>@pro.mss.test (directory and store sides, an
-- INBOX each) and P messages in each INBOX, written straight into the tables in one
-- transaction per call: rows as MSS writes them (ENVELOPE/BODYSTRUCTURE text, flags,
-- MODSEQs, one blob row per mailbox); the blob files themselves are not written, so
-- these messages are for SELECT/STATUS/SEARCH by flags and for the size of the
-- indexes, not for FETCH of bodies. The accounts have no password (no login).
\set ON_ERROR_STOP 1
BEGIN;
INSERT INTO accounts (address, role, created)
SELECT 'gen' || g || '@pro.mss.test', 'professional', 1700000000
FROM generate_series(:first, :last) g;
INSERT INTO store_users (address, wrapped_key, created)
SELECT 'gen' || g || '@pro.mss.test', 'generated', 1700000000
FROM generate_series(:first, :last) g;
CREATE TEMPORARY TABLE gen_users ON COMMIT DROP AS
SELECT id FROM store_users
WHERE address LIKE 'gen%' AND substr(split_part(address, '@', 1), 4)::bigint BETWEEN :first AND :last;
INSERT INTO mailboxes (user_id, name, uidvalidity, uidnext, highestmodseq, special_use, first_recent_uid)
SELECT id, 'INBOX', 1700000000, :per + 1, :per + 1, 0, :per + 1 FROM gen_users;
INSERT INTO blobs (user_id, name, size)
SELECT id, 'gen' || id, 10240 FROM gen_users;
INSERT INTO messages (mailbox_id, uid, modseq, internaldate, size, flags, blob_id, sent_date,
                      header_size, envelope, bodystructure, body)
SELECT mb.id, u, u + 1, 1700000000 + u, 10240, CASE WHEN u % 3 = 0 THEN 0 ELSE 1 END, b.id,
       1700000000 + u, 400,
       '("Tue, 03 Mar 2026 10:00:00 +0100" "message ' || u || '" (("Dr Martin" NIL "dr.martin" "pro.mss.test")) (("Dr Martin" NIL "dr.martin" "pro.mss.test")) (("Dr Martin" NIL "dr.martin" "pro.mss.test")) NIL NIL NIL NIL "<gen' || mb.id || '.' || u || '@pro.mss.test>")',
       '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 9840 120 NIL NIL NIL NIL)',
       '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 9840 120)'
FROM gen_users gu
JOIN mailboxes mb ON mb.user_id = gu.id AND mb.name = 'INBOX'
JOIN blobs b ON b.user_id = gu.id
CROSS JOIN generate_series(1, :per) u;
COMMIT;
ANALYZE;
