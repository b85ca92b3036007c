/* store_int.h: what the store's files share among themselves (never included outside
 * store/ and its unit tests). */
#ifndef MSS_STORE_INT_H
#define MSS_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/sql.h"
#include "store/store.h"

#define STORE_BLOB_NAME_LEN 33 /* 16 random bytes as hex + NUL */

struct store_key {
	int64_t user_id;
	unsigned char key[CRYPTO_KEY_LEN];
	/* the key pair derived from key (store_user_pair), on first need */
	bool has_pair;
	unsigned char pk[CRYPTO_PUBLIC_KEY_LEN];
	unsigned char sk[CRYPTO_SECRET_KEY_LEN];
};

/* The last small message decrypted, so that several FETCH sections of one message
 * cost one decryption. Keyed by blob name (blobs never change). */
struct store_cache {
	char blob[STORE_BLOB_NAME_LEN];
	struct buf data;
	bool valid;
};

#define STORE_PENDING_NOTIFY_MAX 128

struct store {
	struct sql *sql; /* the process's connection (store_sql.h gives it to the data parts) */
	struct mss_config cfg;
	unsigned char master[CRYPTO_KEY_LEN];
	int has_master; /* 0: opened with store_open_nokeys, no account key can be made or read */
	/* without the master key: account keys from the account key agent (store_use_agent) */
	bool use_keyring;
	int agent_fd;            /* this process's channel to the agent; -1 without, or once refused */
	bool agent_gone;         /* the agent died or did not answer in time (it is being
	                            restarted, lib/keeper.h): store_unavailable from then on */
	bool agent_bound;        /* store_agent_bind: one account's key only (the first) */
	char agent_account[256]; /* that account, lowercased, once asked */
	struct store_key *keys;
	size_t nkeys;
	int64_t reader_id; /* store_reader_bind: the account this process reads for, 0 none */
	struct store_cache cache;
	/* Mailboxes changed inside a transaction the caller owns: their watchers are woken
	 * by store_notify_flush once that transaction has committed. */
	int64_t pending_notify[STORE_PENDING_NOTIFY_MAX];
	size_t npending_notify;
	/* the blob files written inside a committer's batch (store_batch_begin) */
	struct store_paths batch_written;
	bool in_batch;
	/* store_account_wake inside a transaction: the account (lowercase) whose sessions
	 * store_notify_flush wakes after the commit; "" when none */
	char pending_account[256];
	/* store_queue_notify inside a transaction on SQLite: store_notify_flush wakes the
	 * queue process after the commit (PostgreSQL sends its NOTIFY at the commit) */
	bool pending_queue;
	/* store_reuse_end/begin: the connection's fault count at the last client's end, and
	 * the schema's stamp then (store.c schema_stamp; -1 before the first) */
	unsigned long reuse_faults;
	int64_t reuse_schema;
};

/* struct store_paths (store.h): a blob a transaction wrote or made unreferenced,
 * removed after rollback or commit. */
void store_paths_add(struct store_paths *p, const char *path);
/* After a failed transaction: unlinks the blobs it wrote, unless the failure was a
 * lost connection at commit (the commit may have taken effect): then only frees. */
void store_paths_discard(struct store *st, struct store_paths *p);

/* store.c: a write transaction of our own, or a savepoint inside the caller's
 * (store_user_create runs inside directory's account creation). */
struct store_txn {
	bool own;
};
int store_txn_begin(struct store *st, struct store_txn *t, char *err, size_t errlen);
/* rc == 0: commits (or releases); else rolls back. Returns rc, or -1 when the commit
 * failed. */
int store_txn_end(struct store *st, struct store_txn *t, int rc, char *err, size_t errlen);
/* Begins a deferred read transaction when none is open (consistent snapshot). */
int store_read_begin(struct store *st, struct store_txn *t, char *err, size_t errlen);
void store_read_end(struct store *st, struct store_txn *t);

/* store_user.c */
/* Returns 1 with *user_id, 0 unknown, -1. */
int store_user_id(struct store *st, const char *address, int64_t *user_id, char *err, size_t errlen);
/* The account's unwrapped key (cached). Returns 0 or -1. */
int store_user_key(struct store *st, int64_t user_id, unsigned char key[CRYPTO_KEY_LEN], char *err,
                   size_t errlen);
/* The account's key pair (derived from its key once, then cached with it). Returns 0
 * or -1. */
int store_user_pair(struct store *st, int64_t user_id, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN],
                    unsigned char sk[CRYPTO_SECRET_KEY_LEN], char *err, size_t errlen);
/* Returns the next UIDVALIDITY (strictly increasing, seeded from the clock). */
int store_next_uidvalidity(struct store *st, uint32_t *out, char *err, size_t errlen);

/* store_msgkey.c: the key a message's blob and metadata are under (write-only
 * delivery, issue 12). A reference to it, as its blobs row holds it: */
struct store_keyref {
	int64_t blob_id;                             /* its blobs row (a reader's blob_keys) */
	int64_t user_id;                             /* the blob's owner */
	unsigned char sealed[CRYPTO_SEALED_KEY_LEN]; /* the message key sealed to the owner */
	bool has_sealed;                             /* false: written before, the account key */
	/* the key already opened by other means (a URLAUTH URL, store_urlauth_open): used
	 * as it is, whoever the process reads for */
	bool has_open;
	unsigned char open_key[CRYPTO_KEY_LEN];
};
/* Reads the owner (user_col), sealed_key (sealed_col, NULL allowed) and blob id
 * (blob_col) of a row. Returns 0, or -1 when the sealed key has the wrong length. */
int store_keyref_read(struct sql_stmt *q, int user_col, int sealed_col, int blob_col, struct store_keyref *r,
                      char *err, size_t errlen);
/* The key r stands for: the sealed message key opened with the owner's secret key, or
 * the account key; for a process bound to another reader (store_reader_bind), that
 * reader's blob_keys row opened with the reader's secret key, or -1. Needs the account
 * key of the owner or of the reader (master key or agent). Returns 0 or -1. */
int store_content_key(struct store *st, const struct store_keyref *r, unsigned char key[CRYPTO_KEY_LEN],
                      char *err, size_t errlen);
/* The same with the owner's key whoever the process reads for: sealing a message key to
 * its readers is the owner's act (store_readers_refresh: the patient's own session,
 * mssctl). Returns 0 or -1. */
int store_owner_content_key(struct store *st, const struct store_keyref *r, unsigned char key[CRYPTO_KEY_LEN],
                            char *err, size_t errlen);
/* A new message's key for user_id, and its form sealed to the account's public key:
 * needs no secret. Returns 0, or -1 (no key pair yet: "run mssctl migrate"). */
struct store_msgkey {
	unsigned char key[CRYPTO_KEY_LEN];
	unsigned char sealed[CRYPTO_SEALED_KEY_LEN];
};
int store_msgkey_new(struct store *st, int64_t user_id, struct store_msgkey *mk, char *err, size_t errlen);
/* The same from the public key itself. */
int store_msgkey_seal(const unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], struct store_msgkey *mk, char *err,
                      size_t errlen);
/* store_user_id and store_msgkey_new in one statement (a delivery's recipient).
 * Returns 1 with *user_id and *mk, 0 when address has no store side, -1. */
int store_msgkey_for(struct store *st, const char *address, int64_t *user_id, struct store_msgkey *mk,
                     char *err, size_t errlen);
/* user_id's public key (store_users.public_key). Returns 0, or -1 (none yet: "run
 * mssctl migrate", or damaged). */
int store_public_key(struct store *st, int64_t user_id, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], char *err,
                     size_t errlen);
void store_msgkey_wipe(struct store_msgkey *mk);
/* The public key of the pair derived from account, as hex (65 octets). Returns 0 or -1. */
int store_public_key_hex(const unsigned char account[CRYPTO_KEY_LEN], char *out, size_t outlen);

/* store_readers.c: the reader's own row for r's blob opened with its secret key
 * (store_content_key when the process reads for an account that is not r's owner).
 * Returns 0, or -1 with err (no row: not granted, masked or revoked). */
int store_reader_key(struct store *st, const struct store_keyref *r, unsigned char key[CRYPTO_KEY_LEN],
                     char *err, size_t errlen);
/* Before a literal is announced: 0 when this process may open r's key (its owner, or
 * a reader with a row), -1 with err otherwise (no secret used). */
int store_reader_check(struct store *st, const struct store_keyref *r, char *err, size_t errlen);
/* Inside the write transaction of a new message row: seals its content key to every
 * reader the rule gives its mailbox (public keys only); the mailbox's owner and name
 * are read only when m does not give them. Returns 0 or -1. */
struct store_new_msg;
int store_readers_seal_new(struct store *st, const struct store_new_msg *m, char *err, size_t errlen);
/* Inside a write transaction: store_readers_refresh of mailbox_id's owner, limited to
 * that mailbox (a keyword changed: $Masked). Returns 0 or -1. */
int store_readers_refresh_mailbox(struct store *st, int64_t mailbox_id, char *err, size_t errlen);
/* The blobs of owner written before migration 8 (under the account key) that the rule
 * would give a reader: store_readers_rekey's work. *ids malloc'ed. Returns 0 or -1. */
int store_readers_old_blobs(struct store *st, int64_t owner_id, const char *owner, int64_t **ids, size_t *n,
                            char *err, size_t errlen);
/* After messages were expunged (inside the transaction): removes the reader rows of
 * those blobs that no live message uses, even while `retained` keeps them. */
int store_readers_drop_unused(struct store *st, const int64_t *blob_ids, size_t n, char *err, size_t errlen);

/* store_body.c: store_body_open for a message whose key the caller opened (a URLAUTH
 * URL): no reader row is asked for. A message stored before its part tree was kept is
 * not found (0). Returns 1 with *out, 0, -1. */
int store_body_open_key(struct store *st, int64_t mailbox_id, uint32_t uid,
                        const unsigned char key[CRYPTO_KEY_LEN], struct store_body **out, char *err,
                        size_t errlen);

/* store.c: the master key's check value (kept in store_counters), and the comparison
 * of want with the store's: 0, or -1 with err naming the key file. */
int64_t store_key_check_value(const unsigned char master[CRYPTO_KEY_LEN]);
int store_key_check(struct store *st, int64_t want, char *err, size_t errlen);

/* store_keyring.c: a wrapped account key (hex) of account, unwrapped by the account
 * key agent (store_use_agent). Returns 0 or -1. */
int store_keyring_unwrap(struct store *st, const char *account, const char *wrapped,
                         unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen);
/* The queue's key pair (store_queue_public_key, store_queue_secret_key; sk NULL: the
 * public half only) asked of the agent. Returns 0 or -1. */
int store_keyring_queue_keys(struct store *st, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], unsigned char *sk,
                             char *err, size_t errlen);
/* A service key (store_service_key) derived by the agent. Returns 0 or -1. */
int store_keyring_service_key(struct store *st, const char ctx[8], unsigned char key[CRYPTO_KEY_LEN],
                              char *err, size_t errlen);
/* A new account key for account made by the agent: wrapped for it, and its public key
 * in hex (public_hex); the key itself never leaves the agent. Returns 0 or -1. */
int store_keyring_new_key(struct store *st, const char *account, char wrapped[CRYPTO_WRAPPED_HEX_LEN],
                          char *public_hex, size_t public_len, char *err, size_t errlen);
/* mssctl migrate over an ADMIN channel: old (a first-format wrap) wrapped again for
 * account by the agent. Returns 0 or -1. */
int store_keyring_rewrap(struct store *st, const char *account, const char *old,
                         char wrapped[CRYPTO_WRAPPED_HEX_LEN], char *err, size_t errlen);
/* Closes the channel (store_close). */
void store_keyring_end(struct store *st);

/* store_blob.c */
/* Fresh random blob name. */
void store_blob_name(char out[STORE_BLOB_NAME_LEN]);
/* data_dir/blobs/<2 hex>/<name>. */
int store_blob_path(struct store *st, const char *name, char *out, size_t outlen);
/* Encrypts data under key into a new blob; out: its random name. When row is not NULL
 * and the encrypted blob is at most store_inline_blob_max, the blob is put in *row
 * (replacing what it held) for the caller to insert with its row (store_blob_insert),
 * and no file is written; else *row is left empty and the blob is a file (fsynced,
 * renamed) whose path is added to written. Returns 0 or -1. */
int store_blob_put(struct store *st, const unsigned char key[CRYPTO_KEY_LEN], const char *data, size_t len,
                   char name[STORE_BLOB_NAME_LEN], struct buf *row, struct store_paths *written, char *err,
                   size_t errlen);
/* The encrypted blob kept in name's row into *row: 1, 0 when it is a file (or has no
 * row), -1. */
int store_blob_row(struct store *st, const char *name, struct buf *row, char *err, size_t errlen);
/* The value of the data column for row (what store_blob_put left): the bytes, or NULL
 * for a file. */
struct sql_value store_blob_row_value(const struct buf *row);
/* Decrypts blob name (in its row or its file, under the key k stands for) into the
 * process cache. Returns 0 or -1. */
int store_blob_load(struct store *st, const struct store_keyref *k, const char *name, char *err,
                    size_t errlen);
/* The same with the blob's row already read by the caller's own query (in_row, row: what
 * store_blob_row gives), so that reading a message costs one statement, not two. */
int store_blob_load_row(struct store *st, const struct store_keyref *k, const char *name, int in_row,
                        const struct buf *row, char *err, size_t errlen);
/* After messages were deleted: removes rows of the given blobs that no message uses
 * any more and adds their paths to unlinked. Inside the write transaction. */
int store_blob_release(struct store *st, const int64_t *blob_ids, size_t n, struct store_paths *unlinked,
                       char *err, size_t errlen);
/* A new blob written as a stream (APPEND): its random name and path are filled; the
 * caller writes, then commits (fsync, rename) or aborts. Returns the writer or NULL. */
struct blob_writer *store_blob_create(struct store *st, const unsigned char key[CRYPTO_KEY_LEN],
                                      char name[STORE_BLOB_NAME_LEN], char *path, size_t pathlen, char *err,
                                      size_t errlen);
/* Inserts a blobs row with the blob's message key sealed to user_id (sealed:
 * CRYPTO_SEALED_KEY_LEN octets) and the blob itself when store_blob_put put it in row
 * (NULL or empty: a file). Returns 0 with *blob_id or -1. */
int store_blob_insert(struct store *st, int64_t user_id, const char *name, uint64_t size,
                      const unsigned char *sealed, const struct buf *row, int64_t *blob_id, char *err,
                      size_t errlen);
void store_cache_clear(struct store *st);

/* store_mailbox.c */
/* Normalises a mailbox name into out: "inbox" -> "INBOX", trailing '/' dropped;
 * returns 0, or -1 when invalid. */
int store_name_normalise(const char *name, char *out, size_t outlen);
/* Reads a mailbox row by (user, name) or id: returns 1, 0, -1. */
int store_mailbox_row(struct store *st, int64_t user_id, const char *name, struct store_mailbox *out,
                      int64_t *owner, char *err, size_t errlen);
int store_mailbox_row_id(struct store *st, int64_t mailbox_id, struct store_mailbox *out, int64_t *owner,
                         char *err, size_t errlen);
/* Inside a write transaction: creates name and missing parents. Returns 0, 1 exists, -1. */
int store_mailbox_create_locked(struct store *st, int64_t user_id, const char *name, unsigned special_use,
                                bool subscribed, char *err, size_t errlen);
/* Inside a write transaction: allocates n UIDs and one new MODSEQ for mailbox_id.
 * Returns 0 with *first_uid and *modseq, -1. */
int store_mailbox_bump(struct store *st, int64_t mailbox_id, uint32_t nuids, uint32_t *first_uid,
                       uint64_t *modseq, char *err, size_t errlen);
/* The same for the mailbox name of user_id, found by the bump itself (a delivery:
 * one statement under the write lock instead of a SELECT and an UPDATE). Returns 1
 * with *first_uid, *modseq and *mailbox_id, 0 when there is no such mailbox, -1. */
int store_mailbox_bump_name(struct store *st, int64_t user_id, const char *name, uint32_t nuids,
                            uint32_t *first_uid, uint64_t *modseq, int64_t *mailbox_id, char *err,
                            size_t errlen);
/* Fills messages/unseen/deleted/total_size. */
int store_mailbox_counts(struct store *st, struct store_mailbox *mb, char *err, size_t errlen);
/* Inside a read transaction: store_select_scan_as_of's pass over every row. */
int store_scan_before_locked(struct store *st, int64_t mailbox_id, uint32_t uidnext, uint64_t since,
                             int (*fn)(void *, struct store_msg *), void *arg, char *err, size_t errlen);

/* store_watch.c: touches data_dir/run/mbox-<id> after a commit. */
void store_notify(struct store *st, int64_t mailbox_id);
/* After a mailbox was deleted: wakes its watchers, then removes its change file. */
void store_notify_gone(struct store *st, int64_t mailbox_id);
/* A UID expunged, with the MODSEQ of its expunge. */
struct store_gone {
	uint32_t uid;
	uint64_t modseq;
};
/* Appends to *gone (xrealloc'd, *n entries) the UIDs below uidnext of mailbox_id expunged
 * after MODSEQ since, ascending (few: what changed between a SELECT, or a view's
 * snapshot, and the first command that needed the messages). Returns 0 or -1. */
int store_expunged_below(struct store *st, int64_t mailbox_id, uint32_t uidnext, uint64_t since,
                         struct store_gone **gone, size_t *n, char *err, size_t errlen);

/* store_flags.c */
/* Normalises a keyword list (sorted, unique) into out ("" when none). Returns 0, or 1
 * when a keyword is invalid or the list too long. */
int store_keywords_normalise(const char *in, char *out, size_t outlen);
/* Merges: op applied to current (flags + keywords) giving new ones. Returns 0 or 1. */
int store_keywords_apply(enum store_flags_op op, const char *cur, const char *arg, char *out, size_t outlen);
/* Splits "\\Seen kw" into system flags and normalised keywords. Returns 0 or 1. */
int store_flags_split(const char *text, uint32_t *flags, char *keywords, size_t kwlen);

/* store_meta.c: a message's ENVELOPE, BODYSTRUCTURE, BODY and References sealed as
 * one record under a subkey of the message's content key (store_content_key; the
 * columns messages.meta and retained.meta). Strings are malloc'ed by open; refs NULL
 * when absent. */
struct store_meta_text {
	char *envelope, *bodystructure, *body, *refs;
};
/* Appends the sealed record to out. Returns 0 or -1. */
int store_meta_seal(const unsigned char key[CRYPTO_KEY_LEN], const struct store_meta_text *t, struct buf *out,
                    char *err, size_t errlen);
/* Returns 0 with out filled, or -1 when the record is altered or under another key. */
int store_meta_open(const unsigned char key[CRYPTO_KEY_LEN], const void *p, size_t n,
                    struct store_meta_text *out, char *err, size_t errlen);
void store_meta_text_free(struct store_meta_text *t);

/* store_deliver.c: inserts one message row in an open write transaction. */
struct store_new_msg {
	const unsigned char *key; /* the message's content key: seals the metadata */
	int64_t mailbox_id;
	/* Known to the caller before the transaction, so not read or made under the write
	 * lock; NULL when not: the metadata sealed under key (store_meta_seal), and the
	 * mailbox's owner (store_users.address) and name, which the readers' rule takes. */
	const struct buf *meta;
	const char *owner;
	const char *mailbox;
	int64_t blob_id;
	uint32_t flags;
	const char *keywords;
	int64_t internaldate;
	uint64_t size;
	const struct store_mime_info *mi;
};
int store_message_insert(struct store *st, const struct store_new_msg *m, uint32_t uid, uint64_t modseq,
                         char *err, size_t errlen);
/* The metadata of a message row (its envelope, structure and references) sealed under
 * its content key into out, as store_message_insert stores it. Returns 0 or -1. */
int store_message_meta(const unsigned char *key, const struct store_mime_info *mi, struct buf *out, char *err,
                       size_t errlen);

/* store_modify.c: inside a write transaction, removes the listed messages of
 * mailbox_id, records them as expunged at modseq, and releases their blobs
 * (paths to remove after the commit go to unlinked). retain: each row is kept in
 * `retained` (blob too) for the sessions not yet told (store_view.c); the caller
 * purges after its commit. */
int store_expunge_locked(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
                         uint64_t modseq, bool retain, struct store_paths *unlinked, char *err,
                         size_t errlen);

/* store_view.c, inside a write transaction: copies (mailbox_id, uid) into `retained`
 * as expunged at modseq (before its messages row goes); removes the retained rows
 * expunged at or before upto and releases their blobs. Return 0 or -1. */
int store_retain_locked(struct store *st, int64_t mailbox_id, uint32_t uid, uint64_t modseq, char *err,
                        size_t errlen);
int store_retained_drop_locked(struct store *st, int64_t mailbox_id, uint64_t upto,
                               struct store_paths *unlinked, char *err, size_t errlen);

/* store_body.c: a message stored before its part tree was kept (migration 4) is
 * decrypted and analysed once, and its row completed. Returns 1, 0 no such message,
 * -1. */
int store_message_complete(struct store *st, int64_t mailbox_id, uint32_t uid, char *err, size_t errlen);

#endif
