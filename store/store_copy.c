/* store_copy.c: COPY and MOVE (UIDPLUS COPYUID, RFC 6851).
 *
 * Within one account the copy shares the source's blob: blobs never change once
 * written, so sharing costs nothing and makes COPY of a large mailbox to Trash
 * cheap; a blob is removed when no message uses it any more. Across accounts (a
 * shared mailbox) the body is decrypted and encrypted again under the destination
 * account's key, so that each account's data stays under its own key. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct copy_ctx {
	int64_t src_id, src_owner;
	int64_t dst_id, dst_owner;
	uint32_t dst_uidvalidity;
	uint32_t *uids; /* existing source UIDs, ascending */
	size_t n;
	struct store_paths written;  /* re-encrypted blobs (cross-account) */
	struct store_paths unlinked; /* blobs released by MOVE */
};

/* Keeps the requested UIDs that exist in the source, ascending. */
static int existing_uids(struct store *st, struct copy_ctx *c, const uint32_t *uids, size_t n, char *err,
                         size_t errlen)
{
	uint32_t *want = xmalloc((n > 0 ? n : 1) * sizeof(*want));
	if (n > 0)
		memcpy(want, uids, n * sizeof(*want));
	qsort(want, n, sizeof(*want), cmp_u32);
	c->uids = xmalloc((n > 0 ? n : 1) * sizeof(*c->uids));
	int rc = 0;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		int64_t one;
		if (i > 0 && want[i] == want[i - 1])
			continue;
		rc = sql_one(st->sql, "store.copy_exists",
		             "SELECT 1 FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
		             SQL_ARGS(SQL_INT(c->src_id), SQL_INT(want[i])), &one, err, errlen);
		if (rc == 1)
			c->uids[c->n++] = want[i];
	}
	free(want);
	return rc < 0 ? -1 : 0;
}

/* Cross-account: a new blob under the destination key. Returns its row id or -1. */
static int reencrypt(struct store *st, struct copy_ctx *c, uint32_t uid, int64_t *blob_id, char *err,
                     size_t errlen)
{
	char name[STORE_BLOB_NAME_LEN + 8], fresh[STORE_BLOB_NAME_LEN];
	unsigned char key[CRYPTO_KEY_LEN];
	struct sql_stmt *q = sql_query(st->sql, "store.copy_blob",
	                               "SELECT b.name FROM messages m JOIN blobs b ON b.id = m.blob_id"
	                               " WHERE m.mailbox_id = ?1 AND m.uid = ?2",
	                               SQL_ARGS(SQL_INT(c->src_id), SQL_INT(uid)), err, errlen);
	int rc = q != NULL && sql_next(q, err, errlen) == 1 && sql_text_copy(q, 0, name, sizeof(name)) == 0
	             ? 0
	             : -1;
	sql_done(q);
	if (rc < 0 || store_blob_load(st, c->src_owner, name, err, errlen) < 0 ||
	    store_user_key(st, c->dst_owner, key, err, errlen) < 0)
		return -1;
	rc =
	    store_blob_put(st, key, st->cache.data.data, st->cache.data.len, fresh, &c->written, err, errlen);
	sodium_memzero(key, sizeof(key));
	if (rc < 0)
		return -1;
	return store_blob_insert(st, c->dst_owner, fresh, st->cache.data.len, blob_id, err, errlen);
}

/* Into another account's folder: the sealed metadata opened with the source owner's
 * key and sealed again with the destination's (store_meta.c), as the blob is. */
static int reseal_meta(struct store *st, struct copy_ctx *c, uint32_t src_uid, uint32_t dst_uid, char *err,
                       size_t errlen)
{
	struct sql_stmt *q = sql_query(st->sql, "store.copy_meta",
	                               "SELECT meta FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
	                               SQL_ARGS(SQL_INT(c->src_id), SQL_INT(src_uid)), err, errlen);
	if (q == NULL)
		return -1;
	struct buf rec;
	buf_init(&rec, BUF_UNLIMITED);
	int rc = sql_next(q, err, errlen) == 1 ? 0 : -1;
	if (rc == 0 && !sql_is_null(q, 0)) { /* NULL: not yet sealed by mssctl migrate */
		size_t n = 0;
		const void *p = sql_blob(q, 0, &n);
		rc = store_meta_reseal(st, c->src_owner, c->dst_owner, p, n, &rec, err, errlen);
	}
	sql_done(q);
	if (rc == 0 && rec.len > 0 &&
	    sql_exec(st->sql, "store.copy_meta_set",
	             "UPDATE messages SET meta = ?3 WHERE mailbox_id = ?1 AND uid = ?2",
	             SQL_ARGS(SQL_INT(c->dst_id), SQL_INT(dst_uid), SQL_BLOB(rec.data, rec.len)), err,
	             errlen) < 0)
		rc = -1;
	buf_free(&rec);
	return rc;
}

static int copy_one(struct store *st, struct copy_ctx *c, uint32_t src_uid, uint32_t dst_uid, uint64_t modseq,
                    char *err, size_t errlen)
{
	int64_t blob_id = 0;
	bool other = c->src_owner != c->dst_owner;
	if (other && reencrypt(st, c, src_uid, &blob_id, err, errlen) < 0)
		return -1;
	if (sql_exec(
	        st->sql, "store.copy",
	        "INSERT INTO messages (mailbox_id, uid, modseq, internaldate, size, flags, keywords, "
	        "blob_id, sent_date, header_size, envelope, bodystructure, body, parts, sent_local, refs,"
	        " meta)"
	        " SELECT ?1, ?2, ?3, internaldate, size, flags, keywords, coalesce(?4, blob_id),"
	        " sent_date, header_size, envelope, bodystructure, body, parts, sent_local, refs, meta"
	        " FROM messages WHERE mailbox_id = ?5 AND uid = ?6",
	        SQL_ARGS(SQL_INT(c->dst_id), SQL_INT(dst_uid), SQL_INT(modseq),
	                 blob_id != 0 ? SQL_INT(blob_id) : SQL_NULL, SQL_INT(c->src_id), SQL_INT(src_uid)),
	        err, errlen) < 0)
		return -1;
	return other ? reseal_meta(st, c, src_uid, dst_uid, err, errlen) : 0;
}

static int copy_rows(struct store *st, struct copy_ctx *c, struct store_copy_result *res, char *err,
                     size_t errlen)
{
	uint32_t first;
	uint64_t modseq;
	if (store_mailbox_bump(st, c->dst_id, (uint32_t)c->n, &first, &modseq, err, errlen) < 0)
		return -1;
	res->src_uids = xmalloc((c->n > 0 ? c->n : 1) * sizeof(uint32_t));
	res->dst_uids = xmalloc((c->n > 0 ? c->n : 1) * sizeof(uint32_t));
	int ret = 0;
	for (size_t i = 0; i < c->n && ret == 0; i++) {
		ret = copy_one(st, c, c->uids[i], first + (uint32_t)i, modseq, err, errlen);
		res->src_uids[i] = c->uids[i];
		res->dst_uids[i] = first + (uint32_t)i;
	}
	res->n = ret == 0 ? c->n : 0;
	return ret;
}

static int copy_txn(struct store *st, struct copy_ctx *c, const uint32_t *uids, size_t n,
                    const char *dst_name, bool move, struct store_copy_result *res, char *err, size_t errlen)
{
	struct store_mailbox mb;
	int rc = store_mailbox_row_id(st, c->src_id, &mb, &c->src_owner, err, errlen);
	if (rc == 1) {
		rc = store_mailbox_row(st, c->dst_owner, dst_name, &mb, NULL, err, errlen);
		c->dst_id = mb.id;
		c->dst_uidvalidity = mb.uidvalidity;
	}
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "no such mailbox");
		return rc < 0 ? -1 : 1;
	}
	res->dst_uidvalidity = c->dst_uidvalidity;
	if (existing_uids(st, c, uids, n, err, errlen) < 0)
		return -1;
	if (c->n == 0)
		return 0;
	if (copy_rows(st, c, res, err, errlen) < 0)
		return -1;
	if (!move)
		return 0;
	uint64_t modseq;
	if (store_mailbox_bump(st, c->src_id, 0, NULL, &modseq, err, errlen) < 0 ||
	    store_expunge_locked(st, c->src_id, c->uids, c->n, modseq, true, &c->unlinked, err, errlen) < 0)
		return -1;
	res->expunged = xmalloc(c->n * sizeof(uint32_t));
	memcpy(res->expunged, c->uids, c->n * sizeof(uint32_t));
	res->nexpunged = c->n;
	return 0;
}

static int copy_resolve(struct store *st, const char *dst_user, const char *dst_name, struct copy_ctx *c,
                        char *norm, char *err, size_t errlen)
{
	int rc = store_user_id(st, dst_user, &c->dst_owner, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "no such mailbox");
		return rc < 0 ? -1 : 1;
	}
	if (store_name_normalise(dst_name, norm, STORE_MAILBOX_MAX) < 0) {
		str_error(err, errlen, "no such mailbox");
		return 1;
	}
	return 0;
}

int store_copy(struct store *st, int64_t src_mailbox_id, const uint32_t *uids, size_t n, const char *dst_user,
               const char *dst_name, bool move, struct store_copy_result *res, char *err, size_t errlen)
{
	struct copy_ctx c = {.src_id = src_mailbox_id};
	struct store_txn t;
	char norm[STORE_MAILBOX_MAX];
	memset(res, 0, sizeof(*res));
	int rc = copy_resolve(st, dst_user, dst_name, &c, norm, err, errlen);
	if (rc != 0)
		return rc;
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	rc = copy_txn(st, &c, uids, n, norm, move, res, err, errlen);
	rc = store_txn_end(st, &t, rc, err, errlen);
	if (rc == 0) {
		store_paths_free(&c.written);
		store_paths_unlink(&c.unlinked);
		if (c.n > 0) {
			store_notify(st, c.dst_id);
			if (move) {
				store_notify(st, c.src_id);
				char perr[256]; /* a failed purge is retried by the next one */
				store_retained_purge(st, c.src_id, perr, sizeof(perr));
			}
		}
	} else {
		store_paths_discard(st, &c.written);
		store_paths_free(&c.unlinked);
		store_copy_result_free(res);
	}
	free(c.uids);
	return rc;
}

void store_copy_result_free(struct store_copy_result *r)
{
	free(r->src_uids);
	free(r->dst_uids);
	free(r->expunged);
	memset(r, 0, sizeof(*r));
}
