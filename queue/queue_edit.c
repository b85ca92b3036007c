/* queue_edit.c: what the operator does to the queue (mssctl queue flush, delete). */
#include "queue/queue.h"

#include <string.h>
#include <unistd.h>

#include "lib/str.h"
#include "queue/queue_int.h"
#include "store/store_sql.h"

int queue_flush(struct store *st, const char *qid, int64_t now, size_t *n, char *err, size_t errlen)
{
	int r;
	size_t released = 0;
	*n = 0;
	if (qid != NULL) {
		struct queue_entry e;
		r = queue_get(st, qid, &e, err, errlen);
		if (r != 0)
			return r;
		queue_entry_free(&e);
	}
	/* the claims of gone owners first (a killed queue process's), then the deferred
	 * ones; a live owner's claim is left alone: its worker may be sending it now, and a
	 * second copy beside it would reach the other operator twice */
	if (queue_release_gone(st, qid, now, &released, err, errlen) < 0)
		return -1;
	if (qid == NULL)
		r = sql_exec(
		    store_sql(st), "queue flush",
		    "UPDATE queue_rcpts SET next_attempt = ?1 WHERE next_attempt > ?1 AND claim_owner = ''",
		    SQL_ARGS(SQL_INT(now)), err, errlen);
	else
		r = sql_exec(store_sql(st), "queue flush",
		             "UPDATE queue_rcpts SET next_attempt = ?1 "
		             "WHERE qid = ?2 AND next_attempt > ?1 AND claim_owner = ''",
		             SQL_ARGS(SQL_INT(now), SQL_TEXT(qid)), err, errlen);
	if (r < 0)
		return -1;
	*n = (size_t)r + released;
	/* now, not at the queue process's next look; also when nothing was moved, since
	 * what was already due may be waiting for that look */
	store_queue_notify(st);
	return 0;
}

struct delete_txn {
	struct store *st;
	const char *qid;
	const struct queue_hook *hook;
};

static int delete_rows(void *arg, char *err, size_t errlen)
{
	const struct delete_txn *t = arg;
	struct sql *db = store_sql(t->st);
	if (sql_exec(db, "queue delete recipients", "DELETE FROM queue_rcpts WHERE qid = ?1",
	             SQL_ARGS(SQL_TEXT(t->qid)), err, errlen) < 0)
		return -1;
	int r = sql_exec(db, "queue delete", "DELETE FROM queue_messages WHERE qid = ?1",
	                 SQL_ARGS(SQL_TEXT(t->qid)), err, errlen);
	if (r < 0)
		return -1;
	if (r == 0)
		return 1;
	if (t->hook != NULL && t->hook->fn(t->hook->arg, err, errlen) != 0)
		return -1;
	return 0;
}

int queue_delete(struct store *st, const char *qid, const struct queue_hook *hook, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	if (!queue_id_valid(qid))
		return 1;
	struct delete_txn t = {.st = st, .qid = qid, .hook = hook};
	int r = sql_transaction(store_sql(st), delete_rows, &t, err, errlen);
	if (r != 0)
		return r;
	/* after the commit: a crash before the unlink leaves an orphan file, never a row
	 * without its file */
	if (queue_file_path(st, qid, path, sizeof path) == 0 && unlink(path) == 0)
		crypto_fsync_dir_of(path);
	return 0;
}
