/* store_body.c: a message's octets for FETCH and SEARCH (see store.h, "a message's
 * octets").
 *
 * Opening reads one row (blob, owner, size, part tree); reading decrypts the blob (its
 * file, or its row's copy: store_blob.c) as a stream and hands out only the octets asked for, so BODY[1.2] of
 * a 20 MB message holds 64 KiB at a time, not the message. Small messages are decrypted whole once and kept
 * in the process's one-message cache, since a FETCH often asks several sections of the same message. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "imap/imap_mime.h"
#include "lib/crypto.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

struct store_body {
	struct store *st;
	struct store_keyref key;                   /* owner and sealed message key */
	unsigned char content_key[CRYPTO_KEY_LEN]; /* opened at store_body_open, wiped at close */
	char blob[STORE_BLOB_NAME_LEN];
	uint64_t size;
	struct imap_part *parts;
	int in_row;     /* 1: the encrypted blob is kept in its row, held in row; 0: a file */
	struct buf row; /* read with the rest of the row: no second statement (store_blob_row) */
	/* the mailbox's, read in the same statement (store_body_mailbox_stamp) */
	uint64_t highestmodseq;
	uint32_t uidnext;
};

/* The row of (mailbox_id, uid): blob, its key, size, stored part tree, and the blob's
 * own copy when it has no file (b->row, buf_init'ed by the caller). Returns 1 (*parts
 * NULL for a row stored before migration 4), 0, -1. */
static int body_row(struct store *st, int64_t mailbox_id, uint32_t uid, struct store_body *b,
                    struct imap_part **parts, bool *old, char *err, size_t errlen)
{
	struct sql_stmt *q =
	    sql_query(st->sql, "store.body",
	              "SELECT b.name, b.user_id, m.size, m.parts, b.sealed_key, b.id, b.data,"
	              " x.highestmodseq, x.uidnext FROM messages m JOIN blobs b ON b.id = m.blob_id"
	              " JOIN mailboxes x ON x.id = m.mailbox_id WHERE m.mailbox_id = ?1 AND m.uid = ?2"
	              " UNION ALL SELECT b.name, b.user_id, r.size, r.parts, b.sealed_key, b.id, b.data,"
	              " x.highestmodseq, x.uidnext FROM retained r JOIN blobs b ON b.id = r.blob_id"
	              " JOIN mailboxes x ON x.id = r.mailbox_id WHERE r.mailbox_id = ?1 AND r.uid = ?2",
	              SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uid)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	*parts = NULL;
	*old = false;
	if (rc == 1) {
		if (sql_text_copy(q, 0, b->blob, sizeof(b->blob)) < 0) {
			str_error(err, errlen, "blob name too long");
			rc = -1;
		}
		if (store_keyref_read(q, 1, 4, 5, &b->key, err, errlen) < 0)
			rc = -1;
		b->size = (uint64_t)sql_int(q, 2);
		b->highestmodseq = (uint64_t)sql_int(q, 7);
		b->uidnext = (uint32_t)sql_int(q, 8);
		size_t n = 0;
		const void *p = sql_blob(q, 3, &n);
		*old = sql_is_null(q, 3);
		if (!*old && (*parts = imap_parts_deserialize(p, n)) == NULL) {
			str_error(err, errlen, "stored part tree is damaged");
			rc = -1;
		}
		buf_reset(&b->row);
		b->in_row = !sql_is_null(q, 6);
		const void *data = b->in_row ? sql_blob(q, 6, &n) : NULL;
		if (b->in_row && (data == NULL || n == 0 || buf_append(&b->row, data, n) < 0)) {
			str_error(err, errlen, "blob %s: its row's copy is empty or too large", b->blob);
			rc = -1;
		}
	}
	sql_done(q);
	return rc;
}

static int decrypt_all(struct store_body *b, char *err, size_t errlen)
{
	return store_blob_load_row(b->st, &b->key, b->blob, b->in_row, &b->row, err, errlen);
}

/* Decrypts the whole blob into the cache under the key store_body_open already opened:
 * opening the sealed message key again would cost a second X25519 multiplication,
 * the larger part of a small message's FETCH (issue 15). */
static int load_opened(struct store_body *b, char *err, size_t errlen)
{
	struct store_keyref k = b->key;
	memcpy(k.open_key, b->content_key, CRYPTO_KEY_LEN);
	k.has_open = true;
	int rc = store_blob_load_row(b->st, &k, b->blob, b->in_row, &b->row, err, errlen);
	sodium_memzero(&k, sizeof k);
	return rc;
}

int store_message_complete(struct store *st, int64_t mailbox_id, uint32_t uid, char *err, size_t errlen)
{
	struct store_body b = {.st = st};
	struct imap_part *parts;
	bool old;
	buf_init(&b.row, BUF_UNLIMITED);
	int rc = body_row(st, mailbox_id, uid, &b, &parts, &old, err, errlen);
	imap_parts_free(parts);
	if (rc == 1 && old && decrypt_all(&b, err, errlen) < 0)
		rc = -1;
	buf_free(&b.row);
	if (rc != 1 || !old)
		return rc;
	struct store_mime_info mi;
	store_mime_build(st->cache.data.data, st->cache.data.len, &mi);
	const struct store_meta_text t = {mi.envelope, mi.bodystructure, mi.body, mi.refs};
	struct buf meta;
	unsigned char key[CRYPTO_KEY_LEN];
	buf_init(&meta, BUF_UNLIMITED);
	rc = store_content_key(st, &b.key, key, err, errlen);
	if (rc == 0)
		rc = store_meta_seal(key, &t, &meta, err, errlen);
	sodium_memzero(key, sizeof key);
	/* the row is in messages, or in retained when expunged meanwhile (store_view.c) */
	static const char *const tables[] = {
	    "UPDATE messages SET envelope = '', bodystructure = '', body = '', parts = ?3,"
	    " sent_date = ?4, sent_local = ?5, header_size = ?6, refs = NULL, meta = ?7"
	    " WHERE mailbox_id = ?1 AND uid = ?2",
	    "UPDATE retained SET envelope = '', bodystructure = '', body = '', parts = ?3,"
	    " sent_date = ?4, sent_local = ?5, header_size = ?6, refs = NULL, meta = ?7"
	    " WHERE mailbox_id = ?1 AND uid = ?2",
	};
	for (size_t i = 0; i < 2 && rc == 0; i++)
		rc = sql_exec(st->sql, "store.message_complete", tables[i],
		              SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uid),
		                       SQL_BLOB(mi.parts.data, mi.parts.len), SQL_INT(mi.sent_date),
		                       SQL_INT(mi.sent_local), SQL_INT(mi.header_size),
		                       SQL_BLOB(meta.data, meta.len)),
		              err, errlen) < 0
		         ? -1
		         : 0;
	buf_free(&meta);
	store_mime_info_free(&mi);
	return rc < 0 ? -1 : 1;
}

int store_body_open(struct store *st, int64_t mailbox_id, uint32_t uid, struct store_body **out, char *err,
                    size_t errlen)
{
	struct store_body *b = xcalloc(1, sizeof(*b));
	b->st = st;
	buf_init(&b->row, BUF_UNLIMITED);
	bool old;
	int rc = body_row(st, mailbox_id, uid, b, &b->parts, &old, err, errlen);
	if (rc == 1 && old) {
		rc = store_message_complete(st, mailbox_id, uid, err, errlen);
		if (rc == 1)
			rc = body_row(st, mailbox_id, uid, b, &b->parts, &old, err, errlen);
		if (rc == 1 && b->parts == NULL)
			rc = -1;
	}
	/* refused before FETCH announces a literal it could not fill */
	if (rc == 1 && store_reader_check(st, &b->key, err, errlen) < 0)
		rc = -1;
	/* the key now, so that a message that cannot be decrypted (an account key that does
	 * not unwrap) is refused before its reader promises the client a literal */
	if (rc == 1 && store_content_key(st, &b->key, b->content_key, err, errlen) < 0)
		rc = -1;
	if (rc != 1) {
		store_body_close(b);
		*out = NULL;
		return rc;
	}
	*out = b;
	return 1;
}

int store_body_open_key(struct store *st, int64_t mailbox_id, uint32_t uid,
                        const unsigned char key[CRYPTO_KEY_LEN], struct store_body **out, char *err,
                        size_t errlen)
{
	struct store_body *b = xcalloc(1, sizeof(*b));
	b->st = st;
	buf_init(&b->row, BUF_UNLIMITED);
	bool old;
	int rc = body_row(st, mailbox_id, uid, b, &b->parts, &old, err, errlen);
	if (rc == 1 && old)
		rc = 0; /* completing it would need the owner's key; rows of that age have no URL key */
	if (rc != 1) {
		store_body_close(b);
		*out = NULL;
		return rc;
	}
	memcpy(b->key.open_key, key, CRYPTO_KEY_LEN);
	b->key.has_open = true;
	memcpy(b->content_key, key, CRYPTO_KEY_LEN);
	*out = b;
	return 1;
}

uint64_t store_body_size(const struct store_body *b)
{
	return b->size;
}

const struct imap_part *store_body_parts(const struct store_body *b)
{
	return b->parts;
}

void store_body_mailbox_stamp(const struct store_body *b, uint64_t *highestmodseq, uint32_t *uidnext)
{
	*highestmodseq = b->highestmodseq;
	*uidnext = b->uidnext;
}

/* Gives the part of [base, base + n) that falls in [off, end) to sink. Returns the
 * sink's value (non-zero: stop). */
static int give(uint64_t base, const unsigned char *p, size_t n, uint64_t off, uint64_t end,
                int (*sink)(void *, const char *, size_t), void *arg)
{
	uint64_t lo = off > base ? off : base, hi = end < base + n ? end : base + n;
	if (lo >= hi)
		return 0;
	return sink(arg, (const char *)p + (lo - base), (size_t)(hi - lo));
}

static int stream_range(struct store_body *b, uint64_t off, uint64_t end,
                        int (*sink)(void *, const char *, size_t), void *arg, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	unsigned char key[CRYPTO_KEY_LEN];
	if (!b->in_row && store_blob_path(b->st, b->blob, path, sizeof(path)) < 0) {
		str_error(err, errlen, "blob path too long");
		return -1;
	}
	memcpy(key, b->content_key, sizeof(key));
	struct blob_reader *r = b->in_row
	                            ? crypto_blob_open_mem(b->row.data, b->row.len, b->blob, key, err, errlen)
	                            : crypto_blob_open(path, key, err, errlen);
	sodium_memzero(key, sizeof(key));
	if (r == NULL)
		return -1;
	uint64_t base = 0;
	const unsigned char *p;
	size_t n;
	int rc = 1;
	/* chunks before the range are decrypted (the stream has no random access) and
	 * dropped; reading stops after the range's last chunk */
	while (base < end && (rc = crypto_blob_next(r, &p, &n, err, errlen)) == 1) {
		if (give(base, p, n, off, end, sink, arg) != 0)
			break;
		base += n;
	}
	if (rc == 0 && base < end) {
		str_error(err, errlen, "blob shorter than its message");
		rc = -1;
	}
	crypto_blob_close(r);
	return rc < 0 ? -1 : 0;
}

int store_body_read(struct store_body *b, uint64_t off, uint64_t len,
                    int (*sink)(void *arg, const char *p, size_t n), void *arg, char *err, size_t errlen)
{
	if (off >= b->size)
		return 0;
	uint64_t end = len > b->size - off ? b->size : off + len;
	struct store_cache *c = &b->st->cache;
	bool cached = c->valid && strcmp(c->blob, b->blob) == 0;
	if (!cached && b->size <= STORE_BODY_CACHE) {
		if (load_opened(b, err, errlen) < 0)
			return -1;
		cached = true;
	}
	if (!cached)
		return stream_range(b, off, end, sink, arg, err, errlen);
	if (end > c->data.len) {
		str_error(err, errlen, "blob shorter than its message");
		return -1;
	}
	(void)give(0, (const unsigned char *)c->data.data, c->data.len, off, end, sink, arg);
	return 0;
}

static int to_buf(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n) < 0 ? 1 : 0;
}

int store_body_read_all(struct store_body *b, struct buf *out, char *err, size_t errlen)
{
	size_t before = out->len;
	if (store_body_read(b, 0, b->size, to_buf, out, err, errlen) < 0)
		return -1;
	if (out->len - before != b->size) {
		str_error(err, errlen, "message larger than the buffer");
		return -1;
	}
	return 0;
}

void store_body_close(struct store_body *b)
{
	if (b == NULL)
		return;
	imap_parts_free(b->parts);
	buf_free(&b->row);
	sodium_memzero(b->content_key, sizeof(b->content_key));
	sodium_memzero(&b->key, sizeof b->key);
	free(b);
}
