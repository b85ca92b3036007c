/* queue_deliver.c: what the queue process of mss-smtpd reads and records (queue.h):
 * due recipients claimed by lease, and each attempt's outcome. */
#include "queue/queue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/str.h"
#include "queue/queue_int.h"
#include "store/store_sql.h"

struct claim_txn {
	struct store *st;
	const char *claim; /* "<owner> <generation>" */
	int64_t now, lease;
	struct queue_due *out;
	size_t max, n;
};

static int read_due(struct sql_stmt *q, struct queue_due *d)
{
	memset(d, 0, sizeof *d);
	if (sql_text_copy(q, 0, d->qid, sizeof d->qid) < 0 ||
	    sql_text_copy(q, 1, d->rcpt, sizeof d->rcpt) < 0 ||
	    sql_text_copy(q, 2, d->domain, sizeof d->domain) < 0 ||
	    sql_text_copy(q, 5, d->mail_from, sizeof d->mail_from) < 0 ||
	    sql_text_copy(q, 7, d->account, sizeof d->account) < 0 ||
	    sql_text_copy(q, 11, d->dsn.envid, sizeof d->dsn.envid) < 0 ||
	    sql_text_copy(q, 13, d->rdsn.orcpt, sizeof d->rdsn.orcpt) < 0)
		return -1;
	d->attempts = (unsigned)sql_int(q, 3);
	d->created = sql_int(q, 6);
	d->warned = sql_int(q, 8) != 0;
	d->flags = (unsigned)sql_int(q, 9);
	int64_t ret = sql_int(q, 10);
	d->dsn.ret = ret == DSN_RET_FULL || ret == DSN_RET_HDRS ? (enum dsn_ret)ret : DSN_RET_NONE;
	d->rdsn.notify = (unsigned)sql_int(q, 12) & DSN_NOTIFY_ALL;
	return 0;
}

/* Whether a due row's claim is still held: its owner (column 14) lives. Its lease ran
 * out in a long batch; the row is renewed in claim, not taken. */
static bool held(struct sql_stmt *q)
{
	const char *owner = sql_text(q, 14);
	return owner[0] != '\0' && queue_owner_state(owner) == QUEUE_OWNER_ALIVE;
}

/* One transaction reads and claims, so two queue processes (two hosts on one
 * PostgreSQL store) never claim the same recipient at once. */
static int claim(void *arg, char *err, size_t errlen)
{
	struct claim_txn *t = arg;
	struct sql *db = store_sql(t->st);
	struct queue_due renew;
	int r;
	bool take;
	t->n = 0;
	if (sql_lock(db, "queue_claim", err, errlen) < 0)
		return -1;
	struct sql_stmt *q =
	    sql_query(db, "queue due",
	              "SELECT r.qid, r.rcpt, r.domain, r.attempts, r.next_attempt, m.mail_from, m.created, "
	              "m.account, m.warned, m.flags, m.dsn_ret, m.dsn_envid, r.dsn_notify, r.dsn_orcpt, "
	              "r.claim_owner "
	              "FROM queue_rcpts r JOIN queue_messages m ON m.qid = r.qid "
	              "WHERE r.next_attempt <= ?1 ORDER BY r.next_attempt LIMIT ?2",
	              SQL_ARGS(SQL_INT(t->now), SQL_INT(t->max)), err, errlen);
	if (q == NULL)
		return -1;
	while (t->n < t->max && (r = sql_next(q, err, errlen)) == 1) {
		take = !held(q);
		struct queue_due *d = take ? &t->out[t->n] : &renew;
		if (read_due(q, d) != 0)
			continue;
		if (take)
			t->n++;
		else if (sql_exec(db, "queue renew",
		                  "UPDATE queue_rcpts SET next_attempt = ?1 WHERE qid = ?2 AND rcpt = ?3",
		                  SQL_ARGS(SQL_INT(t->now + t->lease), SQL_TEXT(d->qid), SQL_TEXT(d->rcpt)),
		                  err, errlen) < 0)
			r = -1;
		if (r < 0)
			break;
	}
	sql_done(q);
	if (r < 0)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		if (str_copy(t->out[i].claim, sizeof t->out[i].claim, t->claim) != 0)
			return -1; /* cannot be: queue_due checked that it fits */
		if (sql_exec(db, "queue claim",
		             "UPDATE queue_rcpts SET next_attempt = ?1, claim_owner = ?4 WHERE qid = ?2 AND "
		             "rcpt = ?3",
		             SQL_ARGS(SQL_INT(t->now + t->lease), SQL_TEXT(t->out[i].qid),
		                      SQL_TEXT(t->out[i].rcpt), SQL_TEXT(t->claim)),
		             err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int by_domain(const void *a, const void *b)
{
	const struct queue_due *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);
	return c != 0 ? c : strcmp(x->qid, y->qid);
}

/* The generation of this process's next claims: a worker that recorded a recipient's
 * deferral and ended may be reaped only after a later call claimed that recipient
 * again; its batch's end must then not give back the new claim (queue.h "Claims").
 * One counter per process: the owner already names the process. */
static unsigned long long claim_generation;

int queue_due(struct store *st, const char *owner, int64_t now, int64_t lease, struct queue_due *out,
              size_t max, size_t *n, char *err, size_t errlen)
{
	char token[QUEUE_OWNER_SIZE];
	struct claim_txn t = {.st = st, .claim = token, .now = now, .lease = lease, .out = out, .max = max};
	*n = 0;
	if (str_format(token, sizeof token, "%s %llu", owner, ++claim_generation) != 0) {
		str_error(err, errlen, "claim owner \"%s\" too long for a claim", owner);
		return -1;
	}
	int r = sql_transaction(store_sql(st), claim, &t, err, errlen);
	if (r != 0)
		return -1;
	qsort(out, t.n, sizeof *out, by_domain);
	*n = t.n;
	return 0;
}

int queue_next_due(struct store *st, int64_t *when, char *err, size_t errlen)
{
	int64_t v = 0;
	int r = sql_one(store_sql(st), "queue next",
	                "SELECT next_attempt FROM queue_rcpts ORDER BY next_attempt LIMIT 1", SQL_NOARGS, &v,
	                err, errlen);
	if (r < 0)
		return -1;
	*when = r == 1 ? v : INT64_MAX;
	return 0;
}

struct outcome_txn {
	struct store *st;
	const char *qid, *rcpt, *reply;
	int64_t next;
	bool done;
	const struct queue_hook *hook;
	bool last; /* the message left with this recipient: remove its file */
};

static int record_outcome(void *arg, char *err, size_t errlen)
{
	struct outcome_txn *t = arg;
	struct sql *db = store_sql(t->st);
	char reply[QUEUE_REPLY_SIZE];
	int r;
	t->last = false;
	/* cut, never refused: a long remote reply is kept as far as it fits */
	if (str_copy(reply, sizeof reply, t->reply ? t->reply : "") != 0)
		reply[sizeof reply - 1] = '\0';
	if (t->done)
		r = sql_exec(db, "queue done", "DELETE FROM queue_rcpts WHERE qid = ?1 AND rcpt = ?2",
		             SQL_ARGS(SQL_TEXT(t->qid), SQL_TEXT(t->rcpt)), err, errlen);
	else
		r = sql_exec(
		    db, "queue defer",
		    "UPDATE queue_rcpts SET next_attempt = ?3, attempts = attempts + 1, last_reply = ?4, "
		    "claim_owner = '' WHERE qid = ?1 AND rcpt = ?2",
		    SQL_ARGS(SQL_TEXT(t->qid), SQL_TEXT(t->rcpt), SQL_INT(t->next), SQL_TEXT(reply)), err,
		    errlen);
	if (r < 0)
		return -1;
	if (r == 0)
		return 1;
	if (t->done) {
		int64_t left = 0;
		if (sql_one(db, "queue left", "SELECT count(*) FROM queue_rcpts WHERE qid = ?1",
		            SQL_ARGS(SQL_TEXT(t->qid)), &left, err, errlen) < 0)
			return -1;
		if (left == 0) {
			if (sql_exec(db, "queue message done", "DELETE FROM queue_messages WHERE qid = ?1",
			             SQL_ARGS(SQL_TEXT(t->qid)), err, errlen) < 0)
				return -1;
			t->last = true;
		}
	}
	if (t->hook != NULL && t->hook->fn(t->hook->arg, err, errlen) != 0)
		return -1;
	return 0;
}

static int outcome(struct outcome_txn *t, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	int r = sql_transaction(store_sql(t->st), record_outcome, t, err, errlen);
	if (r != 0)
		return r;
	if (t->last && queue_file_path(t->st, t->qid, path, sizeof path) == 0 && unlink(path) == 0)
		crypto_fsync_dir_of(path);
	return 0;
}

int queue_done(struct store *st, const char *qid, const char *rcpt, const struct queue_hook *hook, char *err,
               size_t errlen)
{
	struct outcome_txn t = {.st = st, .qid = qid, .rcpt = rcpt, .done = true, .hook = hook};
	return outcome(&t, err, errlen);
}

int queue_defer(struct store *st, const char *qid, const char *rcpt, int64_t next, const char *reply,
                const struct queue_hook *hook, char *err, size_t errlen)
{
	struct outcome_txn t = {
	    .st = st, .qid = qid, .rcpt = rcpt, .reply = reply, .next = next, .hook = hook};
	return outcome(&t, err, errlen);
}

int queue_set_warned(struct store *st, const char *qid, char *err, size_t errlen)
{
	return sql_exec(store_sql(st), "queue warned", "UPDATE queue_messages SET warned = 1 WHERE qid = ?1",
	                SQL_ARGS(SQL_TEXT(qid)), err, errlen) < 0
	           ? -1
	           : 0;
}

struct release_txn {
	struct store *st;
	const char *reply;
	const struct queue_due *d;
	size_t n, released;
	int64_t next;
};

static int release_rows(void *arg, char *err, size_t errlen)
{
	struct release_txn *t = arg;
	char reply[QUEUE_REPLY_SIZE];
	if (str_copy(reply, sizeof reply, t->reply) != 0)
		reply[sizeof reply - 1] = '\0';
	t->released = 0;
	for (size_t i = 0; i < t->n; i++) {
		/* only what this very claim still holds: a recorded recipient is gone, deferred,
		 * or claimed again since by a later generation for another batch */
		if (t->d[i].claim[0] == '\0')
			continue;
		int r = sql_exec(store_sql(t->st), "queue release",
		                 "UPDATE queue_rcpts SET next_attempt = ?4, attempts = attempts + 1, "
		                 "last_reply = ?5, claim_owner = '' "
		                 "WHERE qid = ?1 AND rcpt = ?2 AND claim_owner = ?3",
		                 SQL_ARGS(SQL_TEXT(t->d[i].qid), SQL_TEXT(t->d[i].rcpt),
		                          SQL_TEXT(t->d[i].claim), SQL_INT(t->next), SQL_TEXT(reply)),
		                 err, errlen);
		if (r < 0)
			return -1;
		t->released += (size_t)r;
	}
	return 0;
}

int queue_release(struct store *st, const struct queue_due *d, size_t n, int64_t next, const char *reply,
                  size_t *released, char *err, size_t errlen)
{
	struct release_txn t = {.st = st, .reply = reply, .d = d, .n = n, .next = next};
	*released = 0;
	if (sql_transaction(store_sql(st), release_rows, &t, err, errlen) != 0)
		return -1;
	*released = t.released;
	return 0;
}

/* The owners of claims (few: the index holds claimed rows only). An owner counts once
 * however many generations of claims it holds: each is released whole, by its owner's
 * words, so that the claims of QUEUE_OWNERS_MAX gone owners go in one pass. */
#define QUEUE_OWNERS_MAX 64

struct gone_txn {
	struct store *st;
	const char *qid;
	int64_t now;
	size_t released;
	char owners[QUEUE_OWNERS_MAX][QUEUE_OWNER_SIZE]; /* gone ones, four words each */
	size_t k;
};

/* Whether owner is among t's gone owners already. */
static bool listed(const struct gone_txn *t, const char *owner)
{
	for (size_t i = 0; i < t->k; i++)
		if (strcmp(t->owners[i], owner) == 0)
			return true;
	return false;
}

/* Releases the claims of one gone owner: a claim is "<owner> <generation>" (an older MSS
 * wrote "<owner>" alone). An owner's words hold no LIKE wildcard ('%' or '_'): a boot
 * id, "pid:[n]" and numbers. */
static int release_owner(struct gone_txn *t, const char *owner, char *err, size_t errlen)
{
	char like[QUEUE_OWNER_SIZE + 2];
	if (strpbrk(owner, "%_\\") != NULL || str_format(like, sizeof like, "%s %%", owner) != 0)
		return 0; /* not one of ours: left to its lease */
	struct sql *db = store_sql(t->st);
	int r = t->qid == NULL
	            ? sql_exec(db, "queue release gone",
	                       "UPDATE queue_rcpts SET next_attempt = ?2, claim_owner = '' WHERE "
	                       "claim_owner <> '' AND (claim_owner = ?1 OR claim_owner LIKE ?3)",
	                       SQL_ARGS(SQL_TEXT(owner), SQL_INT(t->now), SQL_TEXT(like)), err, errlen)
	            : sql_exec(db, "queue release gone",
	                       "UPDATE queue_rcpts SET next_attempt = ?2, claim_owner = '' "
	                       "WHERE claim_owner <> '' AND (claim_owner = ?1 OR claim_owner LIKE ?3) "
	                       "AND qid = ?4",
	                       SQL_ARGS(SQL_TEXT(owner), SQL_INT(t->now), SQL_TEXT(like), SQL_TEXT(t->qid)),
	                       err, errlen);
	if (r < 0)
		return -1;
	t->released += (size_t)r;
	return 0;
}

static int release_gone(void *arg, char *err, size_t errlen)
{
	struct gone_txn *t = arg;
	char claim[QUEUE_OWNER_SIZE], owner[QUEUE_OWNER_SIZE];
	int r;
	t->released = 0;
	t->k = 0;
	struct sql_stmt *q = sql_query(store_sql(t->st), "queue owners",
	                               "SELECT DISTINCT claim_owner FROM queue_rcpts WHERE claim_owner <> ''",
	                               SQL_NOARGS, err, errlen);
	if (q == NULL)
		return -1;
	while (t->k < QUEUE_OWNERS_MAX && (r = sql_next(q, err, errlen)) == 1)
		if (sql_text_copy(q, 0, claim, sizeof claim) == 0 &&
		    queue_owner_of(claim, owner, sizeof owner) == 0 && !listed(t, owner) &&
		    queue_owner_state(owner) == QUEUE_OWNER_GONE)
			memcpy(t->owners[t->k++], owner, sizeof owner);
	sql_done(q);
	if (r < 0)
		return -1;
	for (size_t i = 0; i < t->k; i++)
		if (release_owner(t, t->owners[i], err, errlen) < 0)
			return -1;
	return 0;
}

int queue_release_gone(struct store *st, const char *qid, int64_t now, size_t *released, char *err,
                       size_t errlen)
{
	struct gone_txn t = {.st = st, .qid = qid, .now = now};
	*released = 0;
	if (sql_transaction(store_sql(st), release_gone, &t, err, errlen) != 0)
		return -1;
	*released = t.released;
	return 0;
}
