-- gen_store_scale_sqlite.sql: gen_store_scale.sql's rows for a SQLite store (daemons
-- stopped; the file is left in WAL mode, as MSS opens it):
--   sed -e 's/:first/1/g; s/:last/1000000/g; s/:per/10/g' bench/gen_store_scale_sqlite.sql |
--     sqlite3 DATA_DIR/mss.db
-- Adds accounts gen<first>..gen<last>@pro.mss.test (directory and store sides, an INBOX
-- each, one blob row each, no blob file) and <per> messages in each INBOX, in one
-- transaction, in index order (1,000,000 accounts and 10,000,000 messages: 2 min 14 s,
-- 5.6 GB here). The mailboxes' counters follow through their triggers. The accounts
-- have no password and no usable key (mssctl migrate says so, and goes on).
PRAGMA journal_mode=DELETE;
PRAGMA synchronous=OFF;
PRAGMA cache_size=-3000000;
BEGIN;
WITH RECURSIVE g(n) AS (SELECT :first UNION ALL SELECT n + 1 FROM g WHERE n < :last)
INSERT INTO accounts (address, role, created) SELECT 'gen' || n || '@pro.mss.test', 'professional', 1700000000 FROM g;
WITH RECURSIVE g(n) AS (SELECT :first UNION ALL SELECT n + 1 FROM g WHERE n < :last)
INSERT INTO store_users (address, wrapped_key, created) SELECT 'gen' || n || '@pro.mss.test', 'generated', 1700000000 FROM g;
CREATE TEMP TABLE gen_users AS SELECT id FROM store_users WHERE address LIKE 'gen%@pro.mss.test'
  AND CAST(substr(address, 4, instr(address, '@') - 4) AS INTEGER) BETWEEN :first AND :last;
INSERT INTO mailboxes (user_id, name, uidvalidity, uidnext, highestmodseq, special_use, first_recent_uid)
SELECT id, 'INBOX', 1700000000, 1, 1, 0, :per + 1 FROM gen_users ORDER BY id;
INSERT INTO blobs (user_id, name, size) SELECT id, 'gen' || id, 10240 FROM gen_users ORDER BY id;
WITH RECURSIVE u(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM u WHERE n < :per)
INSERT INTO messages (mailbox_id, uid, modseq, internaldate, size, flags, blob_id, sent_date, header_size, envelope, bodystructure, body)
SELECT mb.id, u.n, u.n + 1, 1700000000 + u.n, 10240, CASE WHEN u.n % 3 = 0 THEN 0 ELSE 1 END, b.id, 1700000000 + u.n, 400,
       '("Tue, 03 Mar 2026 10:00:00 +0100" "message ' || u.n || '" (("Dr Martin" NIL "dr.martin" "pro.mss.test")) (("Dr Martin" NIL "dr.martin" "pro.mss.test")) (("Dr Martin" NIL "dr.martin" "pro.mss.test")) NIL NIL NIL NIL "<gen' || mb.id || '.' || u.n || '@pro.mss.test>")',
       '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 9840 120 NIL NIL NIL NIL)',
       '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 9840 120)'
FROM gen_users gu JOIN mailboxes mb ON mb.user_id = gu.id AND mb.name = 'INBOX'
JOIN blobs b ON b.name = 'gen' || gu.id CROSS JOIN u ORDER BY mb.id, u.n;
UPDATE mailboxes SET uidnext = :per + 1, highestmodseq = :per + 1 WHERE id IN (SELECT mb.id FROM mailboxes mb JOIN gen_users g ON g.id = mb.user_id);
DROP TABLE gen_users;
COMMIT;
PRAGMA journal_mode=WAL;
