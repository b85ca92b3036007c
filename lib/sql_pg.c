/* sql_pg.c: the PostgreSQL driver behind sql.h (libpq), for several hosts on one
 * cluster.
 *
 * - Statements are prepared once per connection at their second use (the first runs
 *   unnamed, in one round trip), named, cached by SQL text in the same bounded cache
 *   as the SQLite driver's (lib/sql_cache.h; one evicted is DEALLOCATEd), ?N rewritten to $N, each parameter
 * typed from the first values bound (int8, text, bytea; a NULL leaves the type to the server), so that
 *   "INSERT ... SELECT ?1" or "length(?2) + 1" type as they do on SQLite. Values go
 *   as text, blobs as binary; results come back as text and whole, so a cursor may
 *   stay open while other statements run, as sql.h promises.
 * - Write transactions are serialized across the cluster: BEGIN, then one
 *   transaction-scoped advisory lock (PG_WRITE_LOCK). That is what BEGIN IMMEDIATE
 *   gives on SQLite, and every read-then-write of the data parts (UIDs and MODSEQs,
 *   \Recent, UIDVALIDITY, the audit chain's tail, names checked then inserted) was
 *   written and tested for it; READ COMMITTED inside the lock sees every earlier
 *   writer's commit. Deliveries serialize on the audit chain's single head anyway.
 *   Readers never wait: read transactions are REPEATABLE READ READ ONLY snapshots.
 * - Waits are bounded: the server gets lock_timeout and
 *   idle_in_transaction_session_timeout (a host that vanished inside a transaction
 *   frees the write lock), TCP keepalives on both sides find a dead peer, and with a
 *   timeout each call waits at most that long for its answer, then drops the
 *   connection (SQL_ERR_CONNECTION).
 * - A connection found broken (the server restarted or failed over) is made again
 *   before its next use outside a transaction, its statements prepared again; inside a
 *   transaction the loss is reported and the caller rolls back.
 * - The database must use the SQL_ASCII encoding and the C collation (checked at
 *   connection): MSS stores text as the bytes it was given (a header may carry any
 *   8-bit bytes) and sorts it bytewise, exactly as SQLite does. */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/sql_cache.h"
#include "lib/sql_int.h"
#include "lib/str.h"

#define PG_MAX_PARAMS 64
/* Every write transaction takes this advisory lock first ("mss.write"). */
#define PG_WRITE_LOCK "mss.write"
/* Answer time added to the server-side bounds before the client gives up itself. */
#define PG_GRACE_MS 5000
#define PG_CONNECT_TIMEOUT_S 10
/* After a connection attempt failed, calls fail at once for this long instead of each
 * waiting out its own connection timeout: a session answers "try again later"
 * promptly while the database is unreachable. */
#define PG_RETRY_MS 2000

/* Type OIDs (pg_type.h, stable since PostgreSQL 7). */
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20
#define PG_OID_TEXT 25

struct pg_entry {
	struct sql_cache_entry ce; /* never busy: a result is read whole before the call returns */
	unsigned nparams;
	char name[24]; /* the server's name for it; "" until its second use (send_statement) */
};

struct pg {
	struct sql base;
	PGconn *c;    /* NULL after a drop */
	char *target; /* to connect again (may hold a password: wiped on close) */
	unsigned timeout_ms;
	long long retry_at_ms; /* monotonic: no new connection attempt before this */
	bool txn;              /* inside a transaction begun by pg_begin */
	bool listening;        /* LISTEN issued on this connection */
	unsigned long next_name;
	struct sql_cache cache;
};

struct pg_stmt {
	struct sql_stmt base;
	PGresult *res;
	int row, nrows, ncols, changes;
	struct buf *blobs; /* per column: bytea of the current row, decoded on demand */
};

static struct pg *pg(struct sql *db)
{
	return (struct pg *)db;
}

/* ---- errors ---------------------------------------------------------------------- */

static bool connected(const struct pg *p)
{
	return p->c != NULL && PQstatus(p->c) == CONNECTION_OK;
}

static enum sql_error kind_of(const struct pg *p, const PGresult *r)
{
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (!connected(p))
		return SQL_ERR_CONNECTION;
	if (state == NULL)
		return SQL_ERR_OTHER;
	/* serialization failure, deadlock, lock timeout, statement cancelled */
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0 ||
	    strcmp(state, "57014") == 0)
		return SQL_ERR_BUSY;
	if (strncmp(state, "23", 2) == 0)
		return SQL_ERR_CONSTRAINT;
	/* connection exceptions, shutdown, too many connections */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 || strcmp(state, "53300") == 0)
		return SQL_ERR_CONNECTION;
	return SQL_ERR_OTHER;
}

/* The first line of libpq's message, without its "ERROR:  " prefix. */
static void first_line(const char *msg, char *out, size_t outlen)
{
	if (msg == NULL || *msg == '\0')
		msg = "connection lost";
	if (strncmp(msg, "ERROR:  ", 8) == 0)
		msg += 8;
	size_t n = strcspn(msg, "\n");
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, msg, n);
	out[n] = '\0';
}

static int fail_msg(struct pg *p, enum sql_error kind, const char *what, const char *msg, char *err,
                    size_t errlen)
{
	char line[400];
	first_line(msg, line, sizeof line);
	p->base.last_error = kind;
	str_error(err, errlen, "%s: %s", what, line);
	return -1;
}

static int fail_result(struct pg *p, const char *what, PGresult *r, char *err, size_t errlen)
{
	const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (msg == NULL)
		msg = p->c != NULL ? PQerrorMessage(p->c) : NULL;
	enum sql_error kind = kind_of(p, r);
	fail_msg(p, kind, what, msg, err, errlen);
	PQclear(r);
	return -1;
}

/* ---- connections ----------------------------------------------------------------- */

static void quiet(void *arg, const char *message)
{
	(void)arg; /* NOTICEs ("relation already exists, skipping") are not errors */
	(void)message;
}

struct conn_params {
	const char *kw[64];
	const char *val[64];
	size_t n;
	char options[1200], user_timeout[16], connect_timeout[16];
};

static void param_set(struct conn_params *cp, const char *kw, const char *val)
{
	for (size_t i = 0; i < cp->n; i++) {
		if (strcmp(cp->kw[i], kw) == 0) {
			cp->val[i] = val;
			return;
		}
	}
	if (cp->n + 1 < sizeof cp->kw / sizeof cp->kw[0]) {
		cp->kw[cp->n] = kw;
		cp->val[cp->n++] = val;
	}
}

static bool param_given(const struct conn_params *cp, const char *kw)
{
	for (size_t i = 0; i < cp->n; i++)
		if (strcmp(cp->kw[i], kw) == 0)
			return true;
	return false;
}

/* Our defaults where the connection string says nothing; the server-side bounds go
 * before the string's own "options", which may override them. */
static int build_params(struct conn_params *cp, PQconninfoOption *opts, unsigned timeout_ms)
{
	const char *user_options = "";
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "options") == 0)
			user_options = o->val;
		else
			param_set(cp, o->keyword, o->val);
	}
	unsigned bound = timeout_ms != 0 ? timeout_ms : SQL_WAIT_MS;
	static const char *const defaults[][2] = {
	    {"keepalives", "1"},       {"keepalives_idle", "10"},   {"keepalives_interval", "5"},
	    {"keepalives_count", "3"}, {"application_name", "mss"},
	};
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		if (!param_given(cp, defaults[i][0]))
			param_set(cp, defaults[i][0], defaults[i][1]);
	/* a bounded caller waits for a connection no longer than for an answer (libpq
	 * takes 2 s at least) */
	unsigned connect_s = PG_CONNECT_TIMEOUT_S;
	if (timeout_ms != 0 && (timeout_ms + 999) / 1000 < connect_s)
		connect_s = (timeout_ms + 999) / 1000 < 2 ? 2 : (timeout_ms + 999) / 1000;
	str_assert(str_format(cp->connect_timeout, sizeof cp->connect_timeout, "%u", connect_s),
	           "an unsigned has at most 10 digits");
	if (!param_given(cp, "connect_timeout"))
		param_set(cp, "connect_timeout", cp->connect_timeout);
	str_assert(str_format(cp->user_timeout, sizeof cp->user_timeout, "%u", bound),
	           "an unsigned has at most 10 digits");
	if (!param_given(cp, "tcp_user_timeout"))
		param_set(cp, "tcp_user_timeout", cp->user_timeout);
	/* Bytes pass unchanged (see the top of this file). */
	param_set(cp, "client_encoding", "SQL_ASCII");
	if (str_format(cp->options, sizeof cp->options,
	               "-c lock_timeout=%u -c idle_in_transaction_session_timeout=%u"
	               " -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 %s",
	               bound, bound, user_options) != 0)
		return -1;
	param_set(cp, "options", cp->options);
	cp->kw[cp->n] = NULL;
	cp->val[cp->n] = NULL;
	return 0;
}

/* The database keeps bytes and sorts them as SQLite does, or MSS refuses it. */
static int check_database(PGconn *c, char *err, size_t errlen)
{
	const char *enc = PQparameterStatus(c, "server_encoding");
	if (enc == NULL || strcmp(enc, "SQL_ASCII") != 0) {
		str_error(err, errlen,
		          "PostgreSQL database \"%s\" uses encoding %s: MSS needs SQL_ASCII with the C locale"
		          " (CREATE DATABASE ... ENCODING 'SQL_ASCII' LOCALE 'C' TEMPLATE template0)",
		          PQdb(c), enc != NULL ? enc : "?");
		return -1;
	}
	PGresult *r = PQexec(c, "SELECT datcollate FROM pg_database WHERE datname = current_database()");
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	const char *coll = ok ? PQgetvalue(r, 0, 0) : "?";
	if (!ok || (strcmp(coll, "C") != 0 && strcmp(coll, "POSIX") != 0)) {
		str_error(err, errlen,
		          "PostgreSQL database \"%s\" sorts with collation %s: MSS needs the C locale"
		          " (CREATE DATABASE ... ENCODING 'SQL_ASCII' LOCALE 'C' TEMPLATE template0)",
		          PQdb(c), coll);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

static PGconn *connect_db(const char *target, unsigned timeout_ms, char *err, size_t errlen)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(target, &msg);
	if (opts == NULL) {
		char line[256];
		first_line(msg != NULL ? msg : "out of memory", line, sizeof line);
		str_error(err, errlen, "PostgreSQL connection string: %s", line);
		PQfreemem(msg);
		return NULL;
	}
	struct conn_params cp = {.n = 0};
	PGconn *c = NULL;
	if (build_params(&cp, opts, timeout_ms) < 0)
		str_error(err, errlen, "PostgreSQL connection string: options too long");
	else
		c = PQconnectdbParams(cp.kw, cp.val, 0);
	PQconninfoFree(opts);
	if (c == NULL)
		return NULL;
	if (PQstatus(c) != CONNECTION_OK) {
		char line[400];
		first_line(PQerrorMessage(c), line, sizeof line);
		str_error(err, errlen, "PostgreSQL: cannot connect: %s", line);
		PQfinish(c);
		return NULL;
	}
	if (check_database(c, err, errlen) < 0) {
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

static bool pg_accepts(const char *target)
{
	return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

static struct sql *pg_open(const char *target, unsigned flags, unsigned timeout_ms, char *err, size_t errlen)
{
	(void)flags; /* the database is made by the administrator (doc/operations.md) */
	PGconn *c = connect_db(target, timeout_ms, err, errlen);
	if (c == NULL)
		return NULL;
	struct pg *p = xcalloc(1, sizeof *p);
	p->base.drv = &sql_pg_driver;
	p->c = c;
	p->target = xstrdup(target);
	p->timeout_ms = timeout_ms;
	p->cache.max = SQL_CACHE_MAX;
	return &p->base;
}

/* Forgets every cached statement on our side (the connection was dropped, or the
 * server was told DEALLOCATE ALL). */
static void cache_clear(struct pg *p)
{
	while (p->cache.oldest != NULL) {
		struct sql_cache_entry *e = p->cache.oldest;
		sql_cache_remove(&p->cache, e);
		free(e);
	}
}

/* Closes without waiting on the network (a partition must not hang the caller). */
static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void drop(struct pg *p)
{
	if (p->c != NULL) {
		PQsetnonblocking(p->c, 1);
		PQfinish(p->c);
	}
	p->c = NULL;
}

static void pg_close(struct sql *db)
{
	struct pg *p = pg(db);
	if (p->txn && connected(p))
		PQclear(PQexec(p->c, "ROLLBACK"));
	drop(p);
	cache_clear(p);
	explicit_bzero(p->target, strlen(p->target));
	free(p->target);
	free(p);
}

/* Input waiting on an idle connection that listens to nothing is the server saying
 * goodbye (restart, failover, administrator): the connection is made again rather
 * than used to fail the next statement. A listener's input is read: notifications
 * stay queued, a closed connection shows. */
static void notice_goodbye(struct pg *p)
{
	struct pollfd pfd = {.fd = PQsocket(p->c), .events = POLLIN};
	for (int i = 0; i < 4 && connected(p); i++) {
		if (pfd.fd < 0 || poll(&pfd, 1, 0) != 1)
			return;
		if (!p->listening || !PQconsumeInput(p->c))
			drop(p);
	}
}

/* Before sending: a usable connection, made again when lost outside a transaction. */
static int ready(struct pg *p, const char *what, char *err, size_t errlen)
{
	if (connected(p) && !p->txn)
		notice_goodbye(p);
	if (connected(p))
		return 0;
	if (p->txn)
		return fail_msg(p, SQL_ERR_CONNECTION, what,
		                "connection to the database lost in a transaction", err, errlen);
	drop(p);
	cache_clear(p);
	if (p->timeout_ms != 0 && now_ms() < p->retry_at_ms)
		return fail_msg(p, SQL_ERR_CONNECTION, what, "the database is unreachable (retrying shortly)",
		                err, errlen);
	char why[400];
	p->c = connect_db(p->target, p->timeout_ms, why, sizeof why);
	if (p->c == NULL) {
		p->retry_at_ms = now_ms() + PG_RETRY_MS;
		return fail_msg(p, SQL_ERR_CONNECTION, what, why, err, errlen);
	}
	return 0;
}

/* ---- sending and waiting --------------------------------------------------------- */

static bool is_error(const PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);
	return s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY;
}

/* The server's own bounds (lock_timeout) answer first; the client's catches a server
 * or network that does not answer at all. */
static long wait_bound(const struct pg *p)
{
	if (p->timeout_ms == 0)
		return -1;
	return (long)p->timeout_ms + (p->timeout_ms < PG_GRACE_MS ? (long)p->timeout_ms : PG_GRACE_MS);
}

/* The connection's state is unknown: drop it. Returns NULL for await. */
static PGresult *lost(struct pg *p, PGresult *keep, const char *what, const char *why, char *err,
                      size_t errlen)
{
	PQclear(keep);
	fail_msg(p, SQL_ERR_CONNECTION, what, why, err, errlen);
	drop(p);
	return NULL;
}

/* Waits for every result of what was sent; returns the first error, else the last
 * result. NULL with err when the connection was lost or the answer took too long
 * (then the connection is dropped: its state is unknown). */
static PGresult *await(struct pg *p, const char *what, char *err, size_t errlen)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	PGresult *keep = NULL;
	long bound = wait_bound(p);
	for (;;) {
		while (!PQisBusy(p->c)) {
			PGresult *r = PQgetResult(p->c);
			if (r == NULL)
				return keep;
			if (keep == NULL || !is_error(keep)) {
				PQclear(keep);
				keep = r;
			} else {
				PQclear(r);
			}
		}
		int wait = -1;
		if (bound >= 0) {
			long left = bound - sql_elapsed_ms(&start);
			if (left <= 0)
				return lost(p, keep, what, "the database did not answer in time", err,
				            errlen);
			wait = (int)left;
		}
		struct pollfd pfd = {.fd = PQsocket(p->c), .events = POLLIN};
		int rc = poll(&pfd, 1, wait);
		if (rc < 0 && errno != EINTR)
			return lost(p, keep, what, strerror(errno), err, errlen);
		if (rc > 0 && !PQconsumeInput(p->c))
			return lost(p, keep, what, PQerrorMessage(p->c), err, errlen);
	}
}

/* Runs text without parameters (one or more statements); the result is checked. */
static PGresult *exec_simple(struct pg *p, const char *what, const char *sql, char *err, size_t errlen)
{
	if (ready(p, what, err, errlen) < 0)
		return NULL;
	if (!PQsendQuery(p->c, sql)) {
		fail_msg(p, kind_of(p, NULL), what, PQerrorMessage(p->c), err, errlen);
		return NULL;
	}
	PGresult *r = await(p, what, err, errlen);
	if (r != NULL && is_error(r)) {
		fail_result(p, what, r, err, errlen);
		return NULL;
	}
	if (r == NULL && p->base.last_error == SQL_ERR_NONE)
		fail_msg(p, kind_of(p, NULL), what, "no result", err, errlen);
	return r;
}

/* ---- the statement cache --------------------------------------------------------- */

struct pg_params {
	const char *v[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS];
	int fmt[PG_MAX_PARAMS];
	Oid type[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][24];
};

static void params_fill(struct pg_params *pp, const struct sql_value *args, size_t nargs)
{
	for (size_t i = 0; i < nargs; i++) {
		const struct sql_value *a = &args[i];
		pp->len[i] = 0;
		pp->fmt[i] = 0;
		pp->v[i] = NULL;
		switch (a->type) {
		case SQL_TNULL:
			pp->type[i] = 0; /* the server infers it */
			break;
		case SQL_TINT:
			pp->type[i] = PG_OID_INT8;
			str_assert(str_format(pp->num[i], sizeof pp->num[i], "%lld", (long long)a->i),
			           "a long long has at most 20 characters");
			pp->v[i] = pp->num[i];
			break;
		case SQL_TTEXT:
			pp->type[i] = PG_OID_TEXT;
			pp->v[i] = a->s;
			break;
		case SQL_TBLOB:
			pp->type[i] = PG_OID_BYTEA;
			pp->v[i] = a->p != NULL ? a->p : "";
			pp->len[i] = (int)a->len;
			pp->fmt[i] = 1;
			break;
		}
	}
}

/* The rewritten text and its placeholder count; refuses a second statement. */
static char *rewrite(struct pg *p, const char *what, const char *sql, unsigned *nparams, char *err,
                     size_t errlen)
{
	size_t cap = strlen(sql) * 2 + 16;
	char *out = xmalloc(cap);
	int rc = sql_placeholders_rewrite(sql, out, cap, nparams);
	if (rc == 0)
		return out;
	free(out);
	fail_msg(p, SQL_ERR_OTHER, what, rc == 1 ? "more than one statement" : "statement too long", err,
	         errlen);
	return NULL;
}

static int check_count(struct pg *p, const char *what, size_t nargs, unsigned nparams, char *err,
                       size_t errlen)
{
	if (nargs == nparams && nargs <= PG_MAX_PARAMS)
		return 0;
	p->base.last_error = SQL_ERR_OTHER;
	str_error(err, errlen, "%s: %zu values bound, the statement has %u placeholders", what, nargs,
	          nparams);
	return -1;
}

/* Makes room for one more statement: the least recently used one goes, deallocated
 * on the server when it was prepared there (one round trip, only past SQL_CACHE_MAX
 * distinct texts). Returns 0 or -1 with err (the connection or its transaction
 * failed: so would the statement). */
static int cache_room(struct pg *p, const char *what, char *err, size_t errlen)
{
	if (sql_cache_has_room(&p->cache))
		return 0;
	struct pg_entry *v = (struct pg_entry *)sql_cache_victim(&p->cache);
	if (v->name[0] != '\0') {
		char q[48];
		str_assert(str_format(q, sizeof q, "DEALLOCATE %s", v->name), "a 24-byte name fits");
		PGresult *r = exec_simple(p, what, q, err, errlen);
		if (r == NULL)
			return -1;
		PQclear(r);
	}
	sql_cache_remove(&p->cache, &v->ce);
	free(v);
	return 0;
}

/* Prepares e's statement on the server under a new name, typed from the values of
 * this use. Returns 0 or -1 with err. */
static int prepare(struct pg *p, struct pg_entry *e, const char *what, const struct pg_params *pp, char *err,
                   size_t errlen)
{
	unsigned nparams;
	char *text = rewrite(p, what, e->ce.sql, &nparams, err, errlen);
	if (text == NULL)
		return -1;
	char name[24];
	str_assert(str_format(name, sizeof name, "mss_%lu", ++p->next_name),
	           "mss_ and 20 digits fit 24 bytes");
	int sent = PQsendPrepare(p->c, name, text, (int)nparams, pp->type);
	free(text);
	if (!sent)
		return fail_msg(p, kind_of(p, NULL), what, PQerrorMessage(p->c), err, errlen);
	PGresult *r = await(p, what, err, errlen);
	if (r == NULL)
		return -1;
	if (is_error(r))
		return fail_result(p, what, r, err, errlen);
	PQclear(r);
	str_assert(str_copy(e->name, sizeof e->name, name), "both names are 24 bytes");
	return 0;
}

/* A text seen for the first time is cached but sent unnamed (parsed, planned and run
 * in one round trip); at its second use it is prepared, and from then on only bound
 * and run. A connection used for one delivery (a connection per MX session) runs most
 * of its statements once: preparing them first cost a round trip each for nothing. */
static int send_first(struct pg *p, const char *what, const char *sql, uint32_t hash, size_t nargs,
                      const struct pg_params *pp, int format, char *err, size_t errlen)
{
	unsigned nparams;
	char *text = rewrite(p, what, sql, &nparams, err, errlen);
	if (text == NULL)
		return -1;
	if (check_count(p, what, nargs, nparams, err, errlen) < 0 || cache_room(p, what, err, errlen) < 0) {
		free(text);
		return -1;
	}
	struct pg_entry *e = xcalloc(1, sizeof *e);
	e->nparams = nparams;
	sql_cache_add(&p->cache, &e->ce, sql, hash);
	p->base.prepares++;
	int sent = PQsendQueryParams(p->c, text, (int)nargs, pp->type, pp->v, pp->len, pp->fmt, format);
	free(text);
	return sent ? 0 : fail_msg(p, kind_of(p, NULL), what, PQerrorMessage(p->c), err, errlen);
}

/* Sends sql with its values: unnamed at its first use, then as a prepared statement.
 * format: of the results, 0 text, 1 binary. */
static int send_statement(struct pg *p, const char *what, const char *sql, const struct sql_value *args,
                          size_t nargs, struct pg_params *pp, int format, char *err, size_t errlen)
{
	if (nargs > PG_MAX_PARAMS)
		return check_count(p, what, nargs, PG_MAX_PARAMS + 1, err, errlen);
	params_fill(pp, args, nargs);
	uint32_t hash = sql_text_hash(sql);
	struct pg_entry *e = (struct pg_entry *)sql_cache_find(&p->cache, sql, hash);
	if (e == NULL)
		return send_first(p, what, sql, hash, nargs, pp, format, err, errlen);
	if (check_count(p, what, nargs, e->nparams, err, errlen) < 0)
		return -1;
	if (e->name[0] == '\0' && prepare(p, e, what, pp, err, errlen) < 0)
		return -1;
	if (!PQsendQueryPrepared(p->c, e->name, (int)nargs, pp->v, pp->len, pp->fmt, format))
		return fail_msg(p, kind_of(p, NULL), what, PQerrorMessage(p->c), err, errlen);
	return 0;
}

/* ---- statements ------------------------------------------------------------------ */

static struct sql_stmt *pg_query(struct sql *db, const char *what, const char *sql,
                                 const struct sql_value *args, size_t nargs, unsigned opts, char *err,
                                 size_t errlen)
{
	/* SQL_QUERY_KEEP needs nothing: the statement runs here, before the caller's
	 * values go away */
	struct pg *p = pg(db);
	struct pg_params pp;
	int format = (opts & SQL_QUERY_BINARY) ? 1 : 0;
	if (ready(p, what, err, errlen) < 0 ||
	    send_statement(p, what, sql, args, nargs, &pp, format, err, errlen) < 0)
		return NULL;
	PGresult *r = await(p, what, err, errlen);
	if (r == NULL)
		return NULL;
	if (is_error(r)) {
		fail_result(p, what, r, err, errlen);
		return NULL;
	}
	struct pg_stmt *q = xcalloc(1, sizeof *q);
	q->base.db = db;
	q->base.what = what;
	q->res = r;
	q->row = -1;
	q->nrows = PQntuples(r);
	q->ncols = PQnfields(r);
	q->changes = atoi(PQcmdTuples(r));
	return &q->base;
}

static int pg_next(struct sql_stmt *q, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	struct pg_stmt *s = (struct pg_stmt *)q;
	if (s->row + 1 >= s->nrows) {
		s->row = s->nrows;
		return 0;
	}
	s->row++;
	return 1;
}

static void pg_done(struct sql_stmt *q)
{
	struct pg_stmt *s = (struct pg_stmt *)q;
	PQclear(s->res);
	if (s->blobs != NULL) {
		for (int i = 0; i < s->ncols; i++)
			buf_free(&s->blobs[i]);
		free(s->blobs);
	}
	free(s);
}

static int pg_changes(struct sql_stmt *q)
{
	return ((struct pg_stmt *)q)->changes;
}

static bool in_row(const struct pg_stmt *s, int col)
{
	return s->row >= 0 && s->row < s->nrows && col >= 0 && col < s->ncols;
}

static bool pg_col_null(struct sql_stmt *q, int col)
{
	struct pg_stmt *s = (struct pg_stmt *)q;
	return !in_row(s, col) || PQgetisnull(s->res, s->row, col);
}

/* An integer or a boolean in PostgreSQL's binary form: big-endian, of its type's width. */
static int64_t binary_int(const char *v, int len)
{
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return 0;
	uint64_t u = (unsigned char)v[0] & 0x80 && len > 1 ? UINT64_MAX : 0; /* the sign, widened */
	for (int i = 0; i < len; i++)
		u = u << 8 | (unsigned char)v[i];
	return (int64_t)u;
}

static int64_t pg_col_int(struct sql_stmt *q, int col)
{
	struct pg_stmt *s = (struct pg_stmt *)q;
	if (pg_col_null(q, col))
		return 0;
	const char *v = PQgetvalue(s->res, s->row, col);
	if (PQfformat(s->res, col) == 1)
		return binary_int(v, PQgetlength(s->res, s->row, col));
	if (strcmp(v, "t") == 0) /* a comparison read as a number, as SQLite gives it */
		return 1;
	return strtoll(v, NULL, 10);
}

static const char *pg_col_text(struct sql_stmt *q, int col)
{
	struct pg_stmt *s = (struct pg_stmt *)q;
	return pg_col_null(q, col) ? NULL : PQgetvalue(s->res, s->row, col);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* bytea's text form is "\x" and hex digits (bytea_output = hex, the default since 9.0). */
static const void *pg_col_blob(struct sql_stmt *q, int col, size_t *len)
{
	struct pg_stmt *s = (struct pg_stmt *)q;
	*len = 0;
	if (pg_col_null(q, col))
		return "";
	const char *v = PQgetvalue(s->res, s->row, col);
	size_t n = (size_t)PQgetlength(s->res, s->row, col);
	if (PQfformat(s->res, col) == 1) { /* sql_query_binary: the octets themselves */
		*len = n;
		return v;
	}
	if (n < 2 || v[0] != '\\' || v[1] != 'x') { /* a text column read as bytes */
		*len = n;
		return v;
	}
	if (s->blobs == NULL) {
		s->blobs = xcalloc((size_t)s->ncols, sizeof *s->blobs);
		for (int i = 0; i < s->ncols; i++)
			buf_init(&s->blobs[i], BUF_UNLIMITED);
	}
	struct buf *b = &s->blobs[col];
	buf_reset(b);
	/* room first, then a plain loop: not an append (a call and a limit check) per
	 * octet of a blob that may be large (issue 15) */
	str_assert(buf_reserve(b, (n - 2) / 2), "an unlimited buffer: the value came whole from libpq");
	unsigned char *out = (unsigned char *)b->data;
	size_t k = 0;
	for (size_t i = 2; i + 1 < n; i += 2) {
		int hi = hexval(v[i]), lo = hexval(v[i + 1]);
		if (hi < 0 || lo < 0)
			break;
		out[k++] = (unsigned char)(hi << 4 | lo);
	}
	buf_added(b, k);
	*len = b->len;
	return b->data;
}

/* ---- scripts, transactions, locks ------------------------------------------------ */

static int pg_script(struct sql *db, const char *what, const char *sql, bool retry_busy, char *err,
                     size_t errlen)
{
	struct pg *p = pg(db);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned attempt = 0;; attempt++) {
		PGresult *r = exec_simple(p, what, sql, err, errlen);
		if (r != NULL) {
			PQclear(r);
			return 0;
		}
		if (!retry_busy || p->txn || p->base.last_error != SQL_ERR_BUSY ||
		    sql_elapsed_ms(&start) > SQL_WAIT_MS)
			return -1;
		sql_backoff(attempt);
	}
}

/* A stable 64-bit key for a lock name (FNV-1a), the same on every host. */
static long long lock_key(const char *name)
{
	uint64_t h = 14695981039346656037ull;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = (h ^ *c) * 1099511628211ull;
	return (long long)(h >> 1);
}

static void abandon(struct pg *p)
{
	if (connected(p) && PQtransactionStatus(p->c) != PQTRANS_IDLE)
		PQclear(PQexec(p->c, "ROLLBACK"));
}

static int pg_begin(struct sql *db, bool write, char *err, size_t errlen)
{
	struct pg *p = pg(db);
	char sql[160];
	if (p->txn) {
		p->base.last_error = SQL_ERR_OTHER;
		str_error(err, errlen, "begin: a transaction is already open");
		return -1;
	}
	/* constants and a 20-character number into 160 bytes */
	if (write)
		str_assert(
		    str_format(sql, sizeof sql,
		               "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(%lld)",
		               lock_key(PG_WRITE_LOCK)),
		    "the BEGIN of a write fits 160 bytes");
	else
		str_assert(str_copy(sql, sizeof sql, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
		           "the BEGIN of a read fits 160 bytes");
	PGresult *r = exec_simple(p, write ? "begin write" : "begin read", sql, err, errlen);
	if (r == NULL) {
		enum sql_error kind = p->base.last_error;
		abandon(p); /* BEGIN ran, the lock timed out */
		p->base.last_error = kind;
		return -1;
	}
	PQclear(r);
	p->txn = true;
	return 0;
}

static int pg_commit(struct sql *db, char *err, size_t errlen)
{
	struct pg *p = pg(db);
	if (!p->txn) {
		p->base.last_error = SQL_ERR_OTHER;
		str_error(err, errlen, "commit: no transaction is open");
		return -1;
	}
	PGresult *r = exec_simple(p, "commit", "COMMIT", err, errlen);
	p->txn = false;
	if (r == NULL)
		return -1; /* SQL_ERR_CONNECTION: it may have committed */
	/* COMMIT of a transaction an error aborted answers ROLLBACK, not an error. */
	bool committed = strcmp(PQcmdStatus(r), "COMMIT") == 0;
	PQclear(r);
	if (!committed)
		return fail_msg(p, SQL_ERR_OTHER, "commit", "the transaction was aborted by an earlier error",
		                err, errlen);
	return 0;
}

static void pg_rollback(struct sql *db)
{
	struct pg *p = pg(db);
	p->txn = false;
	abandon(p);
}

static bool pg_in_transaction(const struct sql *db)
{
	return ((const struct pg *)db)->txn;
}

static int pg_lock(struct sql *db, const char *name, char *err, size_t errlen)
{
	char sql[96], what[64];
	str_assert(str_format(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", lock_key(name)),
	           "a constant and a 20-character number fit 96 bytes");
	str_error(what, sizeof what, "lock %s", name); /* a label for error text */
	PGresult *r = exec_simple(pg(db), what, sql, err, errlen);
	PQclear(r);
	return r != NULL ? 0 : -1;
}

/* ---- notifications --------------------------------------------------------------- */

/* channel and payload were checked by sql.c (no quotes, no backslashes). Outside a
 * transaction: a transaction of its own that does not wait for the disk. */
static int pg_notify(struct sql *db, const char *channel, const char *payload, char *err, size_t errlen)
{
	struct pg *p = pg(db);
	char sql[1200];
	int rc = p->txn ? str_format(sql, sizeof sql, "SELECT pg_notify('%s', '%s')", channel, payload)
	                : str_format(sql, sizeof sql,
	                             "BEGIN; SET LOCAL synchronous_commit TO off;"
	                             " SELECT pg_notify('%s', '%s'); COMMIT",
	                             channel, payload);
	if (rc != 0)
		return fail_msg(p, SQL_ERR_OTHER, "notify", "payload too long", err, errlen);
	PGresult *r = exec_simple(p, "notify", sql, err, errlen);
	if (r == NULL && !p->txn)
		abandon(p);
	PQclear(r);
	return r != NULL ? 0 : -1;
}

static int pg_listen(struct sql *db, const char *channel, char *err, size_t errlen)
{
	struct pg *p = pg(db);
	char sql[64];
	if (str_format(sql, sizeof sql, "LISTEN %s", channel) < 0) {
		str_error(err, errlen, "listen: channel name too long: %s", channel);
		return -1;
	}
	PGresult *r = exec_simple(p, "listen", sql, err, errlen);
	if (r == NULL)
		return -1;
	PQclear(r);
	p->listening = true;
	return 0;
}

static int pg_notify_fd(struct sql *db)
{
	struct pg *p = pg(db);
	return connected(p) ? PQsocket(p->c) : -1;
}

static int pg_notification(struct sql *db, char *channel, size_t chlen, char *payload, size_t len)
{
	struct pg *p = pg(db);
	if (!connected(p) || !PQconsumeInput(p->c)) {
		drop(p);
		bool was = p->listening;
		p->listening = false;
		return was ? -1 : 0;
	}
	PGnotify *n = PQnotifies(p->c);
	if (n == NULL)
		return 0;
	if (str_copy(payload, len, n->extra != NULL ? n->extra : "") != 0) {
		/* cut: the reader gets what fits */
	}
	if (str_copy(channel, chlen, n->relname != NULL ? n->relname : "") != 0) {
		/* cut, as the payload */
	}
	PQfreemem(n);
	return 1;
}

/* After a schema change: the server's plans for our named statements may read
 * columns that moved. DEALLOCATE ALL and prepare each again at its next use; a
 * connection that cannot say it is dropped (the next use connects again, which
 * forgets them too). */
static void pg_forget(struct sql *db)
{
	struct pg *p = pg(db);
	char err[256];
	enum sql_error kind = p->base.last_error;
	if (connected(p)) {
		PGresult *r = exec_simple(p, "forget statements", "DEALLOCATE ALL", err, sizeof err);
		if (r == NULL && !p->txn)
			drop(p);
		PQclear(r);
	}
	cache_clear(p);
	p->base.last_error = kind;
}

const struct sql_driver sql_pg_driver = {
    .engine = SQL_POSTGRESQL,
    .name = "postgresql",
    .accepts = pg_accepts,
    .open = pg_open,
    .close = pg_close,
    .query = pg_query,
    .next = pg_next,
    .done = pg_done,
    .changes = pg_changes,
    .col_int = pg_col_int,
    .col_null = pg_col_null,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .script = pg_script,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_transaction = pg_in_transaction,
    .lock = pg_lock,
    .notify = pg_notify,
    .listen = pg_listen,
    .notify_fd = pg_notify_fd,
    .notification = pg_notification,
    .forget = pg_forget,
};
