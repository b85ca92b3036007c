/* queue_schema.c: the queue's tables, as numbered steps (lib/sql.h).
 *
 * queue_rcpts holds only recipients still to deliver, so its index on next_attempt
 * reads the due ones first in one range scan whatever the number deferred (DESIGN.md:
 * 100,000 deferred must not slow a new message). Its primary key (qid, rcpt) also
 * serves the foreign key to queue_messages. */
#include "queue/queue_schema.h"

static const struct sql_migration queue_migrations[] = {
    {.version = 1,
     .sqlite = "CREATE TABLE queue_messages("
               " qid TEXT PRIMARY KEY,"
               " mail_from TEXT NOT NULL,"
               " account TEXT NOT NULL,"
               " size INTEGER NOT NULL,"
               " created INTEGER NOT NULL,"
               " warned INTEGER NOT NULL DEFAULT 0);"
               "CREATE INDEX queue_messages_created ON queue_messages(created);"
               "CREATE TABLE queue_rcpts("
               " qid TEXT NOT NULL REFERENCES queue_messages(qid) ON DELETE CASCADE,"
               " rcpt TEXT NOT NULL,"
               " domain TEXT NOT NULL,"
               " next_attempt INTEGER NOT NULL,"
               " attempts INTEGER NOT NULL DEFAULT 0,"
               " last_reply TEXT NOT NULL DEFAULT '',"
               " PRIMARY KEY(qid, rcpt)) WITHOUT ROWID;"
               "CREATE INDEX queue_rcpts_due ON queue_rcpts(next_attempt);",
     .postgresql = "CREATE TABLE queue_messages("
                   " qid TEXT PRIMARY KEY,"
                   " mail_from TEXT NOT NULL,"
                   " account TEXT NOT NULL,"
                   " size BIGINT NOT NULL,"
                   " created BIGINT NOT NULL,"
                   " warned INTEGER NOT NULL DEFAULT 0);"
                   "CREATE INDEX queue_messages_created ON queue_messages(created);"
                   "CREATE TABLE queue_rcpts("
                   " qid TEXT NOT NULL REFERENCES queue_messages(qid) ON DELETE CASCADE,"
                   " rcpt TEXT NOT NULL,"
                   " domain TEXT NOT NULL,"
                   " next_attempt BIGINT NOT NULL,"
                   " attempts INTEGER NOT NULL DEFAULT 0,"
                   " last_reply TEXT NOT NULL DEFAULT '',"
                   " PRIMARY KEY(qid, rcpt));"
                   "CREATE INDEX queue_rcpts_due ON queue_rcpts(next_attempt);"},
    /* the envelope's SMTPUTF8 (RFC 6531) and REQUIRETLS (RFC 8689) options, queue.h's
     * QUEUE_SMTPUTF8 and QUEUE_REQUIRETLS; messages queued before read as neither */
    {.version = 2,
     .sqlite = "ALTER TABLE queue_messages ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;",
     .postgresql = "ALTER TABLE queue_messages ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;"},
    /* DSN (RFC 3461): the transaction's RET and ENVID, each recipient's NOTIFY and
     * ORCPT (lib/dsn.h: decoded, "" and 0 when not given). Rows queued before read as
     * "no DSN parameters", which is what the defaults say. */
    {.version = 3,
     .sqlite = "ALTER TABLE queue_messages ADD COLUMN dsn_ret INTEGER NOT NULL DEFAULT 0;"
               "ALTER TABLE queue_messages ADD COLUMN dsn_envid TEXT NOT NULL DEFAULT '';"
               "ALTER TABLE queue_rcpts ADD COLUMN dsn_notify INTEGER NOT NULL DEFAULT 0;"
               "ALTER TABLE queue_rcpts ADD COLUMN dsn_orcpt TEXT NOT NULL DEFAULT '';",
     .postgresql = "ALTER TABLE queue_messages ADD COLUMN dsn_ret INTEGER NOT NULL DEFAULT 0;"
                   "ALTER TABLE queue_messages ADD COLUMN dsn_envid TEXT NOT NULL DEFAULT '';"
                   "ALTER TABLE queue_rcpts ADD COLUMN dsn_notify INTEGER NOT NULL DEFAULT 0;"
                   "ALTER TABLE queue_rcpts ADD COLUMN dsn_orcpt TEXT NOT NULL DEFAULT '';"},
    /* issue 12, a write-only queue: each message's own key sealed to the queue's public
     * key (store_queue_public_key). NULL: queued by an older MSS under the master key's
     * "mssqueue" subkey, read by nothing until mssctl migrate reseals it
     * (queue_reseal_all); the daemons refuse to start before that migrate. */
    {.version = 4,
     .sqlite = "ALTER TABLE queue_messages ADD COLUMN sealed_key BLOB;",
     .postgresql = "ALTER TABLE queue_messages ADD COLUMN sealed_key BYTEA;"},
    /* a claim's owner (queue.h "Claims"), '' for a recipient nobody holds: a flush
     * leaves a live owner's claims alone. The index holds only claimed rows, few at any
     * time, so that the owners are read without a scan of the deferred ones. */
    {.version = 5,
     .sqlite = "ALTER TABLE queue_rcpts ADD COLUMN claim_owner TEXT NOT NULL DEFAULT '';"
               "CREATE INDEX queue_rcpts_claimed ON queue_rcpts(claim_owner) WHERE claim_owner <> '';",
     .postgresql = "ALTER TABLE queue_rcpts ADD COLUMN claim_owner TEXT NOT NULL DEFAULT '';"
                   "CREATE INDEX queue_rcpts_claimed ON queue_rcpts(claim_owner) WHERE claim_owner <> '';"},
};

const struct sql_schema queue_schema = {"queue", queue_migrations,
                                        sizeof queue_migrations / sizeof queue_migrations[0]};
