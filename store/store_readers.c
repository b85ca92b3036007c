/* store_readers.c: message keys sealed to readers other than the owner (issue 12,
 * table blob_keys; doc/architecture.md "Who can decrypt").
 *
 * A professional granted a patient's vault reads the patient's documents. Opening
 * them with the patient's account key would let a session ask for any account's key,
 * which the root key agent (one account per session channel) cannot allow. So each
 * such message's key is also sealed (crypto_box_seal) to the reader's public key: the
 * reader opens its own row with its own secret key. No row, no key: a masked,
 * revoked, blocked or deleted document stays unreadable even if a policy check above
 * were skipped. Who may read is the vault's rule (store_readers_set); the store only
 * keeps the rows in step with it. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/mss_limits.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

static const struct store_readers *rule;

void store_readers_set(const struct store_readers *r)
{
	rule = r;
}

int store_reader_bind(struct store *st, const char *address, char *err, size_t errlen)
{
	int64_t id = 0;
	int rc = store_user_id(st, address, &id, err, errlen);
	if (rc == 0)
		str_error(err, errlen, "no store side for %s", address);
	if (rc != 1) {
		st->reader_id = -1; /* fails closed: no message opens, not even with an owner's key */
		return -1;
	}
	st->reader_id = id;
	return 0;
}

int store_reader_key(struct store *st, const struct store_keyref *r, unsigned char key[CRYPTO_KEY_LEN],
                     char *err, size_t errlen)
{
	unsigned char sealed[CRYPTO_SEALED_KEY_LEN], pk[CRYPTO_PUBLIC_KEY_LEN], sk[CRYPTO_SECRET_KEY_LEN];
	if (!r->has_sealed) {
		str_error(err, errlen,
		          "message of another account written before store migration 8 (under its"
		          " owner's key): not readable by this account until mssctl migrate");
		return -1;
	}
	struct sql_stmt *q = sql_query(st->sql, "store.reader_key",
	                               "SELECT sealed_key FROM blob_keys WHERE blob_id = ?1 AND user_id = ?2",
	                               SQL_ARGS(SQL_INT(r->blob_id), SQL_INT(st->reader_id)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	size_t n = 0;
	const void *p = rc == 1 ? sql_blob(q, 0, &n) : NULL;
	if (rc == 1 && (p == NULL || n != sizeof sealed)) {
		str_error(err, errlen, "reader's message key damaged");
		rc = -1;
	} else if (rc == 1) {
		memcpy(sealed, p, n);
	}
	sql_done(q);
	if (rc == 0)
		str_error(err, errlen, "no key for this account (not granted, masked or revoked)");
	if (rc != 1 || store_user_pair(st, st->reader_id, pk, sk, err, errlen) < 0)
		return -1;
	rc = crypto_key_seal_open(pk, sk, sealed, sizeof sealed, key);
	sodium_memzero(sk, sizeof sk);
	if (rc < 0)
		str_error(err, errlen, "reader's message key cannot be opened (altered)");
	return rc;
}

int store_reader_check(struct store *st, const struct store_keyref *r, char *err, size_t errlen)
{
	int64_t one = 0;
	if (st->reader_id == 0 || r->user_id == st->reader_id || r->has_open)
		return 0;
	int rc = r->has_sealed
	             ? sql_one(st->sql, "store.reader_check",
	                       "SELECT 1 FROM blob_keys WHERE blob_id = ?1 AND user_id = ?2",
	                       SQL_ARGS(SQL_INT(r->blob_id), SQL_INT(st->reader_id)), &one, err, errlen)
	             : 0;
	if (rc == 0)
		str_error(err, errlen, "no key for this account (not granted, masked or revoked)");
	return rc == 1 ? 0 : -1;
}

/* ---- the rule's answer, as account ids ------------------------------------------ */

struct id_set {
	int64_t *v;
	size_t n;
	struct store *st;
};

static void ids_push(struct id_set *s, int64_t id)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = id;
}

/* An address the rule names with no store side has nothing to read: skipped. */
static int add_reader(void *ctx, const char *address)
{
	struct id_set *s = ctx;
	char err[256];
	int64_t id = 0;
	int rc = store_user_id(s->st, address, &id, err, sizeof err);
	if (rc < 0)
		log_err("store.readers", "reader=%s error=\"%s\"", address, err);
	if (rc == 1)
		ids_push(s, id);
	return rc < 0 ? -1 : 0;
}

static int owner_address(struct store *st, int64_t owner_id, char *out, size_t outlen, char *err,
                         size_t errlen)
{
	struct sql_stmt *q =
	    sql_query(st->sql, "store.owner_address", "SELECT address FROM store_users WHERE id = ?1",
	              SQL_ARGS(SQL_INT(owner_id)), err, errlen);
	int rc = q != NULL ? sql_next(q, err, errlen) : -1;
	if (rc == 1 && sql_text_copy(q, 0, out, outlen) != 0) {
		str_error(err, errlen, "owner address too long");
		rc = -1;
	}
	sql_done(q);
	if (rc == 0)
		str_error(err, errlen, "no such account");
	return rc == 1 ? 0 : -1;
}

/* The readers of (owner, mailbox) by the rule, into ids. Returns 0 or -1. */
static int mailbox_readers(struct store *st, const char *owner, const char *mailbox, struct id_set *ids,
                           char *err, size_t errlen)
{
	ids->st = st;
	if (rule == NULL)
		return 0;
	return rule->readers(st, owner, mailbox, add_reader, ids, err, errlen);
}

static bool hidden(const char *keywords)
{
	return rule != NULL && rule->hidden(keywords);
}

static int seal_row(struct store *st, int64_t blob_id, int64_t reader,
                    const unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
	unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], sealed[CRYPTO_SEALED_KEY_LEN];
	if (store_public_key(st, reader, pk, err, errlen) < 0)
		return -1;
	if (crypto_key_seal(pk, key, sealed) < 0) {
		str_error(err, errlen, "reader's public key unusable");
		return -1;
	}
	return sql_exec(st->sql, "store.reader_insert",
	                "INSERT INTO blob_keys (blob_id, user_id, sealed_key) VALUES (?1, ?2, ?3)"
	                " ON CONFLICT (blob_id, user_id) DO NOTHING",
	                SQL_ARGS(SQL_INT(blob_id), SQL_INT(reader), SQL_BLOB(sealed, sizeof sealed)), err,
	                errlen) < 0
	           ? -1
	           : 0;
}

int store_readers_seal_new(struct store *st, const struct store_new_msg *m, char *err, size_t errlen)
{
	struct store_mailbox mb;
	int64_t owner_id = 0;
	char owner[MSS_ADDRESS_SIZE];
	struct id_set ids = {0};
	const char *kw = m->keywords != NULL && m->keywords[0] != '\0' ? m->keywords : NULL;
	if (rule == NULL || hidden(kw))
		return 0;
	const char *name = m->mailbox;
	if (m->owner == NULL || name == NULL) {
		int rc = store_mailbox_row_id(st, m->mailbox_id, &mb, &owner_id, err, errlen);
		if (rc == 0)
			str_error(err, errlen, "mailbox gone");
		if (rc != 1 || owner_address(st, owner_id, owner, sizeof owner, err, errlen) < 0)
			return -1;
		name = mb.name;
	} else if (str_copy(owner, sizeof owner, m->owner) != 0) {
		str_error(err, errlen, "owner address too long");
		return -1;
	}
	/* the rule's own reads stay here, under the write lock: a grant revoked before this
	 * transaction can leave no row, and one revoked after it removes the rows it finds */
	if (mailbox_readers(st, owner, name, &ids, err, errlen) < 0) {
		free(ids.v);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < ids.n && rc == 0; i++)
		rc = seal_row(st, m->blob_id, ids.v[i], m->key, err, errlen);
	free(ids.v);
	return rc;
}

int store_readers_drop_unused(struct store *st, const int64_t *blob_ids, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (sql_exec(st->sql, "store.readers_drop_unused",
		             "DELETE FROM blob_keys WHERE blob_id = ?1"
		             " AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = ?1)",
		             SQL_ARGS(SQL_INT(blob_ids[i])), err, errlen) < 0)
			return -1;
	return 0;
}

/* ---- refresh: the rows due against the rows held -------------------------------- */

struct pair {
	int64_t blob_id, reader;
};

struct pairs {
	struct pair *v;
	size_t n;
};

static void pairs_push(struct pairs *p, int64_t blob_id, int64_t reader)
{
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = (struct pair){blob_id, reader};
}

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	if (x->blob_id != y->blob_id)
		return x->blob_id < y->blob_id ? -1 : 1;
	return x->reader < y->reader ? -1 : x->reader > y->reader;
}

/* A blob shared by two messages in two folders (COPY within an account) is due once. */
static void pairs_unique(struct pairs *p)
{
	size_t w = 0;
	if (p->n > 0)
		qsort(p->v, p->n, sizeof(*p->v), pair_cmp);
	for (size_t i = 0; i < p->n; i++)
		if (w == 0 || pair_cmp(&p->v[w - 1], &p->v[i]) != 0)
			p->v[w++] = p->v[i];
	p->n = w;
}

static bool pairs_has(const struct pairs *p, const struct pair *k)
{
	return p->n > 0 && bsearch(k, p->v, p->n, sizeof(*p->v), pair_cmp) != NULL;
}

struct mailbox_walk {
	struct pairs *due;
	struct pairs *old; /* NULL, or the old-form blobs that would be due (reader 0) */
	const struct id_set *readers;
};

/* One message: due to every reader unless hidden or of the old form (its key is the
 * owner's account key, which is never sealed to anyone: store_readers_rekey first). */
static int due_row(void *arg, struct sql_stmt *q)
{
	struct mailbox_walk *w = arg;
	if (hidden(sql_is_null(q, 1) ? NULL : sql_text(q, 1)))
		return 0;
	if (sql_is_null(q, 2)) {
		if (w->old != NULL)
			pairs_push(w->old, sql_int(q, 0), 0);
		return 0;
	}
	for (size_t i = 0; i < w->readers->n; i++)
		pairs_push(w->due, sql_int(q, 0), w->readers->v[i]);
	return 0;
}

struct mailbox_ref {
	int64_t id;
	char name[STORE_MAILBOX_MAX];
};

struct mailbox_refs {
	struct mailbox_ref *v;
	size_t n;
};

static int mailbox_ref_row(void *arg, struct sql_stmt *q)
{
	struct mailbox_refs *l = arg;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n].id = sql_int(q, 0);
	if (sql_text_copy(q, 1, l->v[l->n].name, sizeof l->v[l->n].name) == 0)
		l->n++; /* a name longer than STORE_MAILBOX_MAX was never created */
	return 0;
}

/* Every (blob, reader) the rule wants for owner's mailboxes; old (may be NULL) gets
 * the blobs of the old form that it would want. */
static int collect_due(struct store *st, int64_t owner_id, const char *owner, struct pairs *due,
                       struct pairs *old, char *err, size_t errlen)
{
	struct mailbox_refs mbs = {0};
	int rc = sql_foreach(st->sql, "store.readers_mailboxes",
	                     "SELECT id, name FROM mailboxes WHERE user_id = ?1", SQL_ARGS(SQL_INT(owner_id)),
	                     mailbox_ref_row, &mbs, err, errlen);
	for (size_t i = 0; i < mbs.n && rc == 0; i++) {
		struct id_set ids = {0};
		rc = mailbox_readers(st, owner, mbs.v[i].name, &ids, err, errlen);
		struct mailbox_walk w = {due, old, &ids};
		if (rc == 0 && ids.n > 0)
			rc = sql_foreach(st->sql, "store.readers_messages",
			                 "SELECT m.blob_id, m.keywords, b.sealed_key FROM messages m"
			                 " JOIN blobs b ON b.id = m.blob_id WHERE m.mailbox_id = ?1",
			                 SQL_ARGS(SQL_INT(mbs.v[i].id)), due_row, &w, err, errlen);
		free(ids.v);
	}
	free(mbs.v);
	return rc < 0 ? -1 : 0;
}

static int held_row(void *arg, struct sql_stmt *q)
{
	pairs_push(arg, sql_int(q, 0), sql_int(q, 1));
	return 0;
}

/* The rows held for owner's blobs. */
static int collect_held(struct store *st, int64_t owner_id, struct pairs *held, char *err, size_t errlen)
{
	return sql_foreach(st->sql, "store.readers_held",
	                   "SELECT k.blob_id, k.user_id FROM blob_keys k JOIN blobs b ON b.id = k.blob_id"
	                   " WHERE b.user_id = ?1",
	                   SQL_ARGS(SQL_INT(owner_id)), held_row, held, err, errlen);
}

static int blob_row(void *arg, struct sql_stmt *q)
{
	pairs_push(arg, sql_int(q, 0), 0);
	return 0;
}

/* Limited to one mailbox: only the pairs of blobs its messages use stay (a blob also
 * used in another folder is judged by all its messages, not by this one alone). */
static int limit_to(struct store *st, int64_t mailbox_id, struct pairs *due, struct pairs *held, char *err,
                    size_t errlen)
{
	struct pairs blobs = {0};
	if (sql_foreach(st->sql, "store.readers_mailbox_blobs",
	                "SELECT blob_id FROM messages WHERE mailbox_id = ?1", SQL_ARGS(SQL_INT(mailbox_id)),
	                blob_row, &blobs, err, errlen) < 0) {
		free(blobs.v);
		return -1;
	}
	pairs_unique(&blobs);
	struct pairs *lists[2] = {due, held};
	for (size_t l = 0; l < 2; l++) {
		size_t w = 0;
		for (size_t i = 0; i < lists[l]->n; i++) {
			struct pair k = {lists[l]->v[i].blob_id, 0};
			if (pairs_has(&blobs, &k))
				lists[l]->v[w++] = lists[l]->v[i];
		}
		lists[l]->n = w;
	}
	free(blobs.v);
	return 0;
}

/* The message key of blob_id, opened as its owner (or the master key) opens it: the
 * patient's session opens its own documents; the PS account's documents need that
 * account's key (today's keyring gives it; a keyring bound to one account refuses, and
 * vault_readers_refresh leaves them to mssctl migrate). */
static int blob_key(struct store *st, int64_t blob_id, unsigned char key[CRYPTO_KEY_LEN], char *err,
                    size_t errlen)
{
	struct store_keyref r;
	struct sql_stmt *q = sql_query(st->sql, "store.readers_blob",
	                               "SELECT user_id, sealed_key, id FROM blobs WHERE id = ?1",
	                               SQL_ARGS(SQL_INT(blob_id)), err, errlen);
	int rc = q != NULL ? sql_next(q, err, errlen) : -1;
	if (rc == 1 && store_keyref_read(q, 0, 1, 2, &r, err, errlen) < 0)
		rc = -1;
	sql_done(q);
	if (rc != 1)
		return -1;
	return store_owner_content_key(st, &r, key, err, errlen);
}

/* Deletes the rows held and not due; adds those due and not held unless prune_only. */
static int apply_diff(struct store *st, const struct pairs *due, const struct pairs *held, bool prune_only,
                      struct store_readers_report *rep, char *err, size_t errlen)
{
	unsigned char key[CRYPTO_KEY_LEN];
	for (size_t i = 0; i < held->n; i++) {
		if (pairs_has(due, &held->v[i]))
			continue;
		if (sql_exec(st->sql, "store.reader_delete",
		             "DELETE FROM blob_keys WHERE blob_id = ?1 AND user_id = ?2",
		             SQL_ARGS(SQL_INT(held->v[i].blob_id), SQL_INT(held->v[i].reader)), err,
		             errlen) < 0)
			return -1;
		rep->removed++;
	}
	for (size_t i = 0; i < due->n && !prune_only; i++) {
		if (pairs_has(held, &due->v[i]))
			continue;
		int rc = blob_key(st, due->v[i].blob_id, key, err, errlen);
		if (rc == 0)
			rc = seal_row(st, due->v[i].blob_id, due->v[i].reader, key, err, errlen);
		sodium_memzero(key, sizeof key);
		if (rc < 0)
			return -1;
		rep->added++;
	}
	return 0;
}

static int refresh_locked(struct store *st, int64_t owner_id, const char *owner, int64_t only,
                          bool prune_only, struct store_readers_report *rep, char *err, size_t errlen)
{
	struct pairs due = {0}, held = {0};
	int rc = collect_due(st, owner_id, owner, &due, NULL, err, errlen) < 0 ||
	                 collect_held(st, owner_id, &held, err, errlen) < 0
	             ? -1
	             : 0;
	pairs_unique(&due);
	pairs_unique(&held);
	if (rc == 0 && only != 0)
		rc = limit_to(st, only, &due, &held, err, errlen);
	if (rc == 0)
		rc = apply_diff(st, &due, &held, prune_only, rep, err, errlen);
	free(due.v);
	free(held.v);
	return rc;
}

int store_readers_refresh_mailbox(struct store *st, int64_t mailbox_id, char *err, size_t errlen)
{
	struct store_mailbox mb;
	struct store_readers_report rep = {0, 0, 0};
	int64_t owner_id = 0;
	char owner[MSS_ADDRESS_SIZE];
	if (rule == NULL)
		return 0;
	int rc = store_mailbox_row_id(st, mailbox_id, &mb, &owner_id, err, errlen);
	if (rc <= 0)
		return rc; /* gone: nothing to keep in step */
	if (owner_address(st, owner_id, owner, sizeof owner, err, errlen) < 0)
		return -1;
	/* the common case, a folder no one else reads of an account that holds no reader
	 * row: two small lookups, not a pass over a large mailbox at each COPY or STORE */
	struct id_set ids = {0};
	if (mailbox_readers(st, owner, mb.name, &ids, err, errlen) < 0) {
		free(ids.v);
		return -1;
	}
	bool has_readers = ids.n > 0;
	free(ids.v);
	int64_t one = 0;
	rc = has_readers
	         ? 1
	         : sql_one(st->sql, "store.readers_any",
	                   "SELECT 1 FROM blob_keys k JOIN blobs b ON b.id = k.blob_id WHERE b.user_id = ?1"
	                   " LIMIT 1",
	                   SQL_ARGS(SQL_INT(owner_id)), &one, err, errlen);
	if (rc <= 0)
		return rc;
	return refresh_locked(st, owner_id, owner, mailbox_id, false, &rep, err, errlen);
}

static int refresh_owner(struct store *st, const char *owner, int64_t mailbox_id, bool prune_only,
                         struct store_readers_report *report, char *err, size_t errlen)
{
	struct store_readers_report rep = {0, 0, 0};
	struct store_txn t;
	int64_t owner_id = 0;
	if (report != NULL)
		*report = rep;
	if (rule == NULL) {
		str_error(err, errlen, "no reader rule in this process");
		return -1;
	}
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = store_user_id(st, owner, &owner_id, err, errlen);
	if (rc == 1)
		rc = refresh_locked(st, owner_id, owner, mailbox_id, prune_only, &rep, err, errlen);
	rc = store_txn_end(st, &t, rc < 0 ? -1 : 0, err, errlen);
	if (rc == 0 && report != NULL)
		*report = rep;
	return rc;
}

int store_readers_refresh(struct store *st, const char *owner, int64_t mailbox_id,
                          struct store_readers_report *report, char *err, size_t errlen)
{
	return refresh_owner(st, owner, mailbox_id, false, report, err, errlen);
}

int store_readers_prune(struct store *st, const char *owner, struct store_readers_report *report, char *err,
                        size_t errlen)
{
	return refresh_owner(st, owner, 0, true, report, err, errlen);
}

int store_readers_old_blobs(struct store *st, int64_t owner_id, const char *owner, int64_t **ids, size_t *n,
                            char *err, size_t errlen)
{
	struct pairs due = {0}, old = {0};
	*ids = NULL;
	*n = 0;
	int rc = collect_due(st, owner_id, owner, &due, &old, err, errlen);
	free(due.v);
	pairs_unique(&old);
	if (rc == 0 && old.n > 0) {
		*ids = xmalloc(old.n * sizeof(**ids));
		for (size_t i = 0; i < old.n; i++)
			(*ids)[i] = old.v[i].blob_id;
		*n = old.n;
	}
	free(old.v);
	return rc;
}
