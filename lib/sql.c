/* sql.c: the engine-neutral half of sql.h: choosing the driver, whole-statement
 * helpers, transactions and migrations. The engines live in sql_sqlite.c and
 * sql_pg.c. */
#include "lib/sql.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/sql_int.h"
#include "lib/str.h"

static const struct sql_driver *const drivers[] = {&sql_pg_driver, &sql_sqlite_driver};

void sql_backoff(unsigned attempt)
{
	unsigned ms = 1u << (attempt < 6 ? attempt : 6);
	usleep((ms * 1000u) + (unsigned)(rand() % 1000));
}

long sql_elapsed_ms(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

uint32_t sql_text_hash(const char *s)
{
	size_t n = strlen(s);
	uint32_t h = 2166136261u ^ (uint32_t)n;
	for (size_t i = 0; i < n && i < 32; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	for (size_t i = n > 64 ? n - 32 : (n > 32 ? 32 : n); i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

struct sql *sql_open_timeout(const char *target, unsigned flags, unsigned timeout_ms, char *err,
                             size_t errlen)
{
	for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
		if (drivers[i]->accepts(target))
			return drivers[i]->open(target, flags, timeout_ms, err, errlen);
	str_error(err, errlen, "no database driver for this target (postgresql://... or a file path)");
	return NULL;
}

struct sql *sql_open(const char *target, unsigned flags, char *err, size_t errlen)
{
	return sql_open_timeout(target, flags, 0, err, errlen);
}

void sql_close(struct sql *db)
{
	if (db != NULL)
		db->drv->close(db);
}

enum sql_engine sql_engine(const struct sql *db)
{
	return db->drv->engine;
}

enum sql_error sql_last_error(const struct sql *db)
{
	return db->last_error;
}

unsigned long sql_prepare_count(const struct sql *db)
{
	return db->prepares;
}

unsigned long sql_fault_count(const struct sql *db)
{
	return db->faults;
}

/* After a call that failed: counts it when the connection or the engine failed. */
static void note_fault(struct sql *db)
{
	if (db->last_error == SQL_ERR_CONNECTION || db->last_error == SQL_ERR_OTHER)
		db->faults++;
}

/* A held transaction the engine ended itself (sql_hold): nothing may run alone. */
static bool ended_early(struct sql *db, char *err, size_t errlen)
{
	if (!db->held || db->drv->in_transaction(db))
		return false;
	str_error(err, errlen, "the transaction ended early (the database rolled it back): nothing written");
	return true;
}

/* ---- statements ------------------------------------------------------------------ */

struct sql_stmt *sql_query(struct sql *db, const char *what, const char *sql, const struct sql_value *args,
                           size_t nargs, char *err, size_t errlen)
{
	db->last_error = SQL_ERR_NONE;
	if (ended_early(db, err, errlen))
		return NULL;
	struct sql_stmt *q = db->drv->query(db, what, sql, args, nargs, SQL_QUERY_KEEP, err, errlen);
	if (q == NULL)
		note_fault(db);
	return q;
}

struct sql_stmt *sql_query_binary(struct sql *db, const char *what, const char *sql,
                                  const struct sql_value *args, size_t nargs, char *err, size_t errlen)
{
	db->last_error = SQL_ERR_NONE;
	if (ended_early(db, err, errlen))
		return NULL;
	struct sql_stmt *q =
	    db->drv->query(db, what, sql, args, nargs, SQL_QUERY_KEEP | SQL_QUERY_BINARY, err, errlen);
	if (q == NULL)
		note_fault(db);
	return q;
}

int sql_blob_part(struct sql *db, const char *what, const struct sql_blob_ref *ref, uint64_t off, size_t len,
                  struct buf *out, char *err, size_t errlen)
{
	db->last_error = SQL_ERR_NONE;
	int rc;
	if (db->drv->blob_part != NULL) {
		rc = db->drv->blob_part(db, what, ref, off, len, out, err, errlen);
		if (rc < 0)
			note_fault(db);
		return rc;
	}
	char sql[256];
	if (str_format(
	        sql, sizeof(sql),
	        "SELECT substring(%s FROM CAST(?2 AS integer) FOR CAST(?3 AS integer)) FROM %s WHERE %s = ?1",
	        ref->column, ref->table, ref->key) < 0) {
		str_error(err, errlen, "%s: names too long", what);
		return -1;
	}
	if (off >= INT32_MAX) { /* past any value a part is read from */
		str_error(err, errlen, "%s: offset %llu too large", what, (unsigned long long)off);
		return -1;
	}
	struct sql_stmt *q = sql_query_binary(
	    db, what, sql,
	    SQL_ARGS(SQL_INT(ref->id), SQL_INT(off + 1), SQL_INT(len < INT32_MAX ? len : INT32_MAX)), err,
	    errlen);
	if (q == NULL)
		return -1;
	rc = sql_next(q, err, errlen);
	if (rc == 1) {
		size_t n = 0;
		const void *p = sql_blob(q, 0, &n);
		rc = buf_append(out, p, n < len ? n : len);
		if (rc < 0)
			str_error(err, errlen, "%s: part too large", what);
	} else if (rc == 0) {
		str_error(err, errlen, "%s: no such row", what);
		rc = -1;
	}
	sql_done(q);
	return rc;
}

/* For the calls that run the statement to its end before returning: the values are
 * referenced, not copied (the hot paths bind a dozen texts per call). */
static struct sql_stmt *run(struct sql *db, const char *what, const char *sql, const struct sql_value *args,
                            size_t nargs, char *err, size_t errlen)
{
	db->last_error = SQL_ERR_NONE;
	if (ended_early(db, err, errlen))
		return NULL;
	struct sql_stmt *q = db->drv->query(db, what, sql, args, nargs, 0, err, errlen);
	if (q == NULL)
		note_fault(db);
	return q;
}

int sql_next(struct sql_stmt *q, char *err, size_t errlen)
{
	int rc = q->db->drv->next(q, err, errlen);
	if (rc < 0)
		note_fault(q->db);
	return rc;
}

void sql_done(struct sql_stmt *q)
{
	if (q != NULL)
		q->db->drv->done(q);
}

int64_t sql_int(struct sql_stmt *q, int col)
{
	return q->db->drv->col_int(q, col);
}

bool sql_is_null(struct sql_stmt *q, int col)
{
	return q->db->drv->col_null(q, col);
}

const char *sql_text(struct sql_stmt *q, int col)
{
	return q->db->drv->col_text(q, col);
}

const void *sql_blob(struct sql_stmt *q, int col, size_t *len)
{
	return q->db->drv->col_blob(q, col, len);
}

int sql_text_copy(struct sql_stmt *q, int col, char *out, size_t outlen)
{
	const char *t = sql_text(q, col);
	return str_copy(out, outlen, t != NULL ? t : "");
}

int sql_exec(struct sql *db, const char *what, const char *sql, const struct sql_value *args, size_t nargs,
             char *err, size_t errlen)
{
	struct sql_stmt *q = run(db, what, sql, args, nargs, err, errlen);
	if (q == NULL)
		return -1;
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1)
		; /* RETURNING rows nobody asked for */
	int changed = rc == 0 ? db->drv->changes(q) : -1;
	sql_done(q);
	return changed;
}

int sql_script(struct sql *db, const char *what, const char *sql, char *err, size_t errlen)
{
	db->last_error = SQL_ERR_NONE;
	if (ended_early(db, err, errlen))
		return -1;
	int rc = db->drv->script(db, what, sql, false, err, errlen);
	if (rc < 0)
		note_fault(db);
	return rc;
}

int sql_one(struct sql *db, const char *what, const char *sql, const struct sql_value *args, size_t nargs,
            int64_t *out, char *err, size_t errlen)
{
	struct sql_stmt *q = run(db, what, sql, args, nargs, err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1) {
		*out = sql_int(q, 0);
		/* Step to the end so an INSERT ... RETURNING completes before the reset. */
		int more;
		while ((more = sql_next(q, err, errlen)) == 1)
			;
		if (more < 0)
			rc = -1;
	}
	sql_done(q);
	return rc;
}

int sql_foreach(struct sql *db, const char *what, const char *sql, const struct sql_value *args, size_t nargs,
                int (*row)(void *arg, struct sql_stmt *q), void *arg, char *err, size_t errlen)
{
	struct sql_stmt *q = run(db, what, sql, args, nargs, err, errlen);
	if (q == NULL)
		return -1;
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		int r = row(arg, q);
		if (r != 0) {
			rc = r;
			break;
		}
	}
	sql_done(q);
	return rc;
}

/* ---- transactions ---------------------------------------------------------------- */

/* Process-wide, so that a connection opened where a closed one was never shows a
 * number that one had. */
static uint64_t txn_gen_last;

static void txn_changed(struct sql *db)
{
	db->txn_gen = ++txn_gen_last;
}

uint64_t sql_txn_generation(const struct sql *db)
{
	return db->txn_gen;
}

int sql_durable(struct sql *db, uint64_t since, char *err, size_t errlen)
{
	if (sql_in_transaction(db)) {
		str_error(err, errlen, "durable: a transaction is open");
		return -1;
	}
	return db->drv->durable != NULL ? db->drv->durable(db, since, err, errlen) : 0;
}

uint64_t sql_sync_mark(struct sql *db)
{
	return db->drv->sync_mark != NULL ? db->drv->sync_mark(db) : 0;
}

int sql_begin_write(struct sql *db, char *err, size_t errlen)
{
	db->last_error = SQL_ERR_NONE;
	if (ended_early(db, err, errlen))
		return -1;
	txn_changed(db);
	int rc = db->drv->begin(db, true, err, errlen);
	if (rc < 0)
		note_fault(db);
	return rc;
}

int sql_begin_read(struct sql *db, char *err, size_t errlen)
{
	db->last_error = SQL_ERR_NONE;
	if (ended_early(db, err, errlen))
		return -1;
	txn_changed(db);
	int rc = db->drv->begin(db, false, err, errlen);
	if (rc < 0)
		note_fault(db);
	return rc;
}

int sql_commit(struct sql *db, char *err, size_t errlen)
{
	db->held = false;
	txn_changed(db);
	if (db->drv->commit(db, err, errlen) < 0) {
		enum sql_error kind = db->last_error;
		db->drv->rollback(db);
		db->last_error = kind;
		note_fault(db);
		return -1;
	}
	return 0;
}

void sql_rollback(struct sql *db)
{
	db->held = false;
	txn_changed(db);
	db->drv->rollback(db);
}

bool sql_in_transaction(const struct sql *db)
{
	return db->drv->in_transaction(db);
}

void sql_hold(struct sql *db, bool on)
{
	db->held = on;
}

bool sql_plain_identifier(const char *s)
{
	if (*s == '\0' || strlen(s) > 32)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return false;
	return true;
}

/* q, a savepoint's statement: cached where the driver can (control), else parsed. */
static int savepoint_stmt(struct sql *db, const char *q, char *err, size_t errlen)
{
	if (db->drv->control != NULL)
		return db->drv->control(db, "savepoint", q, err, errlen);
	return db->drv->script(db, "savepoint", q, false, err, errlen);
}

int sql_savepoint(struct sql *db, const char *name, char *err, size_t errlen)
{
	char q[64];
	if (!sql_plain_identifier(name) || str_format(q, sizeof q, "SAVEPOINT %s", name) != 0) {
		str_error(err, errlen, "savepoint: bad name");
		return -1;
	}
	if (ended_early(db, err, errlen)) /* a SAVEPOINT outside a transaction begins one */
		return -1;
	return savepoint_stmt(db, q, err, errlen);
}

int sql_release(struct sql *db, const char *name, bool keep, char *err, size_t errlen)
{
	char q[96];
	if (!sql_plain_identifier(name)) {
		str_error(err, errlen, "savepoint: bad name");
		return -1;
	}
	if (!keep) {
		txn_changed(db);
		if (str_format(q, sizeof q, "ROLLBACK TO SAVEPOINT %s", name) != 0 ||
		    savepoint_stmt(db, q, err, errlen) < 0)
			return -1;
	}
	if (str_format(q, sizeof q, "RELEASE SAVEPOINT %s", name) != 0)
		return -1;
	return savepoint_stmt(db, q, err, errlen);
}

int sql_lock(struct sql *db, const char *name, char *err, size_t errlen)
{
	if (!sql_in_transaction(db)) {
		str_error(err, errlen, "lock %s: no transaction open", name);
		return -1;
	}
	return db->drv->lock != NULL ? db->drv->lock(db, name, err, errlen) : 0;
}

int sql_backup(struct sql *db, const char *path, char *err, size_t errlen)
{
	if (sql_in_transaction(db)) {
		str_error(err, errlen, "backup: a transaction is open");
		return -1;
	}
	if (db->drv->backup == NULL) {
		str_error(err, errlen,
		          "the %s database is not copied by mssctl backup: use the engine's own "
		          "backup (see doc/operations.md)",
		          db->drv->name);
		return 1;
	}
	return db->drv->backup(db, path, err, errlen);
}

#define SQL_TRANSACTION_TRIES 5

int sql_transaction(struct sql *db, int (*fn)(void *arg, char *err, size_t errlen), void *arg, char *err,
                    size_t errlen)
{
	for (unsigned attempt = 0;; attempt++) {
		if (sql_begin_write(db, err, errlen) < 0)
			return -1;
		int rc = fn(arg, err, errlen);
		if (rc == 0 && sql_commit(db, err, errlen) == 0)
			return 0;
		enum sql_error kind = db->last_error;
		sql_rollback(db);
		if (kind != SQL_ERR_BUSY || attempt + 1 >= SQL_TRANSACTION_TRIES)
			return rc != 0 ? rc : -1;
		sql_backoff(attempt);
	}
}

/* ---- notifications --------------------------------------------------------------- */

static bool plain_payload(const char *s)
{
	size_t n = strlen(s);
	return n < 1000 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.:_-") == n;
}

int sql_notify(struct sql *db, const char *channel, const char *payload, char *err, size_t errlen)
{
	if (!sql_plain_identifier(channel) || !plain_payload(payload)) {
		str_error(err, errlen, "notify: bad channel or payload");
		return -1;
	}
	db->last_error = SQL_ERR_NONE;
	return db->drv->notify != NULL ? db->drv->notify(db, channel, payload, err, errlen) : 0;
}

int sql_listen(struct sql *db, const char *channel, char *err, size_t errlen)
{
	if (!sql_plain_identifier(channel)) {
		str_error(err, errlen, "listen: bad channel name");
		return -1;
	}
	if (db->drv->listen == NULL) {
		str_error(err, errlen, "listen: %s has no notifications", db->drv->name);
		return -1;
	}
	db->last_error = SQL_ERR_NONE;
	return db->drv->listen(db, channel, err, errlen);
}

int sql_notify_fd(struct sql *db)
{
	return db->drv->notify_fd != NULL ? db->drv->notify_fd(db) : -1;
}

int sql_notification(struct sql *db, char *payload, size_t len)
{
	char channel[64];
	return sql_notification_on(db, channel, sizeof channel, payload, len);
}

int sql_notification_on(struct sql *db, char *channel, size_t chlen, char *payload, size_t len)
{
	return db->drv->notification != NULL ? db->drv->notification(db, channel, chlen, payload, len) : 0;
}

/* ---- migrations ------------------------------------------------------------------ */

static int version_table(struct sql *db, char *err, size_t errlen)
{
	return db->drv->script(db, "schema_version",
	                       "CREATE TABLE IF NOT EXISTS schema_version("
	                       "component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
	                       true, err, errlen);
}

static int current_version(struct sql *db, const char *component, int *version, char *err, size_t errlen)
{
	int64_t v = 0;
	if (version_table(db, err, errlen) < 0)
		return -1;
	int rc = sql_one(db, "schema_version", "SELECT version FROM schema_version WHERE component = ?1",
	                 SQL_ARGS(SQL_TEXT(component)), &v, err, errlen);
	if (rc < 0)
		return -1;
	*version = rc == 1 ? (int)v : 0;
	return 0;
}

int sql_schema_set(struct sql *db, const char *component, int version, char *err, size_t errlen)
{
	if (version_table(db, err, errlen) < 0)
		return -1;
	return sql_exec(db, "schema_version",
	                "INSERT INTO schema_version(component, version) VALUES(?1, ?2)"
	                " ON CONFLICT(component) DO UPDATE SET version = excluded.version",
	                SQL_ARGS(SQL_TEXT(component), SQL_INT(version)), err, errlen) < 0
	           ? -1
	           : 0;
}

static const char *migration_text(const struct sql *db, const struct sql_migration *m)
{
	if (m->sql != NULL)
		return m->sql;
	return db->drv->engine == SQL_POSTGRESQL ? m->postgresql : m->sqlite;
}

static int apply_one(struct sql *db, const char *component, const struct sql_migration *m, char *err,
                     size_t errlen)
{
	char why[512];
	int version;
	const char *text = migration_text(db, m);
	if (text == NULL) {
		str_error(err, errlen, "%s migration %d: no DDL for this engine", component, m->version);
		return -1;
	}
	if (sql_begin_write(db, err, errlen) < 0)
		return -1;
	if (current_version(db, component, &version, err, errlen) < 0)
		goto fail;
	if (version >= m->version) { /* another process applied it meanwhile */
		sql_rollback(db);
		return 0;
	}
	if (text[0] != '\0' && db->drv->script(db, component, text, false, why, sizeof why) < 0) {
		str_error(err, errlen, "%s migration %d: %s", component, m->version, why);
		goto fail;
	}
	if (sql_schema_set(db, component, m->version, err, errlen) < 0)
		goto fail;
	return sql_commit(db, err, errlen);
fail:
	sql_rollback(db);
	return -1;
}

int sql_migrate(struct sql *db, const struct sql_schema *s, int *applied, char *err, size_t errlen)
{
	int version, n = 0;
	if (applied != NULL)
		*applied = 0;
	for (size_t i = 0; i < s->nsteps; i++) {
		if (s->steps[i].version != (int)i + 1) {
			str_error(err, errlen, "%s: migrations out of order at %d", s->component,
			          s->steps[i].version);
			return -1;
		}
	}
	if (current_version(db, s->component, &version, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < s->nsteps; i++) {
		if (s->steps[i].version <= version)
			continue;
		if (apply_one(db, s->component, &s->steps[i], err, errlen) < 0)
			return -1;
		n++;
	}
	/* Statements prepared before the change may read a table whose columns moved:
	 * SQLite prepares them again by itself, PostgreSQL refuses a cached plan whose
	 * result changed ("cached plan must not change result type"). */
	if (n > 0 && db->drv->forget != NULL)
		db->drv->forget(db);
	if (applied != NULL)
		*applied = n;
	return 0;
}

int sql_schema_latest(const struct sql_schema *s)
{
	return s->nsteps > 0 ? s->steps[s->nsteps - 1].version : 0;
}

int sql_schema_check(struct sql *db, const struct sql_schema *s, int *have, char *err, size_t errlen)
{
	int latest = sql_schema_latest(s);
	if (current_version(db, s->component, have, err, errlen) < 0)
		return -1;
	if (*have == latest)
		return 0;
	return *have < latest ? 1 : 2;
}
/* ---- placeholders ---------------------------------------------------------------- */

/* Copies the quoted run at in[*i] ('...' or "...", q its quote) through its closing
 * quote; a doubled quote stays inside. */
static int copy_quoted(const char *in, size_t *i, char q, char *out, size_t outlen, size_t *o)
{
	size_t j = *i + 1;
	while (in[j] != '\0') {
		if (in[j++] != q)
			continue;
		if (in[j] != q)
			break;
		j++;
	}
	size_t l = j - *i;
	if (*o + l >= outlen)
		return -1;
	memcpy(out + *o, in + *i, l);
	*o += l;
	*i = j;
	return 0;
}

/* True when only blanks and ';' follow in[i]: a trailing ';' ends the one statement. */
static bool only_terminators(const char *in, size_t i)
{
	for (; in[i] != '\0'; i++)
		if (in[i] != ';' && in[i] != ' ' && in[i] != '\t' && in[i] != '\n' && in[i] != '\r')
			return false;
	return true;
}

static int put_number(unsigned n, char *out, size_t outlen, size_t *o)
{
	char num[16];
	str_assert(str_format(num, sizeof num, "$%u", n), "$ and 10 digits fit 16 bytes");
	size_t l = strlen(num);
	if (*o + l >= outlen)
		return -1;
	memcpy(out + *o, num, l);
	*o += l;
	return 0;
}

int sql_placeholders_rewrite(const char *in, char *out, size_t outlen, unsigned *nparams)
{
	size_t i = 0, o = 0;
	unsigned next = 1, max = 0;
	while (in[i] != '\0') {
		char c = in[i];
		if (c == '\'' || c == '"') {
			if (copy_quoted(in, &i, c, out, outlen, &o) < 0)
				return -1;
			continue;
		}
		if (c == '-' && in[i + 1] == '-') {
			while (in[i] != '\0' && in[i] != '\n') {
				if (o + 1 >= outlen)
					return -1;
				out[o++] = in[i++];
			}
			continue;
		}
		if (c == ';') {
			if (!only_terminators(in, i))
				return 1;
			break;
		}
		if (c == '?') {
			unsigned n = 0;
			size_t j = i + 1;
			while (in[j] >= '0' && in[j] <= '9' && n < 100000)
				n = n * 10 + (unsigned)(in[j++] - '0');
			if (j == i + 1)
				n = next;
			next = n + 1;
			if (n > max)
				max = n;
			if (put_number(n, out, outlen, &o) < 0)
				return -1;
			i = j;
			continue;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = in[i++];
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	if (nparams != NULL)
		*nparams = max;
	return 0;
}

int sql_placeholders_dollar(const char *in, char *out, size_t outlen)
{
	int rc = sql_placeholders_rewrite(in, out, outlen, NULL);
	return rc == 1 ? -1 : rc;
}
