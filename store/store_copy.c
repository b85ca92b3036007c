/* store_copy.c: COPY and MOVE (UIDPLUS COPYUID, RFC 6851).
 *
 * Within one account the copy shares the source's blob: blobs never change once
 * written, so sharing costs nothing and makes COPY of a large mailbox to Trash
 * cheap; a blob is removed when no message uses it any more. Across accounts (a
 * shared mailbox) the body and its metadata are decrypted and encrypted again under a
 * fresh message key sealed to the destination account (store_msgkey.c), so that each
 * account's data stays under its own keys. */
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

/* The source message's blob name and key (its owner and sealed message key). */
static int source_blob(struct store *st, struct copy_ctx *c, uint32_t uid, char *name, size_t namelen,
                       struct store_keyref *k, char *err, size_t errlen)
{
	struct sql_stmt *q = sql_query(
	    st->sql, "store.copy_blob",
	    "SELECT b.name, b.user_id, b.sealed_key, b.id FROM messages m JOIN blobs b ON b.id = m.blob_id"
	    " WHERE m.mailbox_id = ?1 AND m.uid = ?2",
	    SQL_ARGS(SQL_INT(c->src_id), SQL_INT(uid)), err, errlen);
	int rc = q != NULL && sql_next(q, err, errlen) == 1 && sql_text_copy(q, 0, name, namelen) == 0 &&
	                 store_keyref_read(q, 1, 2, 3, k, err, errlen) == 0
	             ? 0
	             : -1;
	sql_done(q);
	return rc;
}

/* Cross-account: a new blob under a fresh key sealed to the destination (mk, kept
 * for the metadata). Fills *blob_id, returns 0 or -1. */
static int reencrypt(struct store *st, struct copy_ctx *c, uint32_t uid, struct store_msgkey *mk,
                     int64_t *blob_id, char *err, size_t errlen)
{
	char name[STORE_BLOB_NAME_LEN + 8], fresh[STORE_BLOB_NAME_LEN];
	struct store_keyref src;
	if (source_blob(st, c, uid, name, sizeof name, &src, err, errlen) < 0 ||
	    store_blob_load(st, &src, name, err, errlen) < 0 ||
	    store_msgkey_new(st, c->dst_owner, mk, err, errlen) < 0)
		return -1;
	/* a small copy goes into its row, as a delivery's would */
	struct buf row;
	buf_init(&row, BUF_UNLIMITED);
	int rc = store_blob_put(st, mk->key, st->cache.data.data, st->cache.data.len, fresh, &row,
	                        &c->written, err, errlen);
	if (rc == 0)
		rc = store_blob_insert(st, c->dst_owner, fresh, st->cache.data.len, mk->sealed, &row, blob_id,
		                       err, errlen);
	buf_free(&row);
	return rc;
}

/* The source's sealed metadata opened with its key and sealed again under key. */
static int reseal_record(struct store *st, struct copy_ctx *c, uint32_t uid, const void *p, size_t n,
                         const unsigned char key[CRYPTO_KEY_LEN], struct buf *out, char *err, size_t errlen)
{
	char name[STORE_BLOB_NAME_LEN + 8];
	unsigned char src_key[CRYPTO_KEY_LEN];
	struct store_keyref src;
	struct store_meta_text t;
	if (source_blob(st, c, uid, name, sizeof name, &src, err, errlen) < 0 ||
	    store_content_key(st, &src, src_key, err, errlen) < 0)
		return -1;
	int rc = store_meta_open(src_key, p, n, &t, err, errlen);
	sodium_memzero(src_key, sizeof src_key);
	if (rc < 0)
		return -1;
	rc = store_meta_seal(key, &t, out, err, errlen);
	store_meta_text_free(&t);
	return rc;
}

/* Into another account's folder: the sealed metadata sealed again under the new
 * message key, as the blob is. */
static int reseal_meta(struct store *st, struct copy_ctx *c, uint32_t src_uid, uint32_t dst_uid,
                       const unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
	struct sql_stmt *q = sql_query(st->sql, "store.copy_meta",
	                               "SELECT meta FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
	                               SQL_ARGS(SQL_INT(c->src_id), SQL_INT(src_uid)), err, errlen);
	if (q == NULL)
		return -1;
	struct buf rec, copy;
	buf_init(&rec, BUF_UNLIMITED);
	buf_init(&copy, BUF_UNLIMITED);
	int rc = sql_next(q, err, errlen) == 1 ? 0 : -1;
	if (rc == 0 && !sql_is_null(q, 0)) { /* NULL: not yet sealed by mssctl migrate */
		size_t n = 0;
		const void *p = sql_blob(q, 0, &n);
		rc = buf_append(&copy, p, n);
	}
	sql_done(q);
	if (rc == 0 && copy.len > 0)
		rc = reseal_record(st, c, src_uid, copy.data, copy.len, key, &rec, err, errlen);
	if (rc == 0 && rec.len > 0 &&
	    sql_exec(st->sql, "store.copy_meta_set",
	             "UPDATE messages SET meta = ?3 WHERE mailbox_id = ?1 AND uid = ?2",
	             SQL_ARGS(SQL_INT(c->dst_id), SQL_INT(dst_uid), SQL_BLOB(rec.data, rec.len)), err,
	             errlen) < 0)
		rc = -1;
	buf_free(&copy);
	buf_free(&rec);
	return rc;
}

static int copy_one(struct store *st, struct copy_ctx *c, uint32_t src_uid, uint32_t dst_uid, uint64_t modseq,
                    char *err, size_t errlen)
{
	int64_t blob_id = 0;
	struct store_msgkey mk;
	bool other = c->src_owner != c->dst_owner;
	memset(&mk, 0, sizeof mk);
	if (other && reencrypt(st, c, src_uid, &mk, &blob_id, err, errlen) < 0) {
		store_msgkey_wipe(&mk);
		return -1;
	}
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
	        err, errlen) < 0) {
		store_msgkey_wipe(&mk);
		return -1;
	}
	int rc = other ? reseal_meta(st, c, src_uid, dst_uid, mk.key, err, errlen) : 0;
	store_msgkey_wipe(&mk);
	return rc;
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
	uint64_t modseq;
	if (move &&
	    (store_mailbox_bump(st, c->src_id, 0, NULL, &modseq, err, errlen) < 0 ||
	     store_expunge_locked(st, c->src_id, c->uids, c->n, modseq, true, &c->unlinked, err, errlen) < 0))
		return -1;
	/* into or out of a shared folder within an account the blob stays: its readers'
	 * rows follow where its messages now are (blob_keys, issue 12) */
	if (store_readers_refresh_mailbox(st, c->dst_id, err, errlen) < 0)
		return -1;
	if (!move)
		return 0;
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
