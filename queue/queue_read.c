/* queue_read.c: reading the queue: mssctl queue list and show, the counts, and a
 * message's content (queue.h). */
#include "queue/queue.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/str.h"
#include "queue/queue_int.h"
#include "store/store_sql.h"

void queue_entry_free(struct queue_entry *e)
{
	free(e->rcpts);
	e->rcpts = NULL;
	e->nrcpt = 0;
}

/* A column copied whole, or the row is an error (a value longer than its field was
 * never written by queue_put). */
static int copy_col(struct sql_stmt *q, int col, char *out, size_t outlen, char *err, size_t errlen)
{
	if (sql_text_copy(q, col, out, outlen) == 0)
		return 0;
	str_error(err, errlen, "queue row: column %d too long", col);
	return -1;
}

static int read_rcpts(struct store *st, struct queue_entry *e, char *err, size_t errlen)
{
	struct sql_stmt *q = sql_query(
	    store_sql(st), "queue recipients",
	    "SELECT rcpt, domain, next_attempt, attempts, last_reply, dsn_notify, dsn_orcpt, claim_owner "
	    "FROM queue_rcpts "
	    "WHERE qid = ?1 ORDER BY rcpt",
	    SQL_ARGS(SQL_TEXT(e->qid)), err, errlen);
	int r;
	if (q == NULL)
		return -1;
	while ((r = sql_next(q, err, errlen)) == 1) {
		struct queue_rcpt *rc;
		e->rcpts = realloc(e->rcpts, (e->nrcpt + 1) * sizeof *e->rcpts);
		if (e->rcpts == NULL)
			abort();
		rc = &e->rcpts[e->nrcpt++];
		memset(rc, 0, sizeof *rc);
		if (copy_col(q, 0, rc->rcpt, sizeof rc->rcpt, err, errlen) < 0 ||
		    copy_col(q, 1, rc->domain, sizeof rc->domain, err, errlen) < 0 ||
		    copy_col(q, 4, rc->last_reply, sizeof rc->last_reply, err, errlen) < 0 ||
		    copy_col(q, 6, rc->dsn.orcpt, sizeof rc->dsn.orcpt, err, errlen) < 0 ||
		    copy_col(q, 7, rc->claim_owner, sizeof rc->claim_owner, err, errlen) < 0) {
			r = -1;
			break;
		}
		rc->next_attempt = sql_int(q, 2);
		rc->attempts = (unsigned)sql_int(q, 3);
		rc->dsn.notify = (unsigned)sql_int(q, 5) & DSN_NOTIFY_ALL;
	}
	sql_done(q);
	return r < 0 ? -1 : 0;
}

static int read_message(struct sql_stmt *q, struct queue_entry *e, char *err, size_t errlen)
{
	memset(e, 0, sizeof *e);
	if (copy_col(q, 0, e->qid, sizeof e->qid, err, errlen) < 0 ||
	    copy_col(q, 1, e->mail_from, sizeof e->mail_from, err, errlen) < 0 ||
	    copy_col(q, 2, e->account, sizeof e->account, err, errlen) < 0)
		return -1;
	e->size = (uint64_t)sql_int(q, 3);
	e->created = sql_int(q, 4);
	e->warned = sql_int(q, 5) != 0;
	e->flags = (unsigned)sql_int(q, 6);
	int64_t ret = sql_int(q, 7);
	e->dsn.ret = ret == DSN_RET_FULL || ret == DSN_RET_HDRS ? (enum dsn_ret)ret : DSN_RET_NONE;
	return copy_col(q, 8, e->dsn.envid, sizeof e->dsn.envid, err, errlen);
}

#define MESSAGE_COLUMNS "qid, mail_from, account, size, created, warned, flags, dsn_ret, dsn_envid"

int queue_get(struct store *st, const char *qid, struct queue_entry *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!queue_id_valid(qid))
		return 1;
	struct sql_stmt *q = sql_query(store_sql(st), "queue message",
	                               "SELECT " MESSAGE_COLUMNS " FROM queue_messages WHERE qid = ?1",
	                               SQL_ARGS(SQL_TEXT(qid)), err, errlen);
	if (q == NULL)
		return -1;
	int r = sql_next(q, err, errlen);
	if (r == 1 && read_message(q, out, err, errlen) < 0)
		r = -1;
	sql_done(q);
	if (r != 1)
		return r < 0 ? -1 : 1;
	if (read_rcpts(st, out, err, errlen) < 0) {
		queue_entry_free(out);
		return -1;
	}
	return 0;
}

int queue_list(struct store *st, int (*each)(void *arg, const struct queue_entry *e), void *arg, char *err,
               size_t errlen)
{
	/* the ids first, so that each runs with no statement open */
	struct sql_stmt *q =
	    sql_query(store_sql(st), "queue list", "SELECT qid FROM queue_messages ORDER BY created, qid",
	              SQL_NOARGS, err, errlen);
	char(*ids)[QUEUE_ID_SIZE] = NULL;
	size_t n = 0;
	int r, rc = 0;
	if (q == NULL)
		return -1;
	while ((r = sql_next(q, err, errlen)) == 1) {
		ids = realloc(ids, (n + 1) * sizeof *ids);
		if (ids == NULL)
			abort();
		if (copy_col(q, 0, ids[n], sizeof ids[n], err, errlen) < 0) {
			r = -1;
			break;
		}
		n++;
	}
	sql_done(q);
	if (r < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct queue_entry e;
		r = queue_get(st, ids[i], &e, err, errlen);
		if (r == 1)
			continue; /* delivered meanwhile */
		if (r < 0) {
			rc = -1;
			break;
		}
		r = each(arg, &e);
		queue_entry_free(&e);
		if (r != 0)
			break;
	}
	free(ids);
	return rc;
}

/* The file key of qid, opened with the queue's secret key. Returns 0, 1 when there is
 * no such message, -1 (not resealed yet, altered, or this process may not read the
 * queue). */
static int file_key(struct store *st, const char *qid, unsigned char key[CRYPTO_KEY_LEN], char *err,
                    size_t errlen)
{
	unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], sk[CRYPTO_SECRET_KEY_LEN];
	struct sql_stmt *q =
	    sql_query(store_sql(st), "queue message", "SELECT sealed_key FROM queue_messages WHERE qid = ?1",
	              SQL_ARGS(SQL_TEXT(qid)), err, errlen);
	const void *sealed;
	size_t n = 0;
	int r;

	if (q == NULL)
		return -1;
	r = sql_next(q, err, errlen);
	if (r != 1) {
		sql_done(q);
		return r < 0 ? -1 : 1;
	}
	sealed = sql_blob(q, 0, &n);
	if (sealed == NULL || n == 0) {
		sql_done(q);
		str_error(err, errlen, "queued message %s was queued by an older MSS: run mssctl migrate",
		          qid);
		return -1;
	}
	r = store_queue_secret_key(st, pk, sk, err, errlen);
	if (r == 0 && crypto_key_seal_open(pk, sk, sealed, n, key) < 0) {
		str_error(err, errlen,
		          "queued message %s: its key does not open (altered, or another master key)", qid);
		r = -1;
	}
	sodium_memzero(sk, sizeof sk);
	sql_done(q);
	return r;
}

int queue_read(struct store *st, const char *qid, struct buf *out, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	unsigned char key[CRYPTO_KEY_LEN];
	if (!queue_id_valid(qid))
		return 1;
	if (queue_file_path(st, qid, path, sizeof path) < 0) {
		str_error(err, errlen, "queue file path too long");
		return -1;
	}
	int r = file_key(st, qid, key, err, errlen);
	if (r != 0)
		return r;
	int rc = crypto_blob_read(path, key, out, err, errlen);
	crypto_key_wipe(key);
	return rc < 0 ? -1 : 0;
}

int queue_count(struct store *st, int64_t now, uint64_t *waiting, uint64_t *due, char *err, size_t errlen)
{
	int64_t w = 0, d = 0;
	if (sql_one(store_sql(st), "queue count", "SELECT count(*) FROM queue_rcpts", SQL_NOARGS, &w, err,
	            errlen) < 0 ||
	    sql_one(store_sql(st), "queue due", "SELECT count(*) FROM queue_rcpts WHERE next_attempt <= ?1",
	            SQL_ARGS(SQL_INT(now)), &d, err, errlen) < 0)
		return -1;
	*waiting = (uint64_t)w;
	*due = (uint64_t)d;
	return 0;
}
