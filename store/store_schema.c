/* store_schema.c: the store's tables, as numbered migrations (lib/sql.h). Steps in
 * SQLite's own dialect sit in .sqlite, PostgreSQL's beside them in .postgresql: the
 * same tables, with BIGINT for every number that can pass 2^31 (ids, UIDs, sizes,
 * times, MODSEQs), identity columns for ids (never reused, as AUTOINCREMENT), and an
 * index under each foreign key that SQLite's rowid tables did not need.
 *
 * Indexes are chosen for 100,000-message mailboxes: SELECT and FETCH 1:* FLAGS read
 * messages by (mailbox_id, uid) in one range scan; IDLE/CONDSTORE read by
 * (mailbox_id, modseq); expunge finds unreferenced blobs by blob_id. */
#include "store/store_sql.h"

/* The counts a message row adds to (op "+") or takes from (op "-") its mailbox's row
 * (migration 12): \Seen is flag 1, \Deleted flag 8 (STORE_FLAG_*). */
#define COUNTS_SET(op, row)                                                                                  \
	"UPDATE mailboxes SET n_messages = n_messages " op " 1,"                                             \
	" n_unseen = n_unseen " op " CASE WHEN (" row ".flags & 1) = 0 THEN 1 ELSE 0 END,"                   \
	" n_deleted = n_deleted " op " CASE WHEN (" row ".flags & 8) <> 0 THEN 1 ELSE 0 END,"                \
	" total_size = total_size " op " " row ".size, deleted_size = deleted_size " op " CASE WHEN (" row   \
	".flags & 8) <> 0 THEN " row ".size ELSE 0 END WHERE id = " row ".mailbox_id;"
#define COUNTS_ADD_NEW COUNTS_SET("+", "NEW")
#define COUNTS_TAKE_OLD COUNTS_SET("-", "OLD")
#define COUNTS_CHANGED                                                                                       \
	"(OLD.flags & 9) <> (NEW.flags & 9) OR OLD.size <> NEW.size OR OLD.mailbox_id <> NEW.mailbox_id"
#define COUNTS_FILL                                                                                          \
	"UPDATE mailboxes SET"                                                                               \
	" n_messages = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id),"                 \
	" n_unseen = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id"                     \
	" AND (m.flags & 1) = 0),"                                                                           \
	" n_deleted = (SELECT count(*) FROM messages m WHERE m.mailbox_id = mailboxes.id"                    \
	" AND (m.flags & 8) <> 0),"                                                                          \
	" total_size = (SELECT coalesce(sum(m.size), 0) FROM messages m WHERE m.mailbox_id = mailboxes.id)," \
	" deleted_size = (SELECT coalesce(sum(m.size), 0) FROM messages m WHERE m.mailbox_id = mailboxes.id" \
	" AND (m.flags & 8) <> 0);"

/* PostgreSQL (migration 13): the same counts, kept by statement-level triggers. The
 * per-row triggers of 12 update the mailbox's row once per message; inside one
 * transaction PostgreSQL cannot prune that row's old versions, so each update walks a
 * longer chain: 20,000 messages inserted in one transaction took 14 s, quadratic
 * (EXPUNGE, COPY or MOVE of a large set, an account's deletion). Here each statement
 * updates each mailbox it touched once, from its transition tables ("d": the rows'
 * signed contributions by mailbox); a statement that changed no count writes nothing. */
#define COUNTS_ROWS(sign, rows)                                                                              \
	"SELECT mailbox_id, " sign "1 AS n, " sign "CASE WHEN (flags & 1) = 0 THEN 1 ELSE 0 END AS unseen,"  \
	" " sign "CASE WHEN (flags & 8) <> 0 THEN 1 ELSE 0 END AS deleted, " sign "size AS size,"            \
	" " sign "CASE WHEN (flags & 8) <> 0 THEN size ELSE 0 END AS deleted_size FROM " rows
#define COUNTS_APPLY(rows)                                                                                   \
	"UPDATE mailboxes b SET n_messages = b.n_messages + d.n, n_unseen = b.n_unseen + d.unseen,"          \
	" n_deleted = b.n_deleted + d.deleted, total_size = b.total_size + d.size,"                          \
	" deleted_size = b.deleted_size + d.deleted_size FROM (SELECT mailbox_id, sum(n) AS n,"              \
	" sum(unseen) AS unseen, sum(deleted) AS deleted, sum(size) AS size,"                                \
	" sum(deleted_size) AS deleted_size FROM (" rows ") x GROUP BY mailbox_id) d"                        \
	" WHERE b.id = d.mailbox_id AND (d.n <> 0 OR d.unseen <> 0 OR d.deleted <> 0 OR d.size <> 0"         \
	" OR d.deleted_size <> 0);"
#define COUNTS_INSERTED COUNTS_APPLY(COUNTS_ROWS("", "new_rows"))
#define COUNTS_DELETED COUNTS_APPLY(COUNTS_ROWS("-", "old_rows"))
#define COUNTS_UPDATED COUNTS_APPLY(COUNTS_ROWS("", "new_rows") " UNION ALL " COUNTS_ROWS("-", "old_rows"))

static const struct sql_migration store_migrations[] = {
    {.version = 1,
     .sqlite = "CREATE TABLE store_users("
               " id INTEGER PRIMARY KEY,"
               " address TEXT NOT NULL UNIQUE COLLATE NOCASE,"
               " wrapped_key TEXT NOT NULL,"
               " created INTEGER NOT NULL);"
               "CREATE TABLE store_counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
               "CREATE TABLE mailboxes("
               " id INTEGER PRIMARY KEY AUTOINCREMENT,"
               " user_id INTEGER NOT NULL REFERENCES store_users(id) ON DELETE CASCADE,"
               " name TEXT NOT NULL,"
               " uidvalidity INTEGER NOT NULL,"
               " uidnext INTEGER NOT NULL DEFAULT 1,"
               " highestmodseq INTEGER NOT NULL DEFAULT 1,"
               " special_use INTEGER NOT NULL DEFAULT 0,"
               " subscribed INTEGER NOT NULL DEFAULT 0,"
               " UNIQUE(user_id, name));"
               "CREATE TABLE blobs("
               " id INTEGER PRIMARY KEY AUTOINCREMENT,"
               " user_id INTEGER NOT NULL REFERENCES store_users(id),"
               " name TEXT NOT NULL UNIQUE,"
               " size INTEGER NOT NULL);"
               "CREATE TABLE messages("
               " id INTEGER PRIMARY KEY,"
               " mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
               " uid INTEGER NOT NULL,"
               " modseq INTEGER NOT NULL,"
               " internaldate INTEGER NOT NULL,"
               " size INTEGER NOT NULL,"
               " flags INTEGER NOT NULL DEFAULT 0,"
               " keywords TEXT,"
               " blob_id INTEGER NOT NULL REFERENCES blobs(id),"
               " sent_date INTEGER NOT NULL DEFAULT 0,"
               " header_size INTEGER NOT NULL DEFAULT 0,"
               " envelope TEXT NOT NULL,"
               " bodystructure TEXT NOT NULL,"
               " body TEXT NOT NULL,"
               " UNIQUE(mailbox_id, uid));"
               "CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);"
               "CREATE INDEX messages_blob ON messages(blob_id);"
               "CREATE TABLE expunged("
               " mailbox_id INTEGER NOT NULL,"
               " uid INTEGER NOT NULL,"
               " modseq INTEGER NOT NULL,"
               " PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
               "CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);",
     .postgresql = "CREATE TABLE store_users("
                   " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                   " address TEXT NOT NULL UNIQUE,"
                   " wrapped_key TEXT NOT NULL,"
                   " created BIGINT NOT NULL);"
                   "CREATE TABLE store_counters(name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
                   "CREATE TABLE mailboxes("
                   " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                   " user_id BIGINT NOT NULL REFERENCES store_users(id) ON DELETE CASCADE,"
                   " name TEXT NOT NULL,"
                   " uidvalidity BIGINT NOT NULL,"
                   " uidnext BIGINT NOT NULL DEFAULT 1,"
                   " highestmodseq BIGINT NOT NULL DEFAULT 1,"
                   " special_use INTEGER NOT NULL DEFAULT 0,"
                   " subscribed INTEGER NOT NULL DEFAULT 0,"
                   " UNIQUE(user_id, name));"
                   "CREATE TABLE blobs("
                   " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                   " user_id BIGINT NOT NULL REFERENCES store_users(id),"
                   " name TEXT NOT NULL UNIQUE,"
                   " size BIGINT NOT NULL);"
                   "CREATE INDEX blobs_user ON blobs(user_id);"
                   "CREATE TABLE messages("
                   " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                   " mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
                   " uid BIGINT NOT NULL,"
                   " modseq BIGINT NOT NULL,"
                   " internaldate BIGINT NOT NULL,"
                   " size BIGINT NOT NULL,"
                   " flags INTEGER NOT NULL DEFAULT 0,"
                   " keywords TEXT,"
                   " blob_id BIGINT NOT NULL REFERENCES blobs(id),"
                   " sent_date BIGINT NOT NULL DEFAULT 0,"
                   " header_size BIGINT NOT NULL DEFAULT 0,"
                   " envelope TEXT NOT NULL,"
                   " bodystructure TEXT NOT NULL,"
                   " body TEXT NOT NULL,"
                   " UNIQUE(mailbox_id, uid));"
                   "CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);"
                   "CREATE INDEX messages_blob ON messages(blob_id);"
                   "CREATE TABLE expunged("
                   " mailbox_id BIGINT NOT NULL,"
                   " uid BIGINT NOT NULL,"
                   " modseq BIGINT NOT NULL,"
                   " PRIMARY KEY(mailbox_id, uid));"
                   "CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);"},
    /* SELECT and FETCH FLAGS read every message's small columns: a covering index
     * keeps them off the wide rows (ENVELOPE, BODYSTRUCTURE), about twice as fast on
     * a 100,000-message mailbox. */
    {.version = 2,
     .sql = "CREATE INDEX messages_select ON messages(mailbox_id, uid, flags, modseq, internaldate, size,"
            " keywords);"},
    /* Subscriptions are names, not mailboxes: they outlive DELETE and may name a
     * mailbox that does not exist (RFC 9051 6.3.7). first_recent_uid: the lowest UID
     * still \Recent, taken by the first session to select the mailbox (RFC 3501
     * 2.3.2); existing mail is not recent. */
    {.version = 3,
     .sqlite = "CREATE TABLE subscriptions("
               " user_id INTEGER NOT NULL REFERENCES store_users(id) ON DELETE CASCADE,"
               " name TEXT NOT NULL,"
               " PRIMARY KEY(user_id, name)) WITHOUT ROWID;"
               "INSERT INTO subscriptions(user_id, name)"
               " SELECT user_id, name FROM mailboxes WHERE subscribed <> 0;"
               "ALTER TABLE mailboxes DROP COLUMN subscribed;"
               "ALTER TABLE mailboxes ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;"
               "UPDATE mailboxes SET first_recent_uid = uidnext;",
     .postgresql = "CREATE TABLE subscriptions("
                   " user_id BIGINT NOT NULL REFERENCES store_users(id) ON DELETE CASCADE,"
                   " name TEXT NOT NULL,"
                   " PRIMARY KEY(user_id, name));"
                   "INSERT INTO subscriptions(user_id, name)"
                   " SELECT user_id, name FROM mailboxes WHERE subscribed <> 0;"
                   "ALTER TABLE mailboxes DROP COLUMN subscribed;"
                   "ALTER TABLE mailboxes ADD COLUMN first_recent_uid BIGINT NOT NULL DEFAULT 1;"
                   "UPDATE mailboxes SET first_recent_uid = uidnext;"},
    /* What FETCH and SEARCH need without reading the message: the MIME part tree
     * (where each section lies, imap/imap_mime.h), the Date as the sender's wall clock
     * (SENTON in the message's own zone) and References (THREAD). Rows stored before
     * have parts NULL and are completed the first time they are read. */
    {.version = 4,
     .sqlite = "ALTER TABLE messages ADD COLUMN parts BLOB;"
               "ALTER TABLE messages ADD COLUMN sent_local INTEGER NOT NULL DEFAULT 0;"
               "ALTER TABLE messages ADD COLUMN refs TEXT;",
     .postgresql = "ALTER TABLE messages ADD COLUMN parts BYTEA;"
                   "ALTER TABLE messages ADD COLUMN sent_local BIGINT NOT NULL DEFAULT 0;"
                   "ALTER TABLE messages ADD COLUMN refs TEXT;"},
    /* Expunged messages a session may still ask for (RFC 9051 7.5.1: no EXPUNGE during
     * FETCH, STORE or SEARCH): the row moves here with its blob until every session
     * that had the mailbox selected has been told (store_view.c). */
    {.version = 5,
     .sqlite = "CREATE TABLE retained("
               " mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
               " uid INTEGER NOT NULL,"
               " expunged_modseq INTEGER NOT NULL,"
               " modseq INTEGER NOT NULL,"
               " internaldate INTEGER NOT NULL,"
               " size INTEGER NOT NULL,"
               " flags INTEGER NOT NULL,"
               " keywords TEXT,"
               " blob_id INTEGER NOT NULL REFERENCES blobs(id),"
               " sent_date INTEGER NOT NULL,"
               " header_size INTEGER NOT NULL,"
               " envelope TEXT NOT NULL,"
               " bodystructure TEXT NOT NULL,"
               " body TEXT NOT NULL,"
               " parts BLOB,"
               " sent_local INTEGER NOT NULL,"
               " refs TEXT,"
               " PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
               "CREATE INDEX retained_modseq ON retained(mailbox_id, expunged_modseq);"
               "CREATE INDEX retained_blob ON retained(blob_id);",
     .postgresql = "CREATE TABLE retained("
                   " mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,"
                   " uid BIGINT NOT NULL,"
                   " expunged_modseq BIGINT NOT NULL,"
                   " modseq BIGINT NOT NULL,"
                   " internaldate BIGINT NOT NULL,"
                   " size BIGINT NOT NULL,"
                   " flags INTEGER NOT NULL,"
                   " keywords TEXT,"
                   " blob_id BIGINT NOT NULL REFERENCES blobs(id),"
                   " sent_date BIGINT NOT NULL,"
                   " header_size BIGINT NOT NULL,"
                   " envelope TEXT NOT NULL,"
                   " bodystructure TEXT NOT NULL,"
                   " body TEXT NOT NULL,"
                   " parts BYTEA,"
                   " sent_local BIGINT NOT NULL,"
                   " refs TEXT,"
                   " PRIMARY KEY(mailbox_id, uid));"
                   "CREATE INDEX retained_modseq ON retained(mailbox_id, expunged_modseq);"
                   "CREATE INDEX retained_blob ON retained(blob_id);"},
    /* Health metadata at rest (issue 12): ENVELOPE, BODYSTRUCTURE, BODY and References
     * move into one record sealed under the owner's key (store_meta.c); the old
     * columns stay, emptied, and mssctl migrate seals the rows written before
     * (store_meta_seal_all). */
    {.version = 6,
     .sqlite = "ALTER TABLE messages ADD COLUMN meta BLOB;"
               "ALTER TABLE retained ADD COLUMN meta BLOB;",
     .postgresql = "ALTER TABLE messages ADD COLUMN meta BYTEA;"
                   "ALTER TABLE retained ADD COLUMN meta BYTEA;"},
    /* URLAUTH (RFC 4467): a mailbox's access key is derived from its owner's key, its id
     * and this generation; RESETKEY bumps the generation, so no key is ever stored. */
    {.version = 7,
     .sqlite = "ALTER TABLE mailboxes ADD COLUMN urlauth_generation INTEGER NOT NULL DEFAULT 0;",
     .postgresql = "ALTER TABLE mailboxes ADD COLUMN urlauth_generation BIGINT NOT NULL DEFAULT 0;"},
    /* Write-only delivery (issue 12, store_msgkey.c): each account's X25519 public key
     * (hex; its secret key is derived from the wrapped account key), and each blob's
     * message key sealed to its owner's public key (crypto_box_seal). A blob whose
     * sealed_key is NULL was written before, under the account key itself. mssctl
     * migrate fills public_key for the accounts made before (store_keypairs_fill). */
    {.version = 8,
     .sqlite = "ALTER TABLE store_users ADD COLUMN public_key TEXT;"
               "ALTER TABLE blobs ADD COLUMN sealed_key BLOB;",
     .postgresql = "ALTER TABLE store_users ADD COLUMN public_key TEXT;"
                   "ALTER TABLE blobs ADD COLUMN sealed_key BYTEA;"},
    /* Readers other than the owner (issue 12, store_readers.c): a message key sealed to
     * each account that may read the blob (a professional granted a patient's vault),
     * so that a reader opens it with its own secret key and never needs the owner's.
     * The rows go with the blob and with the reader's account (ON DELETE CASCADE). */
    {.version = 9,
     .sqlite = "CREATE TABLE blob_keys("
               " blob_id INTEGER NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,"
               " user_id INTEGER NOT NULL REFERENCES store_users(id) ON DELETE CASCADE,"
               " sealed_key BLOB NOT NULL,"
               " PRIMARY KEY(blob_id, user_id));"
               "CREATE INDEX blob_keys_user ON blob_keys(user_id);",
     .postgresql = "CREATE TABLE blob_keys("
                   " blob_id BIGINT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,"
                   " user_id BIGINT NOT NULL REFERENCES store_users(id) ON DELETE CASCADE,"
                   " sealed_key BYTEA NOT NULL,"
                   " PRIMARY KEY(blob_id, user_id));"
                   "CREATE INDEX blob_keys_user ON blob_keys(user_id);"},
    /* Wrapped keys bound to their account (issue 12, lib/crypto.h: "v2.", AEAD with the
     * address as associated data), so that the account key agent, which has no
     * database, cannot be handed one account's wrapped key under another's name. No
     * column changes: the step exists so that the daemons, which refuse an older
     * schema, never start on wraps of the first format; mssctl migrate (root, the
     * master key) rewrites them right after it (store_wraps_bind). */
    {.version = 10,
     .sqlite = "INSERT INTO store_counters (name, value) VALUES ('wrap_format', 2)"
               " ON CONFLICT (name) DO NOTHING;",
     .postgresql = "INSERT INTO store_counters (name, value) VALUES ('wrap_format', 2)"
                   " ON CONFLICT (name) DO NOTHING;"},
    /* URLAUTH across accounts (RFC 4467; store_urlauth_keys.c): for each URL its owner
     * signed, the message key wrapped under a key only the URL gives, found by another
     * digest of the URL. The rows go with the message (expunge, MOVE, mailbox or account
     * deleted: ON DELETE CASCADE) and with RESETKEY (store_urlauth_reset). */
    {.version = 11,
     .sqlite = "CREATE TABLE urlauth_keys("
               " id BLOB PRIMARY KEY,"
               " mailbox_id INTEGER NOT NULL,"
               " uid INTEGER NOT NULL,"
               " wrapped BLOB NOT NULL,"
               " FOREIGN KEY(mailbox_id, uid) REFERENCES messages(mailbox_id, uid) ON DELETE CASCADE);"
               "CREATE INDEX urlauth_keys_message ON urlauth_keys(mailbox_id, uid);",
     .postgresql = "CREATE TABLE urlauth_keys("
                   " id BYTEA PRIMARY KEY,"
                   " mailbox_id BIGINT NOT NULL,"
                   " uid BIGINT NOT NULL,"
                   " wrapped BYTEA NOT NULL,"
                   " FOREIGN KEY(mailbox_id, uid) REFERENCES messages(mailbox_id, uid) ON DELETE CASCADE);"
                   "CREATE INDEX urlauth_keys_message ON urlauth_keys(mailbox_id, uid);"},
    /* SELECT, STATUS and every command's catching up read a mailbox's counts (issue
     * 15): kept in its row by triggers, in the transaction of every change to messages
     * whoever writes it, instead of an aggregate over all its messages each time (22 ms
     * per command on a 100,000-message mailbox). \Recent is counted from the index
     * (store_mailbox_counts): it moves with first_recent_uid, not with the rows. */
    {.version = 12,
     .sqlite = "ALTER TABLE mailboxes ADD COLUMN n_messages INTEGER NOT NULL DEFAULT 0;"
               "ALTER TABLE mailboxes ADD COLUMN n_unseen INTEGER NOT NULL DEFAULT 0;"
               "ALTER TABLE mailboxes ADD COLUMN n_deleted INTEGER NOT NULL DEFAULT 0;"
               "ALTER TABLE mailboxes ADD COLUMN total_size INTEGER NOT NULL DEFAULT 0;"
               "ALTER TABLE mailboxes ADD COLUMN deleted_size INTEGER NOT NULL DEFAULT 0;" COUNTS_FILL
               "CREATE TRIGGER messages_counts_insert AFTER INSERT ON messages BEGIN " COUNTS_ADD_NEW " END;"
               "CREATE TRIGGER messages_counts_delete AFTER DELETE ON messages BEGIN " COUNTS_TAKE_OLD " END;"
               "CREATE TRIGGER messages_counts_update AFTER UPDATE OF flags, size, mailbox_id ON messages"
               " WHEN " COUNTS_CHANGED " BEGIN " COUNTS_TAKE_OLD " " COUNTS_ADD_NEW " END;",
     .postgresql = "ALTER TABLE mailboxes ADD COLUMN n_messages BIGINT NOT NULL DEFAULT 0,"
                   " ADD COLUMN n_unseen BIGINT NOT NULL DEFAULT 0,"
                   " ADD COLUMN n_deleted BIGINT NOT NULL DEFAULT 0,"
                   " ADD COLUMN total_size BIGINT NOT NULL DEFAULT 0,"
                   " ADD COLUMN deleted_size BIGINT NOT NULL DEFAULT 0;" COUNTS_FILL
                   "CREATE FUNCTION messages_counts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                   " IF TG_OP <> 'INSERT' THEN " COUNTS_TAKE_OLD " END IF;"
                   " IF TG_OP <> 'DELETE' THEN " COUNTS_ADD_NEW " END IF;"
                   " RETURN NULL; END $$;"
                   "CREATE TRIGGER messages_counts AFTER INSERT OR DELETE ON messages"
                   " FOR EACH ROW EXECUTE PROCEDURE messages_counts();"
                   "CREATE TRIGGER messages_counts_update AFTER UPDATE OF flags, size, mailbox_id ON messages"
                   " FOR EACH ROW WHEN (" COUNTS_CHANGED ") EXECUTE PROCEDURE messages_counts();"},
    /* PostgreSQL: 12's counts by statement (COUNTS_APPLY above); SQLite updates a row in
     * place, its row triggers stay. */
    {.version = 13,
     .sqlite = "",
     .postgresql =
         "DROP TRIGGER messages_counts ON messages;"
         "DROP TRIGGER messages_counts_update ON messages;"
         "DROP FUNCTION messages_counts();"
         "CREATE FUNCTION messages_counts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
         " IF TG_OP = 'INSERT' THEN " COUNTS_INSERTED " ELSIF TG_OP = 'DELETE' THEN " COUNTS_DELETED
         " ELSE " COUNTS_UPDATED " END IF; RETURN NULL; END $$;"
         "CREATE TRIGGER messages_counts_insert AFTER INSERT ON messages"
         " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE PROCEDURE messages_counts();"
         "CREATE TRIGGER messages_counts_delete AFTER DELETE ON messages"
         " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE PROCEDURE messages_counts();"
         "CREATE TRIGGER messages_counts_update AFTER UPDATE ON messages"
         " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
         " FOR EACH STATEMENT EXECUTE PROCEDURE messages_counts();"},
    /* SQLite: an account's blobs by their owner, as PostgreSQL had from step 1. Without
     * it each COPY or keyword STORE asked whether the account's blobs have readers
     * (store_readers.c) by a pass over every blob of the store: 25 ms at 1,000,000
     * blobs, 0.2 ms with it. */
    {.version = 14, .sqlite = "CREATE INDEX IF NOT EXISTS blobs_user ON blobs(user_id);", .postgresql = ""},
    /* A first SELECT answers from the counts without reading every message (issue 15):
     * FLAGS lists the keywords in use, found here among the messages that have any, in
     * the order of their first UID (store_select_head). */
    {.version = 15,
     .sql = "CREATE INDEX messages_keywords ON messages(mailbox_id, keywords, uid) WHERE keywords <> '';"},
    /* Small blobs in their row (issue 15, store_blob.c): the encrypted blob, in the file
     * format, when it is at most store_inline_blob_max; NULL for a blob in a file. Written
     * in the delivery's transaction, so the group commit makes it durable with the rows. */
    {.version = 16,
     .sqlite = "ALTER TABLE blobs ADD COLUMN data BLOB;",
     .postgresql = "ALTER TABLE blobs ADD COLUMN data BYTEA;"},
    /* A session's first read of a large mailbox from a snapshot of its messages and the
     * rows changed since (issue 15, store_select_snapshot.c): written by IMAP sessions
     * only, never by delivery; gone with its mailbox. */
    {.version = 17,
     .sqlite = "CREATE TABLE view_snapshots("
               " mailbox_id INTEGER PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,"
               " uidvalidity INTEGER NOT NULL,"
               " modseq INTEGER NOT NULL,"
               " uidnext INTEGER NOT NULL,"
               " data BLOB NOT NULL);",
     .postgresql = "CREATE TABLE view_snapshots("
                   " mailbox_id BIGINT PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,"
                   " uidvalidity BIGINT NOT NULL,"
                   " modseq BIGINT NOT NULL,"
                   " uidnext BIGINT NOT NULL,"
                   " data BYTEA NOT NULL);"},
    /* SELECT's first unseen message found without walking the seen ones before it
     * (issue 15, store_select.c first_unseen_locked): only the messages without \Seen
     * (STORE_FLAG_SEEN, 1; the query names the same literal, or neither engine uses it). */
    {.version = 18,
     .sql = "CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE (flags & 1) = 0;"},
    /* What each recent committer batch committed (smtpd/committer.h, store_batch_note.c):
     * one row per batch, written in its transaction, in a ring of STORE_BATCH_NOTES
     * slots, so that a session whose committer died after its COMMIT and before its
     * answer finds its delivery stored (250) instead of saying 451 of it. Queue ids
     * only, no content; PostgreSQL runs no committer and leaves it empty. */
    {.version = 19,
     .sqlite = "CREATE TABLE committer_batches("
               " slot INTEGER PRIMARY KEY,"
               " seq INTEGER NOT NULL,"
               " deliveries TEXT NOT NULL);",
     .postgresql = "CREATE TABLE committer_batches("
                   " slot BIGINT PRIMARY KEY,"
                   " seq BIGINT NOT NULL,"
                   " deliveries TEXT NOT NULL);"},
};

const struct sql_schema store_schema = {"store", store_migrations,
                                        sizeof store_migrations / sizeof store_migrations[0]};
