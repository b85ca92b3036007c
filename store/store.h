/* store.h: mailboxes and messages, bodies encrypted at rest.
 *
 * The only way the daemons reach stored mail. Plain request/reply functions on plain
 * structs, so the store can later move behind a socket into its own process.
 *
 * Conventions for every function below:
 * - Returns 0 on success, -1 on an internal error (err filled, never content or keys),
 *   and 1 (or another documented positive value) for a refusal the client caused
 *   (no such mailbox, already exists, ...), with err saying why in plain words.
 * - "user" is a local account address (case-insensitive) made by store_user_create.
 * - Mailbox names are UTF-8, '/' is the hierarchy delimiter, "INBOX" is matched
 *   case-insensitively (and stored as "INBOX"). imapd converts modified UTF-7.
 * - A mailbox_id (from store_mailbox_get / store_select) stays valid across renames;
 *   once the mailbox is deleted, functions taking it return 1 ("no such mailbox").
 *   The store trusts its caller for access rights: imapd/policy decide who may reach
 *   which mailbox before calling.
 * - Never "database is locked": writers wait (sql_begin_write).
 * - Results that hold arrays or strings are owned by the caller and released with the
 *   matching *_free function; each *_free accepts a zeroed struct. */
#ifndef MSS_STORE_H
#define MSS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/mss_limits.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/crypto.h"

struct store;
struct msg; /* msg/msg.h: a message parsed once */

/* ---- opening, creating ---------------------------------------------------------- */

/* Opens the database: data_dir/mss.db (SQLite; never created here: a missing file
 * fails with "... run mssctl init"), or the PostgreSQL cluster named by the config key
 * store, shared by several hosts (each call bounded by store_timeout). Loads the master
 * key (master_key_file, default data_dir/keys/master.key) and refuses one that is not
 * the key the store was initialised with. Per-account keys are unwrapped on first use
 * and cached until store_close, which wipes them. Returns NULL with err.
 * Call after fork: one store per process. */
struct store *store_open(const struct mss_config *cfg, char *err, size_t errlen);
/* The same database without the master key: for a process that must never hold it
 * (the audit signer, which reads the log and writes signatures only). Any call that
 * needs an account's key fails on such a store. */
struct store *store_open_nokeys(const struct mss_config *cfg, char *err, size_t errlen);
/* store_use_agent (store/store_agent.h): for a store opened with store_open_nokeys, in
 * a process that must never hold the master key (every session process, issue 12):
 * account keys are asked, one at a time and on first need, of the account key agent
 * over this process's own channel, and cached here as usual. */
/* For a session gone idle: wipes and frees the last decrypted message and gives back
 * the database connection's page cache (SQLite; PostgreSQL's is the server's), outside a
 * transaction only. The keys stay. NULL is fine. */
void store_release_memory(struct store *st);
/* Closes the database and wipes every key held. NULL is fine. */
void store_close(struct store *st);
/* A process that serves one client after another (mss-smtpd's reused MX processes)
 * keeps its store, and so its database connection and prepared statements, instead of
 * opening it for each. After a client, store_reuse_end forgets everything of that
 * client: an open transaction (there must be none: rolled back and logged, and the
 * store is not kept), the account key agent channel and binding, the account keys,
 * the last decrypted message, the reader binding and pending notifications. Returns 0
 * when st may serve the next client, -1 when it must be closed (a transaction was
 * open, or a call on its connection failed for the connection or the engine since
 * the last store_reuse_end: it is opened afresh rather than kept broken). */
int store_reuse_end(struct store *st);
/* Before the next client on a kept store: the database answers and its schema is the
 * one the store last saw (a migration, e.g. mssctl migrate, while it was idle: the
 * store is opened afresh, so no plan or cached statement of the old schema is used).
 * Returns 0, or -1 with err: close it and open a new one. */
int store_reuse_begin(struct store *st, char *err, size_t errlen);
/* Several reads as one (a SELECT again, issue 15): a read transaction, unless one is
 * open already (*own false), so that the calls up to store_reads_end see one state of
 * the database and take its read lock once. Nothing may write in between: a write
 * there could find that state outdated. Returns 0, or -1 with err. */
int store_reads_begin(struct store *st, bool *own, char *err, size_t errlen);
void store_reads_end(struct store *st, bool own);
const struct mss_config *store_config(struct store *st);
/* A key of the master key for one service's own encrypted files (crypto_subkey; ctx:
 * exactly 8 characters naming the use): "mssqueue", the key of messages an older MSS
 * queued, which mssctl migrate reseals (queue_reseal_all). Wipe it after use. With
 * store_use_agent, the account key agent derives it for an ADMIN channel only. Returns 0, or -1 on a store
 * opened without the master key and without an agent channel. */
int store_service_key(struct store *st, const char ctx[8], unsigned char key[CRYPTO_KEY_LEN], char *err,
                      size_t errlen);
/* The outbound queue's key pair (issue 12: write-only queue), derived from the master
 * key (crypto_service_keypair). The public half, for any process that queues a
 * message; the secret half (with the public one), for the queue process and mssctl
 * only: with store_use_agent the agent refuses it to every other channel. Wipe sk
 * after use. Return 0, or -1 with err. */
#define STORE_QUEUE_KEYPAIR_CTX "mssqpair"
int store_queue_public_key(struct store *st, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], char *err,
                           size_t errlen);
int store_queue_secret_key(struct store *st, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN],
                           unsigned char sk[CRYPTO_SECRET_KEY_LEN], char *err, size_t errlen);
/* True when the store is a PostgreSQL cluster shared with other hosts. */
bool store_is_shared(const struct mss_config *cfg);
/* True when the last failed call failed for want of the database (unreachable,
 * restarting, no answer within store_timeout): a temporary condition, for replies
 * such as IMAP's NO [UNAVAILABLE] (RFC 5530) rather than a server bug. */
bool store_unavailable(struct store *st);

/* Creates data_dir (0700), keys/, run/, blob_dir (default data_dir/blobs), the master
 * key (0600) and store/'s schema. SQLite: refuses an existing data_dir/mss.db
 * ("already initialised"). PostgreSQL (store set): the first host creates the schema
 * and the key; a further host joins, and must hold the first host's master key
 * already (copied by the operator, doc/operations.md): without it, or with another
 * key, it is refused. store/ may not depend on the parts above it, so the caller
 * (mssctl init) then opens the store and creates theirs (policy_schema_migrate).
 * Returns 0 or -1 with err. */
int store_create_data_dir(const struct mss_config *cfg, char *err, size_t errlen);

/* Checks, with this process's effective ids, that data_dir exists, is initialised
 * (mss.db) and that the database, blobs/, run/ can be written and keys/master.key
 * read. Returns 0, or -1 with err giving the cause and the remedy that works ("run
 * mssctl -c FILE init" only when that would succeed; "chown -R USER DIR" when the
 * daemons' user cannot write). */
int store_check_data_dir(const struct mss_config *cfg, char *err, size_t errlen);

/* mssctl backup: writes into dir (new, or an empty folder) a copy of data_dir that is
 * one consistent state while the daemons keep running: the database (the engine's
 * online backup), the blobs it references, keys/, an empty run/, and MANIFEST (one
 * "sha256  relative/path" line per file, as sha256sum(1) writes and checks). The copy
 * is a data_dir as it stands: restoring is copying it into place (doc/operations.md).
 * Returns 0 with report filled; 1 when the database engine is not copied this way
 * (PostgreSQL: err names its own tool); -1 with err. */
struct store_backup_report {
	size_t blobs; /* blob files copied */
	size_t keys;  /* key files copied */
};
/* keys/ opened for reading before the copy: mssctl opens them while still root
 * (master.key is root's, 0400, and the backup runs as the daemons' user). */
#define STORE_BACKUP_KEYS_MAX 16
struct store_backup_keys {
	size_t n;
	int fd[STORE_BACKUP_KEYS_MAX];
	char name[STORE_BACKUP_KEYS_MAX][64];
};
/* Opens every regular file of data_dir/keys. Returns 0, or -1 with err (a file that
 * cannot be read, more than STORE_BACKUP_KEYS_MAX files). */
int store_backup_keys_open(const struct mss_config *cfg, struct store_backup_keys *k, char *err,
                           size_t errlen);
void store_backup_keys_close(struct store_backup_keys *k);
int store_backup(struct store *st, const char *dir, const struct store_backup_keys *keys,
                 struct store_backup_report *report, char *err, size_t errlen);

/* mssctl migrate, after store migration 8: every account made before gets the public
 * half of its key pair (derived from its account key: needs the master key), so that
 * mail is delivered to it under a message key of its own (store_msgkey.c). Returns 0
 * with *filled (accounts given one), or -1 with err. */
int store_keypairs_fill(struct store *st, size_t *filled, char *err, size_t errlen);
/* mssctl migrate, with the master key (store_open) or an ADMIN agent channel
 * (store_agent.h), before store_keypairs_fill: every
 * account key still wrapped in the first format (bound to no account) is wrapped
 * again for its account (lib/crypto.h), in one transaction; idempotent. *bound: how
 * many were rewritten. Returns 0, or -1 with err (nothing rewritten). */
int store_wraps_bind(struct store *st, size_t *bound, char *err, size_t errlen);

/* ---- readers other than the owner (issue 12; store_readers.c) --------------------
 * A message an account other than its owner may read (a professional granted a
 * patient's vault) has its key sealed to that reader's public key too, in a blob_keys
 * row: the reader opens it with its own secret key and never needs the owner's. Who
 * may read is not the store's rule but the vault's: the process gives it once at
 * start (store_readers_set) and the store applies it when a message is written
 * (delivery, APPEND: public keys only) and when asked to bring an account's rows in
 * line (store_readers_refresh: grant, revocation, block, mask). */
struct store_readers {
	/* Calls add(ctx, address) for each account that may read the messages of owner's
	 * mailbox now (none: the mailbox is private). Returns 0 or -1 with err. */
	int (*readers)(struct store *st, const char *owner, const char *mailbox,
	               int (*add)(void *ctx, const char *address), void *ctx, char *err, size_t errlen);
	/* true when a message with these keywords (space-separated, may be NULL) is hidden
	 * from every reader ($Masked). */
	bool (*hidden)(const char *keywords);
};
/* The rule for the whole process (NULL: no reader rows are written or refreshed). */
void store_readers_set(const struct store_readers *r);
/* What a refresh changed. */
struct store_readers_report {
	size_t added, removed;
	size_t rekeyed; /* vault_readers_fill_all: store_readers_rekey's count */
};
/* Brings the reader rows of every blob owner owns in line with the rule: a row for
 * each (message not hidden, in a mailbox with readers, written since migration 8) and
 * reader; every other row deleted. Removing needs no key; adding opens each message
 * key with the owner's key (the owner's own session, or the master key: mssctl).
 * mailbox_id > 0 limits it to that mailbox. Own write transaction, or a savepoint in
 * the caller's. Returns 0 (also for an unknown owner), -1 with err (nothing changed). */
int store_readers_refresh(struct store *st, const char *owner, int64_t mailbox_id,
                          struct store_readers_report *report, char *err, size_t errlen);
/* mssctl migrate (master key), before store_readers_refresh: each of owner's messages
 * written before migration 8 (under the account key itself, which is never sealed to
 * anyone) that the rule gives a reader is rewritten in the new form: its blob under a
 * fresh message key sealed to the owner, its metadata record sealed again under it
 * (one transaction per blob; the old file removed after). Returns 0 with *rekeyed, or
 * -1 with err (those before stay done). */
int store_readers_rekey(struct store *st, const char *owner, size_t *rekeyed, char *err, size_t errlen);
/* The removing half of store_readers_refresh alone (needs no key): rows no longer due
 * deleted, none added. Returns 0 or -1 with err. */
int store_readers_prune(struct store *st, const char *owner, struct store_readers_report *report, char *err,
                        size_t errlen);
/* The account this process reads for (a logged-in session): from then on a message
 * of another account is opened only through the reader's own blob_keys row, never with
 * the owner's key ("no key for this account" otherwise). Unbound (mssctl, delivery),
 * the owner's key is used as before. Returns 0, or -1 when address has no store side
 * (the process then opens no message at all: fails closed). */
int store_reader_bind(struct store *st, const char *address, char *err, size_t errlen);

/* Creates the store side of a new account: its wrapped key and the default mailboxes
 * INBOX, Sent (\Sent), Drafts (\Drafts), Trash (\Trash), all subscribed. Runs inside
 * the caller's write transaction if one is open. Returns 0, 1 when the account already
 * has a store side, -1 with err. */
int store_user_create(struct store *st, const char *address, char *err, size_t errlen);
/* Returns 1 when address has a store side, 0 when not, -1 on error. */
int store_user_exists(struct store *st, const char *address);

/* Files to remove once a transaction has committed (blobs nothing references). */
struct store_paths {
	char **v;
	size_t n;
};
/* Unlinks every path (errors ignored: an orphan file is harmless) and frees. */
void store_paths_unlink(struct store_paths *p);
void store_paths_free(struct store_paths *p);
/* A committer's batch (smtpd/committer.h): one write transaction for several
 * deliveries, each in the savepoint store_deliver opens inside it. store_batch_begin
 * opens it; the blob files the deliveries write are kept in the batch's list instead of
 * forgotten at their savepoint's release. store_batch_open says whether it is still
 * open (an SQLite error may have ended it: the batch then fails whole, and every write
 * of the store is refused until store_batch_end, none committing on its own).
 * store_batch_end commits when ok (0 only once the commit's group WAL sync succeeded),
 * else rolls back; the files are removed unless committed; the watchers of the
 * mailboxes are woken. Returns 0 committed, -1 with err. */
int store_batch_begin(struct store *st, char *err, size_t errlen);
/* Once on a committer's connection, before its first batch: the savepoints' journal
 * (the pages a delivery's savepoint changed, as they were, for its rollback) kept in
 * memory, not in a temporary file outside data_dir. Returns 0, -1 with err. */
int store_batch_setup(struct store *st, char *err, size_t errlen);
bool store_batch_open(struct store *st);
int store_batch_end(struct store *st, bool ok, char *err, size_t errlen);

/* What a batch committed, for the sessions of a committer that dies after its COMMIT
 * and before its answers (store_batch_note.c, store schema step 19): one row per batch
 * in its transaction, in a ring of STORE_BATCH_NOTES rows. Each delivery is noted as
 * " <queue id>:<mark>": STORE_NOTE_STORED (its rows are in: 250, filed by its session),
 * STORE_NOTE_ACCEPTED (250 with nothing stored or to file), STORE_NOTE_RECORDED (not
 * stored, but its session's kept audit records were written). */
#define STORE_BATCH_NOTES 4096
#define STORE_NOTE_STORED 's'
#define STORE_NOTE_ACCEPTED 'a'
#define STORE_NOTE_RECORDED 'r'
#define STORE_NOTE_ID_MAX 15
/* Appends one delivery to a note's text; a queue id not of 1 to STORE_NOTE_ID_MAX
 * letters and digits is left out (its session then finds nothing: 451). Returns 0, -1
 * when the text cannot grow. */
int store_batch_note_add(struct buf *text, const char *queue_id, char mark);
/* The last note's number (0: none). Returns 0 or -1 with err. */
int store_batch_note_last(struct store *st, int64_t *seq, char *err, size_t errlen);
/* Inside the batch: note number seq (the last plus one), deliveries as above. Returns 0
 * or -1 with err (the batch then fails: a commit its sessions could not find). */
int store_batch_note(struct store *st, int64_t seq, const char *deliveries, char *err, size_t errlen);
/* Whether a note holds queue_id (letters and digits): 1 with its mark, made durable
 * first (the committer may have died before its commit's sync; since: what
 * store_batch_sync_mark gave before the request was sent, sql_durable), 0 when none
 * does, -1 with err. */
int store_batch_noted(struct store *st, const char *queue_id, uint64_t since, char *mark, char *err,
                      size_t errlen);
uint64_t store_batch_sync_mark(struct store *st);

/* Deletes the store side of address inside the caller's write transaction: its
 * mailboxes, messages, subscriptions, blobs and wrapped key (without the key, a blob
 * file left behind can no longer be read). The blob files to remove are added to
 * gone: the caller unlinks them (store_paths_unlink) after its commit, or only frees
 * the list after a rollback. Sessions that have one of its mailboxes selected are
 * woken by the caller's store_notify_flush. Returns 0, 1 when address has no store
 * side, -1 with err. */
int store_user_delete(struct store *st, const char *address, struct store_paths *gone, char *err,
                      size_t errlen);

/* ---- flags ---------------------------------------------------------------------- */

/* System flags as a bitmask. \Recent is not stored (RFC 9051 dropped it); imapd may
 * report it per session. Keywords are separate: a space-separated text of atoms,
 * kept sorted and unique by the store, at most STORE_KEYWORDS_MAX bytes. */
#define STORE_FLAG_SEEN 0x01u
#define STORE_FLAG_ANSWERED 0x02u
#define STORE_FLAG_FLAGGED 0x04u
#define STORE_FLAG_DELETED 0x08u
#define STORE_FLAG_DRAFT 0x10u
#define STORE_FLAG_ALL 0x1fu
#define STORE_KEYWORDS_MAX MSS_KEYWORDS_SIZE

/* "\\Seen" -> STORE_FLAG_SEEN (case-insensitive); 0 when s is not a system flag. */
uint32_t store_flag_parse(const char *s);
/* Writes "\\Seen \\Flagged kw1 kw2" (system flags then keywords, space separated,
 * "" when none) into out. keywords may be NULL. Returns 0 or -1 when it does not fit. */
int store_flags_format(uint32_t flags, const char *keywords, char *out, size_t outlen);
/* true when s is a valid keyword atom (RFC 9051 flag-keyword: no controls, spaces,
 * "(){%*\"\\]", not starting with '\\'), at most 100 bytes. */
bool store_keyword_valid(const char *s);

/* ---- mailboxes ------------------------------------------------------------------ */

#define STORE_MAILBOX_MAX MSS_MAILBOX_NAME_SIZE /* lib/mss_limits.h */

enum store_special_use {
	STORE_SPECIAL_NONE = 0,
	STORE_SPECIAL_SENT = 0x01,   /* \Sent   (RFC 6154) */
	STORE_SPECIAL_DRAFTS = 0x02, /* \Drafts */
	STORE_SPECIAL_TRASH = 0x04,  /* \Trash  */
	STORE_SPECIAL_JUNK = 0x08,   /* \Junk   */
	STORE_SPECIAL_ARCHIVE = 0x10 /* \Archive */
};

struct store_mailbox {
	int64_t id;
	char name[STORE_MAILBOX_MAX];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq; /* >= 1; the MODSEQ of the latest change (RFC 7162) */
	unsigned special_use;   /* STORE_SPECIAL_* bits */
	bool subscribed;
	uint32_t first_recent_uid; /* messages from this UID on are \Recent (RFC 3501 2.3.2) */
	/* Filled by store_mailbox_status and store_select only (0 elsewhere): */
	uint32_t messages;
	uint32_t recent;       /* messages with UID >= first_recent_uid */
	uint32_t unseen;       /* messages without \Seen */
	uint32_t deleted;      /* messages with \Deleted */
	uint64_t total_size;   /* sum of RFC822.SIZE (STATUS SIZE, RFC 8438) */
	uint64_t deleted_size; /* ... of the messages with \Deleted (STATUS DELETED-STORAGE, RFC 9208) */
};

struct store_mailbox_list {
	struct store_mailbox *v; /* sorted by name (bytewise), INBOX first */
	size_t n;
	char **subscribed_only; /* subscribed names that have no mailbox (deleted since), sorted */
	size_t nsubscribed_only;
};

/* Lists every mailbox of user (imapd does the LIST pattern matching and derives
 * \HasChildren etc. from the names). Counts are not filled. Returns 0 or -1. */
int store_mailbox_list(struct store *st, const char *user, struct store_mailbox_list *out, char *err,
                       size_t errlen);
void store_mailbox_list_free(struct store_mailbox_list *l);

/* Looks up one mailbox by name (counts not filled). Returns 1 found, 0 not found, -1. */
int store_mailbox_get(struct store *st, const char *user, const char *name, struct store_mailbox *out,
                      char *err, size_t errlen);
/* Same by id (counts not filled). Returns 1 found, 0 gone, -1. */
int store_mailbox_get_id(struct store *st, int64_t mailbox_id, struct store_mailbox *out, char *err,
                         size_t errlen);
/* STATUS: the mailbox with its counts filled. Returns 1 found, 0 not found, -1. */
int store_mailbox_status(struct store *st, const char *user, const char *name, struct store_mailbox *out,
                         char *err, size_t errlen);

/* Creates name (special_use: STORE_SPECIAL_* or 0) with a fresh UIDVALIDITY, also
 * creating missing parents ("a/b/c" makes "a" and "a/b"). A trailing '/' is dropped.
 * Returns 0, 1 when it exists or the name is invalid (empty, "//", control
 * characters, not UTF-8, too long), -1. */
int store_mailbox_create(struct store *st, const char *user, const char *name, unsigned special_use,
                         char *err, size_t errlen);
/* Deletes name and its messages (their blobs are removed after the commit). Children,
 * if any, stay; so does its subscription (RFC 9051 6.3.4). Returns 0, 1 when it does not exist or is INBOX,
 * -1. Sessions that have it selected are woken (their mailbox_id then answers 1). */
int store_mailbox_delete(struct store *st, const char *user, const char *name, char *err, size_t errlen);
/* Renames from to to, with its children (from/x becomes to/x), keeping ids, UIDs,
 * UIDVALIDITY and subscriptions. Renaming INBOX moves its messages into a new mailbox to and leaves
 * INBOX empty (RFC 9051 6.3.6). Missing parents of to are created. Returns 0, 1 when
 * from does not exist, to (or a child's new name) exists, or to is invalid, -1. */
int store_mailbox_rename(struct store *st, const char *user, const char *from, const char *to, char *err,
                         size_t errlen);
/* Subscribes to an existing mailbox, or removes a subscription (also one whose
 * mailbox was deleted since). Returns 0, 1 when the mailbox does not exist (and, to
 * unsubscribe, the name is not subscribed either), -1. */
int store_mailbox_subscribe(struct store *st, const char *user, const char *name, bool subscribed, char *err,
                            size_t errlen);

/* \Recent (RFC 3501 2.3.2): a message is recent in the one session that first sees it
 * with the mailbox selected read-write. Atomically moves the mailbox's
 * first_recent_uid up to upto (never down) and returns its value before, so the caller
 * owns \Recent on the UIDs in [*first_recent, upto). Returns 0, 1 when the mailbox
 * is gone, -1. */
int store_recent_claim(struct store *st, int64_t mailbox_id, uint32_t upto, uint32_t *first_recent, char *err,
                       size_t errlen);

/* ---- message lists (SELECT, FETCH FLAGS, SEARCH on metadata) --------------------- */

struct store_msg {
	uint32_t uid;
	uint32_t flags; /* STORE_FLAG_* */
	uint64_t modseq;
	int64_t internaldate; /* unix time */
	uint64_t size;        /* RFC822.SIZE: octets of the stored message */
	char *keywords;       /* space-separated, NULL when none; owned by the list */
};

struct store_msglist {
	struct store_msg *v; /* ascending UID; index i is sequence number i + 1 */
	size_t n;
};
void store_msglist_free(struct store_msglist *l);

/* SELECT/EXAMINE: the mailbox (counts filled) and its messages, read in one consistent
 * snapshot with one query (no decryption): fast for 100,000 messages. list may be
 * NULL (then only the counts). Returns 1 found, 0 no such mailbox, -1. */
int store_select(struct store *st, const char *user, const char *name, struct store_mailbox *mbox,
                 struct store_msglist *list, char *err, size_t errlen);
/* Same by id (re-reading the selected mailbox). Returns 1, 0 when it was deleted, -1. */
int store_select_id(struct store *st, int64_t mailbox_id, struct store_mailbox *mbox,
                    struct store_msglist *list, char *err, size_t errlen);

/* SELECT/EXAMINE into the caller's own structure (imapd's view): the mailbox (counts
 * filled) and, in the same snapshot, fn called for each message in UID order with its
 * UID, flags, MODSEQ and keywords only (internaldate and size 0). *m and its keywords
 * (which fn may change in place, never lengthen) last for the call only; fn returns 0,
 * or -1 to stop (then -1). No list is built: 100,000 messages cost one index scan.
 * Returns 1, 0 when the mailbox does not exist (was deleted), -1. */
int store_select_scan(struct store *st, int64_t mailbox_id, struct store_mailbox *mbox,
                      int (*fn)(void *arg, struct store_msg *m), void *arg, char *err, size_t errlen);

/* A first SELECT answered without reading the messages (imapd reads them when a
 * command needs them, store_select_scan_as_of): the mailbox (counts filled) and, in the
 * same snapshot, kw called with each distinct keyword list in use, in the order of its
 * first UID (the order a pass over the messages meets them), and *first_unseen (when
 * not NULL) the sequence number of the first message without \Seen, 0 when none.
 * kw returns 0, or -1 to stop (then -1). Returns 1, 0 no such mailbox, -1. */
int store_select_head(struct store *st, int64_t mailbox_id, struct store_mailbox *mbox,
                      uint32_t *first_unseen, int (*kw)(void *arg, const char *keywords), void *arg,
                      char *err, size_t errlen);

/* How store_select_scan_as_of uses a mailbox's view snapshot (store_select_snapshot.c),
 * and what it did. */
struct store_snapshot_use {
	size_t min;     /* in: a mailbox with fewer messages gets no snapshot written */
	size_t delta;   /* in: rows changed or expunged since it beyond which a fresh one is written */
	bool used;      /* out: the snapshot was read, and only the rows changed since */
	size_t changed; /* out: those rows */
	bool written;   /* out: a fresh snapshot was written */
};

/* The messages of a mailbox as they were when its UIDNEXT was uidnext and its
 * HIGHESTMODSEQ modseq (a SELECT answered by store_select_head), read now: fn is called
 * in UID order for every message below uidnext that is still there, with its flags,
 * keywords and MODSEQ as they are now (newer than modseq when they changed since), and
 * for every one expunged since, with MODSEQ UINT64_MAX, no flags and no keywords. *m
 * lasts for the call only; fn returns 0 or -1 to stop. With use (else NULL) the
 * mailbox's snapshot is read with the rows changed since it instead of every row, and
 * a fresh one is written as use says; a snapshot found damaged part way calls fn once
 * with m NULL (forget the messages given so far: they come again). Returns 0, -1. */
int store_select_scan_as_of(struct store *st, int64_t mailbox_id, uint32_t uidnext, uint64_t modseq,
                            struct store_snapshot_use *use, int (*fn)(void *arg, struct store_msg *m),
                            void *arg, char *err, size_t errlen);

/* What store_select_lookup_as_of found: messages as store_select_scan_as_of gives them
 * (one expunged since the SELECT: MODSEQ UINT64_MAX, no flags, no keywords), each with
 * its sequence number in that SELECT's view. */
struct store_lookup {
	struct store_msglist found; /* ascending UID */
	size_t *seq;                /* found.v[i]'s */
};
struct store_uid_range {
	uint32_t lo, hi;
};
void store_lookup_free(struct store_lookup *l);

/* The messages of store_select_scan_as_of whose UIDs are in ranges (ascending,
 * disjoint), numbered, without reading every message: from the mailbox's snapshot,
 * one block of it per range, and the rows changed since (a UID FETCH of a few messages
 * after a SELECT answered from the counts, issue 15). Returns 1 with *out filled, 0
 * when it cannot answer so (no snapshot with checkpoints, more than use->delta rows
 * changed since it, damaged, the mailbox deleted: read the view), -1. */
int store_select_lookup_as_of(struct store *st, int64_t mailbox_id, uint32_t uidnext, uint64_t modseq,
                              const struct store_snapshot_use *use, const struct store_uid_range *ranges,
                              size_t nranges, struct store_lookup *out, char *err, size_t errlen);

/* What changed in a mailbox since a MODSEQ (IDLE/NOOP updates, CONDSTORE/QRESYNC):
 * changed: messages whose MODSEQ > since (new ones and flag changes), ascending UID;
 * expunged: UIDs removed with MODSEQ > since, ascending; mbox: the mailbox now
 * (counts filled). A session keeps the highestmodseq it last saw and asks with it.
 * Returns 1, 0 when the mailbox was deleted, -1. */
struct store_changes {
	struct store_mailbox mbox;
	struct store_msglist changed;
	uint32_t *expunged;
	size_t nexpunged;
};
int store_changes_since(struct store *st, int64_t mailbox_id, uint64_t since, struct store_changes *out,
                        char *err, size_t errlen);
/* Whether anything changed in mailbox_id since a session saw it at (highestmodseq,
 * uidnext): 0 when both are still the mailbox's (then store_changes_since would find
 * no row and no expunge: every writer of messages and expunged takes its MODSEQ from
 * the mailbox's counter in the same transaction, store_mailbox_bump, so no row is
 * above it), 1 when either moved or the mailbox is gone, -1. One statement, for the
 * catching up after each command of a session (issue 15). */
int store_changed_since(struct store *st, int64_t mailbox_id, uint64_t highestmodseq, uint32_t uidnext,
                        char *err, size_t errlen);
void store_changes_free(struct store_changes *c);
/* The UIDs expunged from mailbox_id with MODSEQ > since, ascending, into *uids
 * (malloc'ed, NULL when none): QRESYNC's VANISHED (EARLIER) (RFC 7162 3.2.5, 3.2.6).
 * The expunged table keeps every one until the mailbox is deleted, so the answer is
 * exact for any since. Returns 0 or -1. */
int store_expunged_since(struct store *st, int64_t mailbox_id, uint64_t since, uint32_t **uids, size_t *n,
                         char *err, size_t errlen);

/* ---- waking sessions (IDLE) ----------------------------------------------------- */

/* Wakes the watchers of the mailboxes changed inside a write transaction that the
 * caller opened itself (policy_deliver's one transaction for store, audit and
 * contacts). Call after that transaction ends; after a rollback the wake is spurious
 * but harmless. Changes made outside a caller's transaction wake at once. */
void store_notify_flush(struct store *st);
/* Wakes the watchers of mailbox_id as a change of it would, though it did not change:
 * for what they must look at again that is not the mailbox's (vault_access: a read
 * access withdrawn). Inside a transaction, at store_notify_flush as above. */
void store_wake(struct store *st, int64_t mailbox_id);

/* After each commit that changes a mailbox (deliver, append, copy/move into it,
 * expunge, flags, delete, rename) the store touches data_dir/run/mbox-<id>.
 * store_watch_open returns a non-blocking inotify descriptor (close-on-exec) that
 * becomes readable when that happens; the session polls it beside its socket, then
 * calls store_watch_drain and store_changes_since. No database polling loop.
 * When the mailbox is deleted the fd wakes one last time and store_changes_since
 * then answers 0 (gone). Returns the fd, or -1 with err. */
int store_watch_open(struct store *st, int64_t mailbox_id, char *err, size_t errlen);
/* Reads and discards the pending events (never blocks). Returns 1 when there were any,
 * 0 when none, -1 on error. */
int store_watch_drain(int fd);
void store_watch_close(int fd);
/* NOTIFY (RFC 5465) watches every mailbox at once: the descriptor wakes after the same
 * commits as above (and mailbox creation and subscription changes), in any mailbox of
 * any account: SQLite, an inotify watch on data_dir/run itself; a shared store, a
 * connection listening on the channel mss_mbox_all, where each change is also sent
 * with the mailbox id as payload. Closed with store_watch_close. Returns the fd, or -1
 * with err. */
int store_watch_all_open(struct store *st, char *err, size_t errlen);
/* The outbound queue's wake-up: queue_put calls store_queue_notify once its rows are
 * committed, and the queue process polls store_queue_watch_open's descriptor (drained
 * with store_watch_drain, closed with store_watch_close) instead of waiting for its next
 * look. A lost or early wake-up only delays a message to that next look. Inside a
 * transaction (queue_put in the caller's), at store_notify_flush after the commit. */
void store_queue_notify(struct store *st);
int store_queue_watch_open(struct store *st, char *err, size_t errlen);
/* An account's credentials changed (disabled, deleted, password replaced): wakes the
 * sessions logged in to it, which read the account again and end when it is no longer
 * what they logged in to (imapd: imap_kick.c). Like a mailbox's wake: inside a write
 * transaction, at store_notify_flush after the commit (a session woken before the
 * commit would find nothing changed and sleep on); best effort, a lost wake leaves the
 * end to the session's own next look. SQLite: data_dir/run/account/<digest> touched;
 * a shared store: NOTIFY mss_acct_<digest>, the digest 16 hex digits of a BLAKE2b of
 * the lowercase address (no address in a file name or channel). */
void store_account_wake(struct store *st, const char *address);
/* The descriptor a session of address polls (drained with store_watch_drain, closed
 * with store_watch_close): an inotify watch on that file, or on a shared store a
 * LISTEN on that channel (on the process's one watch connection, shared with its
 * other watches: store_watch.c). Returns the fd, or -1 with err. */
int store_account_watch_open(struct store *st, const char *address, char *err, size_t errlen);
/* Drains it (never blocks): the ids of the mailboxes changed, at most max into ids
 * (*n); *more when there were more, or some may have been lost (look at every one).
 * Returns 1 when anything happened, 0 when nothing, -1 on error. */
int store_watch_all_drain(int fd, int64_t *ids, size_t max, size_t *n, bool *more);
/* Whether mailbox_id belongs to user (so that a watcher of all mailboxes reads only
 * its own): 1 yes, 0 no or gone, -1 with err. */
int store_mailbox_owned_by(struct store *st, int64_t mailbox_id, const char *user, char *err, size_t errlen);

/* ---- URLAUTH (RFC 4467) ----------------------------------------------------------- */

#define STORE_URLAUTH_KEY_LEN 32
/* The access key of owner's mailbox (mb filled, counts not), derived from the owner's
 * key, the mailbox id and its key generation (store_urlauth.c): the same until
 * store_urlauth_reset. Returns 1, 0 no such account or mailbox, -1. */
int store_urlauth_key(struct store *st, const char *owner, const char *mailbox, struct store_mailbox *mb,
                      unsigned char key[STORE_URLAUTH_KEY_LEN], char *err, size_t errlen);
/* RESETKEY: a new key for owner's mailbox, or for all of them when mailbox is NULL.
 * Returns 1, 0 no such mailbox, -1. */
int store_urlauth_reset(struct store *st, const char *owner, const char *mailbox, char *err, size_t errlen);

/* Across accounts (store_urlauth_keys.c): an authorized URL of the INTERNAL mechanism,
 * as signed (u->rump: the URL up to and with ";urlauth=<access>") and its token. */
#define STORE_URLAUTH_ACCESS_MAX 320 /* "user+" and the longest address */
struct store_urlauth_url {
	int64_t mailbox_id;
	uint32_t uid;
	const char *access; /* "user+NAME" or "authuser", as in the URL */
	const char *rump;
	size_t rump_len;
	const char *token;
};
#define STORE_URLAUTH_FULL 2
struct store_body;
/* Inside the owner's session, once the token is made: the message key wrapped under a
 * key derived from the authorized URL, so that any session holding the URL opens the
 * message without the owner's key. At most max rows per account. Returns 1 (written,
 * or there already), 0 (no such message, or one stored before migration 8: only the
 * owner's sessions resolve it), STORE_URLAUTH_FULL (max reached, nothing written), -1. */
int store_urlauth_grant(struct store *st, const struct store_urlauth_url *u, unsigned max, char *err,
                        size_t errlen);
/* Any session: the message u names opened with the key its URL unwraps (the caller
 * checked the access). Returns 1 with *out, 0 (no row for this exact URL: never signed,
 * changed, reset, expunged; or it does not open), -1. */
int store_urlauth_open(struct store *st, const struct store_urlauth_url *u, struct store_body **out,
                       char *err, size_t errlen);

/* ---- QUOTA (RFC 9208) ------------------------------------------------------------ */

/* The octets (sum of RFC822.SIZE) and number of messages of every mailbox of user.
 * Returns 0 (0 and 0 for an account without mailboxes yet), -1. */
int store_quota_usage(struct store *st, const char *user, uint64_t *octets, uint64_t *messages, char *err,
                      size_t errlen);
/* The octets of the listed UIDs of mailbox_id (a UID no longer there counts 0): what
 * a COPY would add. Returns 0 or -1. */
int store_uids_size(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n, uint64_t *octets,
                    char *err, size_t errlen);

/* ---- sessions' views, and expunged messages kept for them ----------------------- */

/* A message expunged by one session stays readable (store_message_get,
 * store_body_open) by the others until each has been told of the expunge (RFC 9051
 * 7.5.1 lets no EXPUNGE be sent during FETCH, STORE or SEARCH). A session registers
 * its view with store_view_open *before* it reads the mailbox's message list, and
 * reports with store_view_seen the HIGHESTMODSEQ up to which it has sent every
 * EXPUNGE; rows no live view still needs are purged then (and on close, and after
 * each EXPUNGE). A view that cannot be opened only loses the guarantee: the session
 * may get NO [EXPUNGEISSUED] as before. One host: see store_view.c. */
struct store_view;
/* Returns 0 with *out (to close with store_view_close), -1 with err. */
int store_view_open(struct store *st, int64_t mailbox_id, struct store_view **out, char *err, size_t errlen);
/* NULL v is fine. Returns 0, or -1 when the purge failed (err; retried next time). */
int store_view_seen(struct store *st, struct store_view *v, uint64_t modseq, char *err, size_t errlen);
/* Frees v (NULL is fine), then purges what it held back. Returns 0 or -1 with err. */
int store_view_close(struct store *st, struct store_view *v, char *err, size_t errlen);
/* Removes the expunged messages of mailbox_id that no live view still needs, with
 * their blobs when no other row uses them. Returns 0 or -1. */
int store_retained_purge(struct store *st, int64_t mailbox_id, char *err, size_t errlen);

/* mssctl migrate: seals the cached metadata of every message stored in plaintext by
 * an older MSS (store migration 6), then rewrites the database so no page of the old
 * form remains. Idempotent. Returns 0 with *sealed rows, or -1. */
int store_meta_seal_all(struct store *st, size_t *sealed, char *err, size_t errlen);

/* ---- one message's cached metadata (FETCH ENVELOPE, BODYSTRUCTURE, ...) ---------- */

#define STORE_WANT_ENVELOPE 0x01u
#define STORE_WANT_BODYSTRUCTURE 0x02u /* extensible form (BODYSTRUCTURE) */
#define STORE_WANT_BODY 0x04u          /* non-extensible form (FETCH BODY) */
#define STORE_WANT_REFS 0x08u          /* References (THREAD) */
#define STORE_WANT_LIVE 0x10u          /* not an expunged message still kept for a session */

struct store_message {
	struct store_msg msg; /* keywords owned by this struct */
	int64_t sent_date;    /* Date: as unix time; 0 when missing or unparsable */
	int64_t sent_local;   /* Date: the sender's wall clock read as UTC (SENTON compares days in the
	                         message's own zone, RFC 3501 6.4.4) */
	uint64_t header_size; /* octets of the header block, blank line included */
	/* Ready-to-send IMAP text (RFC 9051 7.5.2 syntax, imap/), NULL unless asked for: */
	char *envelope;      /* "(\"date\" \"subject\" ((...)) ...)" */
	char *bodystructure; /* "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 12 1 ...)" */
	char *body;
	char *refs; /* References, unfolded; NULL when absent or not asked for */
};
/* Reads the cached metadata of (mailbox_id, uid); want: STORE_WANT_* bits. ENVELOPE,
 * BODYSTRUCTURE, BODY and References are kept sealed under the owner's key
 * (store_meta.c): one small decryption when want asks for any of them, none
 * otherwise (and the whole message once for a message stored before migration 4). An
 * expunged message is found while kept for a session (store_view_open), unless want
 * has STORE_WANT_LIVE. Returns 1 found, 0 no such message (expunged), -1. */
int store_message_get(struct store *st, int64_t mailbox_id, uint32_t uid, unsigned want,
                      struct store_message *out, char *err, size_t errlen);
void store_message_free(struct store_message *m);

/* ---- a message's octets (FETCH BODY[...], BINARY, SEARCH on text) -------------- */

/* One message opened for reading: its size, its MIME part tree (imap/imap_mime.h:
 * where each part's header and body lie) and its encrypted blob. Opening costs one
 * indexed lookup and no decryption; reading decrypts the blob from its start and
 * gives out only the octets asked for, so a section of a large message never holds
 * the message in memory. A small message (at most STORE_BODY_CACHE octets) is
 * decrypted once and kept for the next reads (several sections of one FETCH). */
#define STORE_BODY_CACHE (1024 * 1024)
struct store_body;
struct imap_part;
/* Returns 1 with *out, 0 when there is no such message, -1 with err. A message stored
 * before its part tree was kept is analysed once, and its row completed. */
int store_body_open(struct store *st, int64_t mailbox_id, uint32_t uid, struct store_body **out, char *err,
                    size_t errlen);
uint64_t store_body_size(const struct store_body *b);
const struct imap_part *store_body_parts(const struct store_body *b);
/* The mailbox's HIGHESTMODSEQ and UIDNEXT as of the message's read (the same statement,
 * one snapshot): what store_changed_since would compare, without a statement of its own. */
void store_body_mailbox_stamp(const struct store_body *b, uint64_t *highestmodseq, uint32_t *uidnext);
/* Gives the octets [off, off + len) (clipped to the message) to sink, in pieces; sink
 * returns 0 to go on, non-zero to stop (store_body_read then returns 0). Returns 0, or
 * -1 when the blob is missing, truncated or altered (err; the octets already given
 * came from authenticated chunks, but the caller cannot finish a literal it started:
 * it ends the session). */
int store_body_read(struct store_body *b, uint64_t off, uint64_t len,
                    int (*sink)(void *arg, const char *p, size_t n), void *arg, char *err, size_t errlen);
/* The whole message into out (SEARCH on text, tests). Returns 0 or -1. */
int store_body_read_all(struct store_body *b, struct buf *out, char *err, size_t errlen);
void store_body_close(struct store_body *b);

/* ---- writing messages ----------------------------------------------------------- */

/* One message to several local accounts. */
struct store_delivery {
	const char *mail_from;    /* envelope sender ("" for <>) */
	const char *const *rcpts; /* account addresses (local, existing) */
	size_t nrcpt;
	const char *mailbox; /* NULL = "INBOX"; created (with parents) when missing */
	const char *data;    /* the full message as it is stored (CRLF lines) */
	size_t len;
	int64_t internal_date; /* unix time; 0 = now */
	const char *flags;     /* initial flags and keywords, e.g. "\\Seen $Masked" (NULL = none) */
	/* Runs inside the delivery's write transaction, after the rows are inserted and
	 * before the commit (NULL = none): the caller's own records (audit, contacts)
	 * commit with the message, while the blobs are written and fsynced before the
	 * lock is taken. Non-zero rolls the whole delivery back (err filled). */
	int (*in_transaction)(void *arg, char *err, size_t errlen);
	void *in_transaction_arg;
	/* The caller's parse of exactly data (msg/), when it has one. Not read by the
	 * store: ENVELOPE, BODYSTRUCTURE and the part tree come from imap/'s one streamed
	 * pass, whose part boundaries are the ones IMAP clients expect (Dovecot's reading
	 * of RFC 2046), which libetpan's tree does not give on malformed MIME. */
	const struct msg *parsed;
};
/* Stores the message for every recipient: encrypted, fsynced, renamed, then one
 * database commit for all. Durable when it returns 0 (SMTP may then say 250).
 * On -1 nothing remains (no row, no file). uids_out (may be NULL) gets each
 * recipient's new UID. ENVELOPE/BODYSTRUCTURE are computed here, once. Wakes the
 * sessions watching each mailbox. Called inside the caller's open transaction, the
 * rows join it (savepoint): durable and visible only at the caller's commit, and the
 * watchers are woken too early, so daemons call it with no transaction open. */
int store_deliver(struct store *st, const struct store_delivery *d, uint32_t *uids_out, char *err,
                  size_t errlen);
/* store_deliver in two steps, for a caller that commits several deliveries in one
 * transaction (smtpd's committer) and keeps its write lock for the rows only:
 * store_deliver_prepare, before the transaction, does everything that needs no row
 * given out in it (the MIME analysis, the message key sealed to each recipient's public
 * key, the sealed metadata, the encrypted blob, a large one written and fsynced); d's
 * data may be freed after it, its rcpts and in_transaction must live until the rows.
 * Returns 0 with *out, or -1 with err and nothing written. store_deliver_rows, in the
 * transaction (a savepoint of the caller's), inserts the rows as store_deliver does;
 * on -1 the blob files are removed. store_deliver_free frees p (NULL is fine) and
 * removes the blob files of a delivery whose rows were never stored. */
struct store_prepared;
int store_deliver_prepare(struct store *st, const struct store_delivery *d, struct store_prepared **out,
                          char *err, size_t errlen);
int store_deliver_rows(struct store *st, struct store_prepared *p, uint32_t *uids_out, char *err,
                       size_t errlen);
void store_deliver_free(struct store *st, struct store_prepared *p);
/* The blob sweep (store_blob_sweep.c): removes the blob files no row names that are
 * older than min_age seconds (the file's modification time), and lib/crypto's temporary
 * blob files as old: what a process killed between a blob's write and its row's commit
 * (a committer mid-batch, a session, a filing) left behind. The age keeps every
 * delivery, APPEND, filing or migration still in flight: their files are younger, and
 * their rows not yet committed. Only files named as blobs, in blob_dir's two-digit
 * directories, are looked at (never queue/).
 *
 * A round goes through the directories 00..ff, each in name order, in passes of at most
 * max_files names each, so that a daemon's pass between two batches of its own work
 * holds nothing long; where to go on is in a struct store_sweep (zeroed: the start). */
#define STORE_SWEEP_NAME_MAX 48 /* a blob's name or a temporary file's, with room */
struct store_sweep {
	unsigned dir;                     /* the next directory, 0..255 (00..ff) */
	char after[STORE_SWEEP_NAME_MAX]; /* in it, the last name looked at; "" none yet */
};
struct store_sweep_opts {
	unsigned min_age; /* seconds: store_blob_sweep_age */
	size_t max_files; /* names looked at in one pass at most; 0: the rest of the round */
	bool dry_run;     /* remove nothing, report what would go */
	/* called with each file's path as it goes (or would go); may be NULL */
	void (*each)(void *arg, const char *path);
	void *arg;
};
struct store_sweep_report {
	size_t looked;   /* blob and temporary file names looked at */
	size_t removed;  /* removed (dry run: that would be) */
	size_t failed;   /* that could not be removed (err names the first) */
	bool round_done; /* the pass reached ff's end: the next one starts at 00 again */
};
/* One pass from *sw, which it moves on. Returns 0, or -1 with err naming the path and
 * why: blob_dir or one of its directories unreadable, a file that could not be removed
 * (the pass goes on past it and reports the first), the database unreachable (the pass
 * stops there, and the next one starts again at that name). What was removed stays
 * removed. A blob_dir not made yet (no large blob ever) is an empty round. */
int store_blob_sweep_pass(struct store *st, struct store_sweep *sw, const struct store_sweep_opts *o,
                          struct store_sweep_report *r, char *err, size_t errlen);

/* APPEND (RFC 9051 6.3.12, UIDPLUS APPENDUID, RFC 3502 MULTIAPPEND), streamed: each
 * message goes to its encrypted blob (and through the MIME analysis) as it arrives,
 * never whole in memory; the rows of all the command's messages commit together. */
struct store_appender;
/* Opens an append into user's mailbox. Returns 0 with *out, 1 when the mailbox does not
 * exist (imapd answers NO [TRYCREATE]; err says why), -1. */
int store_append_begin(struct store *st, const char *user, const char *mailbox, struct store_appender **out,
                       char *err, size_t errlen);
/* Starts one message. internal_date 0 = now; keywords space-separated (NULL = none).
 * Returns 0, 1 when a keyword is invalid, -1. */
int store_append_message(struct store_appender *a, uint32_t flags, const char *keywords,
                         int64_t internal_date, char *err, size_t errlen);
/* Adds octets to the current message. Returns 0 or -1. */
int store_append_write(struct store_appender *a, const void *p, size_t n, char *err, size_t errlen);
/* Ends the current message: its blob is durable (fsynced, renamed). Returns 0 or -1. */
int store_append_end(struct store_appender *a, char *err, size_t errlen);
/* Inserts every message in one transaction (all or none, RFC 3502) and frees a:
 * *uidvalidity, and the new UIDs in uids (n of them, ascending, malloc'ed). Returns 0,
 * 1 when the mailbox vanished meanwhile, -1; on failure nothing remains. */
int store_append_commit(struct store_appender *a, uint32_t *uidvalidity, uint32_t **uids, size_t *n,
                        char *err, size_t errlen);
/* Gives up: the blobs written are removed. NULL is fine. */
void store_append_abort(struct store_appender *a);

/* COPY / MOVE (RFC 9051 6.4.7, RFC 6851, UIDPLUS COPYUID). */
struct store_copy_result {
	uint32_t dst_uidvalidity;
	uint32_t *src_uids; /* the source UIDs actually copied (ascending) */
	uint32_t *dst_uids; /* their new UIDs, same order */
	size_t n;
	uint32_t *expunged; /* MOVE: source UIDs removed (same as src_uids) */
	size_t nexpunged;
};
/* Copies the listed UIDs of src_mailbox_id (UIDs that no longer exist are skipped)
 * into dst_user's mailbox dst_name, keeping flags, keywords and INTERNALDATE, in one
 * transaction. move: the source messages are then expunged in the same transaction.
 * The copy shares the source's encrypted blob (reference counted) when both mailboxes
 * belong to the same account, and is re-encrypted under the other account's key
 * otherwise. Returns 0, 1 when the destination does not exist (TRYCREATE) or the
 * source mailbox is gone, -1. */
int store_copy(struct store *st, int64_t src_mailbox_id, const uint32_t *uids, size_t n, const char *dst_user,
               const char *dst_name, bool move, struct store_copy_result *res, char *err, size_t errlen);
void store_copy_result_free(struct store_copy_result *r);

/* STORE / UID STORE (RFC 9051 6.4.6, RFC 7162 UNCHANGEDSINCE). */
enum store_flags_op { STORE_FLAGS_REPLACE, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };
struct store_flags_req {
	enum store_flags_op op;
	uint32_t flags;          /* STORE_FLAG_* */
	const char *keywords;    /* space-separated, NULL = none */
	uint64_t unchangedsince; /* 0 = no condition */
};
struct store_flags_result {
	struct store_msglist updated; /* messages whose flags changed, with new flags and MODSEQ */
	uint32_t *failed;             /* UNCHANGEDSINCE failures (MODIFIED response code) */
	size_t nfailed;
	uint64_t highestmodseq; /* of the mailbox after the command */
};
/* Applies req to the listed UIDs of mailbox_id in one transaction; messages whose
 * flags do not change keep their MODSEQ; those changed get one new MODSEQ. UIDs
 * that do not exist are skipped. Returns 0, 1 when the mailbox is gone or a keyword
 * is invalid, -1. */
int store_set_flags(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
                    const struct store_flags_req *req, struct store_flags_result *res, char *err,
                    size_t errlen);
void store_flags_result_free(struct store_flags_result *r);

/* EXPUNGE / UID EXPUNGE (RFC 4315): removes the messages with \Deleted, all of them
 * when uids is NULL, else only those listed. expunged (may be NULL) gets the removed
 * UIDs, ascending (malloc'ed, caller frees). Blobs no longer referenced are removed
 * after the commit. Returns 0, 1 when the mailbox is gone, -1. */
int store_expunge(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n, uint32_t **expunged,
                  size_t *nexpunged, char *err, size_t errlen);

/* ---- what is computed once per message (imap/ builders) -------------------------- */

struct store_mime_info {
	char *envelope;
	char *bodystructure;
	char *body;
	int64_t sent_date, sent_local;
	uint64_t header_size;
	char *refs;       /* References, unfolded (THREAD), NULL when absent */
	struct buf parts; /* the part tree, stored form (imap_parts_serialize) */
};
/* The ENVELOPE, BODYSTRUCTURE, BODY, part tree, dates and References of a message, in
 * one streamed pass (imap_mime). Never fails: any octets have a structure. */
void store_mime_build(const char *data, size_t len, struct store_mime_info *out);
struct store_mime_stream;
struct store_mime_stream *store_mime_stream_new(void);
void store_mime_stream_feed(struct store_mime_stream *ms, const void *p, size_t n);
/* Ends the input, fills out, frees ms. */
void store_mime_stream_finish(struct store_mime_stream *ms, struct store_mime_info *out);
void store_mime_info_free(struct store_mime_info *mi);

#endif
