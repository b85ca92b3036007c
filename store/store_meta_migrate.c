/* store_meta_migrate.c: mssctl migrate's pass over a store written before message
 * metadata was sealed (store migration 6): every row whose meta is NULL gets its
 * record (store_meta.c) and loses its plaintext columns, a batch per write
 * transaction, so a daemon running meanwhile waits at most one batch. The pass is
 * idempotent: an interrupted migrate is finished by the next one, and until then the
 * rows not yet sealed are read from their plaintext columns.
 *
 * Rewritten rows leave their old contents in free pages and in the write-ahead log;
 * SQLite's secure_delete zeroes freed cells, and VACUUM plus a truncating checkpoint
 * then rewrite the file so no page of the old form remains. PostgreSQL keeps dead
 * row versions until vacuumed: VACUUM FULL rewrites both tables. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/str.h"
#include "store/store_int.h"

#define SEAL_BATCH 500
#define SEAL_BATCH_SQL " LIMIT 500" /* SEAL_BATCH */

struct plain_row {
	int64_t mailbox_id;
	struct store_keyref key; /* the blob's (store_msgkey.c) */
	uint32_t uid;
	struct store_meta_text t;
};

static const char *const select_sql[] = {
    "SELECT m.mailbox_id, m.uid, b.user_id, m.envelope, m.bodystructure, m.body, m.refs, b.sealed_key, b.id"
    " FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.meta IS NULL" SEAL_BATCH_SQL,
    "SELECT r.mailbox_id, r.uid, b.user_id, r.envelope, r.bodystructure, r.body, r.refs, b.sealed_key, b.id"
    " FROM retained r JOIN blobs b ON b.id = r.blob_id WHERE r.meta IS NULL" SEAL_BATCH_SQL,
};
static const char *const update_sql[] = {
    "UPDATE messages SET meta = ?3, envelope = '', bodystructure = '', body = '', refs = NULL"
    " WHERE mailbox_id = ?1 AND uid = ?2",
    "UPDATE retained SET meta = ?3, envelope = '', bodystructure = '', body = '', refs = NULL"
    " WHERE mailbox_id = ?1 AND uid = ?2",
};

static size_t read_batch(struct store *st, int table, struct plain_row *rows, char *err, size_t errlen,
                         int *rc)
{
	size_t n = 0;
	struct sql_stmt *q =
	    sql_query(st->sql, "store.meta_unsealed", select_sql[table], NULL, 0, err, errlen);
	*rc = q != NULL ? 0 : -1;
	while (q != NULL && n < SEAL_BATCH && (*rc = sql_next(q, err, errlen)) == 1) {
		struct plain_row *r = &rows[n++];
		r->mailbox_id = sql_int(q, 0);
		r->uid = (uint32_t)sql_int(q, 1);
		r->t.envelope = xstrdup(sql_text(q, 3));
		r->t.bodystructure = xstrdup(sql_text(q, 4));
		r->t.body = xstrdup(sql_text(q, 5));
		r->t.refs = sql_is_null(q, 6) ? NULL : xstrdup(sql_text(q, 6));
		if (store_keyref_read(q, 2, 7, 8, &r->key, err, errlen) < 0) {
			*rc = -1;
			break;
		}
	}
	if (*rc > 0)
		*rc = 0;
	sql_done(q);
	return n;
}

/* One batch of one table in one write transaction. Returns the rows sealed, or -1. */
static long seal_batch(struct store *st, int table, struct plain_row *rows, char *err, size_t errlen)
{
	struct store_txn txn;
	struct buf rec;
	int rc;
	if (store_txn_begin(st, &txn, err, errlen) < 0)
		return -1;
	size_t n = read_batch(st, table, rows, err, errlen, &rc);
	buf_init(&rec, BUF_UNLIMITED);
	for (size_t i = 0; i < n && rc == 0; i++) {
		buf_reset(&rec);
		unsigned char key[CRYPTO_KEY_LEN];
		rc = store_content_key(st, &rows[i].key, key, err, errlen);
		if (rc == 0)
			rc = store_meta_seal(key, &rows[i].t, &rec, err, errlen);
		sodium_memzero(key, sizeof key);
		if (rc == 0 && sql_exec(st->sql, "store.meta_seal", update_sql[table],
		                        SQL_ARGS(SQL_INT(rows[i].mailbox_id), SQL_INT(rows[i].uid),
		                                 SQL_BLOB(rec.data, rec.len)),
		                        err, errlen) < 0)
			rc = -1;
	}
	for (size_t i = 0; i < n; i++)
		store_meta_text_free(&rows[i].t);
	buf_free(&rec);
	if (store_txn_end(st, &txn, rc, err, errlen) < 0)
		return -1;
	return (long)n;
}

static int scrub(struct store *st, char *err, size_t errlen)
{
	/* one statement per call: PostgreSQL runs statements sent together in one implicit
	 * transaction, and VACUUM refuses to run inside one */
	if (sql_engine(st->sql) == SQL_POSTGRESQL) {
		if (sql_script(st->sql, "store.meta_vacuum", "VACUUM FULL messages", err, errlen) < 0)
			return -1;
		return sql_script(st->sql, "store.meta_vacuum", "VACUUM FULL retained", err, errlen);
	}
	return sql_script(st->sql, "store.meta_vacuum", "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);", err,
	                  errlen);
}

int store_meta_seal_all(struct store *st, size_t *sealed, char *err, size_t errlen)
{
	struct plain_row *rows = xcalloc(SEAL_BATCH, sizeof *rows);
	size_t total = 0;
	int rc = 0;
	for (int table = 0; table < 2 && rc == 0; table++) {
		long n;
		while ((n = seal_batch(st, table, rows, err, errlen)) > 0)
			total += (size_t)n;
		if (n < 0)
			rc = -1;
	}
	free(rows);
	if (rc == 0 && total > 0)
		rc = scrub(st, err, errlen);
	if (sealed != NULL)
		*sealed = total;
	return rc;
}
