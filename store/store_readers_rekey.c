/* store_readers_rekey.c: mssctl migrate's rewrite of a shared message written before
 * store migration 8 (issue 12, see store.h store_readers_rekey).
 *
 * Such a message is under its owner's account key itself. Sealing that key to a
 * reader would hand the reader the whole account, so before the readers get their
 * rows the message is put in the new form: its blob encrypted again under a fresh
 * message key sealed to the owner, and its metadata record (messages.meta,
 * retained.meta) sealed again under that key. The blob keeps its row (id), so the
 * messages that share it follow; the new blob goes into that row when it is small
 * enough (store_inline_blob_max), else to a new file; an old file is removed after the
 * commit. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/str.h"
#include "store/store_int.h"

struct old_blob {
	char name[STORE_BLOB_NAME_LEN + 8];
	struct store_keyref key;
	bool in_row; /* kept in its row: no file to remove after */
};

static int old_blob_row(struct store *st, int64_t blob_id, struct old_blob *b, char *err, size_t errlen)
{
	struct sql_stmt *q = sql_query(st->sql, "store.rekey_blob",
	                               "SELECT name, user_id, sealed_key, id,"
	                               " CASE WHEN data IS NULL THEN 0 ELSE 1 END FROM blobs WHERE id = ?1",
	                               SQL_ARGS(SQL_INT(blob_id)), err, errlen);
	int rc = q != NULL ? sql_next(q, err, errlen) : -1;
	if (rc == 1 && (sql_text_copy(q, 0, b->name, sizeof b->name) != 0 ||
	                store_keyref_read(q, 1, 2, 3, &b->key, err, errlen) < 0))
		rc = -1;
	if (rc == 1)
		b->in_row = sql_int(q, 4) != 0;
	sql_done(q);
	return rc; /* 0: gone since (expunged meanwhile) */
}

/* Each metadata record of the blob (messages and retained rows) sealed again. */
static const char *const meta_select[] = {
    "SELECT mailbox_id, uid, meta FROM messages WHERE blob_id = ?1 AND meta IS NOT NULL",
    "SELECT mailbox_id, uid, meta FROM retained WHERE blob_id = ?1 AND meta IS NOT NULL",
};
static const char *const meta_update[] = {
    "UPDATE messages SET meta = ?3 WHERE mailbox_id = ?1 AND uid = ?2",
    "UPDATE retained SET meta = ?3 WHERE mailbox_id = ?1 AND uid = ?2",
};

struct meta_row {
	int64_t mailbox_id;
	uint32_t uid;
	struct buf sealed;
};

struct meta_rows {
	struct meta_row *v;
	size_t n;
	const unsigned char *old_key, *new_key;
	char *err;
	size_t errlen;
};

static int meta_row(void *arg, struct sql_stmt *q)
{
	struct meta_rows *l = arg;
	struct store_meta_text t;
	size_t n = 0;
	const void *p = sql_blob(q, 2, &n);
	if (store_meta_open(l->old_key, p, n, &t, l->err, l->errlen) < 0)
		return -1;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	struct meta_row *r = &l->v[l->n++];
	r->mailbox_id = sql_int(q, 0);
	r->uid = (uint32_t)sql_int(q, 1);
	buf_init(&r->sealed, BUF_UNLIMITED);
	int rc = store_meta_seal(l->new_key, &t, &r->sealed, l->err, l->errlen);
	store_meta_text_free(&t);
	return rc < 0 ? -1 : 0;
}

static int reseal_meta(struct store *st, int64_t blob_id, const unsigned char *old_key,
                       const unsigned char *new_key, char *err, size_t errlen)
{
	int rc = 0;
	for (size_t table = 0; table < 2 && rc == 0; table++) {
		struct meta_rows l = {NULL, 0, old_key, new_key, err, errlen};
		rc = sql_foreach(st->sql, "store.rekey_meta", meta_select[table], SQL_ARGS(SQL_INT(blob_id)),
		                 meta_row, &l, err, errlen) == 0
		         ? 0
		         : -1;
		for (size_t i = 0; i < l.n; i++) {
			if (rc == 0 && sql_exec(st->sql, "store.rekey_meta_set", meta_update[table],
			                        SQL_ARGS(SQL_INT(l.v[i].mailbox_id), SQL_INT(l.v[i].uid),
			                                 SQL_BLOB(l.v[i].sealed.data, l.v[i].sealed.len)),
			                        err, errlen) < 0)
				rc = -1;
			buf_free(&l.v[i].sealed);
		}
		free(l.v);
	}
	return rc;
}

/* Inside the transaction: the blob's new file (written before) or bytes (row), its
 * metadata and row. */
static int rekey_locked(struct store *st, int64_t blob_id, const struct old_blob *b,
                        const struct store_msgkey *mk, const char *fresh, const struct buf *row, char *err,
                        size_t errlen)
{
	unsigned char old_key[CRYPTO_KEY_LEN];
	if (store_owner_content_key(st, &b->key, old_key, err, errlen) < 0)
		return -1;
	int rc = reseal_meta(st, blob_id, old_key, mk->key, err, errlen);
	sodium_memzero(old_key, sizeof old_key);
	if (rc == 0 &&
	    sql_exec(
	        st->sql, "store.rekey_blob_set",
	        "UPDATE blobs SET name = ?2, sealed_key = ?3, data = ?4 WHERE id = ?1 AND sealed_key IS NULL",
	        SQL_ARGS(SQL_INT(blob_id), SQL_TEXT(fresh), SQL_BLOB(mk->sealed, sizeof mk->sealed),
	                 store_blob_row_value(row)),
	        err, errlen) != 1)
		rc = -1;
	return rc;
}

/* Returns 1 rewritten, 0 nothing to do (gone, or already new), -1. */
static int rekey_one(struct store *st, int64_t blob_id, char *err, size_t errlen)
{
	struct old_blob b;
	struct store_msgkey mk;
	struct store_paths written = {0}, old = {0};
	struct store_txn t;
	struct buf row;
	char fresh[STORE_BLOB_NAME_LEN], path[CONFIG_PATH_MAX + 64];
	int rc = old_blob_row(st, blob_id, &b, err, errlen);
	if (rc <= 0 || b.key.has_sealed)
		return rc < 0 ? -1 : 0;
	/* the blob's new file is written and fsynced before the transaction, as delivery
	 * does; a small one goes into the row in it */
	if (store_blob_load(st, &b.key, b.name, err, errlen) < 0 ||
	    store_msgkey_new(st, b.key.user_id, &mk, err, errlen) < 0)
		return -1;
	buf_init(&row, BUF_UNLIMITED);
	rc = store_blob_put(st, mk.key, st->cache.data.data, st->cache.data.len, fresh, &row, &written, err,
	                    errlen);
	store_cache_clear(st);
	if (rc == 0 && store_txn_begin(st, &t, err, errlen) == 0) {
		rc = rekey_locked(st, blob_id, &b, &mk, fresh, &row, err, errlen);
		rc = store_txn_end(st, &t, rc, err, errlen);
	} else {
		rc = -1;
	}
	buf_free(&row);
	store_msgkey_wipe(&mk);
	if (rc < 0) {
		store_paths_discard(st, &written);
		return -1;
	}
	store_paths_free(&written);
	if (!b.in_row && store_blob_path(st, b.name, path, sizeof path) == 0)
		store_paths_add(&old, path);
	store_paths_unlink(&old);
	return 1;
}

int store_readers_rekey(struct store *st, const char *owner, size_t *rekeyed, char *err, size_t errlen)
{
	int64_t owner_id = 0, *ids = NULL;
	size_t n = 0;
	*rekeyed = 0;
	int rc = store_user_id(st, owner, &owner_id, err, errlen);
	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	if (store_readers_old_blobs(st, owner_id, owner, &ids, &n, err, errlen) < 0)
		return -1;
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int r = rekey_one(st, ids[i], err, errlen);
		if (r < 0)
			rc = -1;
		else
			*rekeyed += (size_t)r;
	}
	free(ids);
	return rc;
}
