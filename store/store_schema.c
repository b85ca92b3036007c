/* store_schema.c: the store's tables, as numbered migrations (lib/sql.h). Steps in
 * SQLite's own dialect sit in .sqlite; PostgreSQL's DDL goes beside them.
 *
 * Indexes are chosen for 100,000-message mailboxes: SELECT and FETCH 1:* FLAGS read
 * messages by (mailbox_id, uid) in one range scan; IDLE/CONDSTORE read by
 * (mailbox_id, modseq); expunge finds unreferenced blobs by blob_id. */
#include "store/store_sql.h"

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
               "UPDATE mailboxes SET first_recent_uid = uidnext;"},
    /* What FETCH and SEARCH need without reading the message: the MIME part tree
     * (where each section lies, imap/imap_mime.h), the Date as the sender's wall clock
     * (SENTON in the message's own zone) and References (THREAD). Rows stored before
     * have parts NULL and are completed the first time they are read. */
    {.version = 4,
     .sql = "ALTER TABLE messages ADD COLUMN parts BLOB;"
            "ALTER TABLE messages ADD COLUMN sent_local INTEGER NOT NULL DEFAULT 0;"
            "ALTER TABLE messages ADD COLUMN refs TEXT;"},
};

const struct sql_schema store_schema = {"store", store_migrations,
                                        sizeof store_migrations / sizeof store_migrations[0]};
