/* sql_sqlite.c: the SQLite driver behind sql.h.
 *
 * One connection per process, WAL with group commit across processes
 * (sql_sqlite_sync.h: a commit returns once durable, one fsync for many), BEGIN IMMEDIATE for writers
 * (retried with backoff), a jittered busy handler, and prepared statements cached per
 * connection by SQL text: the hot paths (delivery, SELECT, FETCH) prepare each
 * statement once per connection instead of once per call.
 *
 * The cache (lib/sql_cache.h) keeps the SQL_CACHE_MAX statements used last. A
 * cached statement stays valid across schema changes, made by this connection
 * (migrations) or by another: prepared with sqlite3_prepare_v3, it is prepared again
 * by sqlite3_step itself when the schema cookie moved (SQLITE_SCHEMA never reaches
 * the caller, sqlite.org/rescode.html#schema). sql_migrate empties the cache anyway
 * (lite_forget), as the PostgreSQL driver needs. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/sql_cache.h"
#include "lib/sql_int.h"
#include "lib/sql_sqlite_sync.h"
#include "lib/str.h"

/* How long one lock attempt waits inside SQLite's busy handler. */
#define LITE_BUSY_TIMEOUT_MS 5000
struct lite_stmt {
	struct sql_stmt base;
	sqlite3_stmt *st;
	struct lite_entry *entry; /* NULL: prepared apart, finalized by done */
	bool had_row;
	bool started;
	struct timespec start;
	int changes;
};

/* A cached statement: the cache's entry first, then the cursor over it. */
struct lite_entry {
	struct sql_cache_entry ce;
	struct lite_stmt cur;
};

struct lite {
	struct sql base;
	sqlite3 *h;
	struct sql_cache cache;
	bool group_sync; /* WAL: commits wait in sync (else synchronous=FULL) */
	struct lite_sync sync;
};

static struct lite *lite(struct sql *db)
{
	return (struct lite *)db;
}

static enum sql_error error_kind(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return SQL_ERR_BUSY;
	case SQLITE_CONSTRAINT:
		return SQL_ERR_CONSTRAINT;
	default:
		return SQL_ERR_OTHER;
	}
}

static int fail(struct lite *l, int rc, const char *what, char *err, size_t errlen)
{
	l->base.last_error = error_kind(rc);
	str_error(err, errlen, "%s: %s", what, sqlite3_errmsg(l->h));
	return -1;
}

static bool is_busy(int rc)
{
	return error_kind(rc) == SQL_ERR_BUSY;
}

/* SQLite's own busy handler sleeps up to 100 ms per retry, so under many concurrent
 * sessions a writer often sleeps long after the lock was released, which shows up
 * as long tail latencies. Writers hold the lock for about one commit (an fsync, ~1 ms),
 * so retry quickly, with jitter so that waiting processes do not wake in step. */
static int busy_handler(void *arg, int attempt)
{
	(void)arg;
	long waited_ms = (long)attempt * 2; /* about what the sleeps below add up to */
	if (waited_ms > LITE_BUSY_TIMEOUT_MS)
		return 0;
	unsigned base_us = attempt < 4 ? 200u : 1000u;
	usleep(base_us + (unsigned)(rand() % 1500));
	return 1;
}

/* SQLite's own default (sqlite3_wal_autocheckpoint): our WAL hook replaces its. */
#define LITE_CHECKPOINT_FRAMES 1000
/* The WAL's size (frames of a page) past which a commit's checkpoint also starts the WAL
 * over (see wal_hook), and how long that may hold other writers back: attempts of
 * LITE_RESTART_WAIT_US, about 10 ms in all. */
#define LITE_WAL_RESTART_FRAMES 4000
#define LITE_RESTART_TRIES 20
#define LITE_RESTART_WAIT_US 500

/* The busy handler of a checkpoint that starts the WAL over: it holds the write lock
 * while it waits for the readers, so it gives up soon (a later commit tries again). */
static int restart_busy(void *arg, int attempt)
{
	(void)arg;
	if (attempt >= LITE_RESTART_TRIES)
		return 0;
	usleep(LITE_RESTART_WAIT_US);
	return 1;
}

/* After every commit of this connection, the write lock released: returns once the
 * commit is durable (sql_sqlite_sync.h), then checkpoints as SQLite's default hook
 * would. A failed fdatasync leaves the commit made but perhaps not on disk, and its
 * caller would take it for undone (a delivery would remove the message's blobs): the
 * process ends instead, as PostgreSQL does on such a failure; its client has had no
 * answer and retries. */
static int wal_hook(void *arg, sqlite3 *h, const char *dbname, int frames)
{
	struct lite *l = arg;
	char err[512];
	if (lite_sync_committed(&l->sync, err, sizeof err) != 0) {
		log_err("sql.sync_failed", "error=\"%s\" action=exit", err);
		_exit(EXIT_FAILURE);
	}
	if (frames >= LITE_WAL_RESTART_FRAMES) {
		/* SQLite starts the WAL over only when a writer finds it wholly copied back
		 * and no reader in it. Under a steady load some session always reads, so
		 * passive checkpoints never get there and the file grows without end (124 MB
		 * after 3,000 MX messages, 40 KB each, never given back): past the limit,
		 * a RESTART checkpoint waits for the readers to leave, briefly. */
		sqlite3_busy_handler(h, restart_busy, NULL);
		sqlite3_wal_checkpoint_v2(h, dbname, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
		sqlite3_busy_handler(h, busy_handler, NULL);
	} else if (frames >= LITE_CHECKPOINT_FRAMES) {
		sqlite3_wal_checkpoint_v2(h, dbname, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	return SQLITE_OK;
}

/* Group commit once the database is in WAL mode (a file SQLite could not switch, or an
 * in-memory one, keeps synchronous=FULL and syncs each commit itself). */
static int group_sync_start(struct lite *l, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	bool wal = sqlite3_prepare_v2(l->h, "PRAGMA journal_mode", -1, &q, NULL) == SQLITE_OK &&
	           sqlite3_step(q) == SQLITE_ROW &&
	           strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0;
	sqlite3_finalize(q);
	if (!wal)
		return 0;
	if (lite_sync_open(&l->sync, path, err, errlen) != 0)
		return -1;
	char *msg = NULL;
	if (sqlite3_exec(l->h, "PRAGMA synchronous=NORMAL;", NULL, NULL, &msg) != SQLITE_OK) {
		str_error(err, errlen, "%s: cannot set up database: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		lite_sync_close(&l->sync);
		return -1;
	}
	l->group_sync = true;
	sqlite3_wal_hook(l->h, wal_hook, l);
	return 0;
}

static bool lite_accepts(const char *target)
{
	return strstr(target, "://") == NULL;
}

/* SQLite counts every allocation in its global memory statistics, each count under a
 * global mutex, unless told not to before it initialises. Nothing here reads them
 * (PRAGMA shrink_memory and the page cache need none), and a fresh session process
 * makes thousands of allocations parsing the schema and preparing its statements.
 * Called before the process's first open; SQLite refuses it once initialised (a child
 * of a process that opened a database already has it). */
static void lite_init_once(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static struct sql *lite_open(const char *target, unsigned flags, unsigned timeout_ms, char *err,
                             size_t errlen)
{
	(void)timeout_ms; /* waits are bounded by the busy handler and SQL_WAIT_MS */
	const char *path = strncmp(target, "sqlite:", 7) == 0 ? target + 7 : target;
	bool create = (flags & SQL_OPEN_CREATE) != 0;
	sqlite3 *h = NULL;
	lite_init_once();
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &h, oflags, NULL) != SQLITE_OK) {
		str_error(err, errlen, "%s: cannot open database: %s%s", path,
		          h ? sqlite3_errmsg(h) : "out of memory", create ? "" : " (run mssctl init?)");
		sqlite3_close(h);
		return NULL;
	}
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	sqlite3_busy_handler(h, busy_handler, NULL);
	sqlite3_extended_result_codes(h, 1);
	static const char *pragmas = "PRAGMA journal_mode=WAL;"
	                             "PRAGMA synchronous=FULL;"
	                             "PRAGMA foreign_keys=ON;"
	                             "PRAGMA secure_delete=ON;";
	char *msg = NULL;
	if (sqlite3_exec(h, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		str_error(err, errlen, "%s: cannot set up database: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_close(h);
		return NULL;
	}
	struct lite *l = xcalloc(1, sizeof *l);
	l->base.drv = &sql_sqlite_driver;
	l->h = h;
	l->cache.max = SQL_CACHE_MAX;
	l->sync.lock_fd = l->sync.wal_fd = -1;
	if (group_sync_start(l, path, err, errlen) != 0) {
		sqlite3_close(h);
		free(l);
		return NULL;
	}
	return &l->base;
}

/* ---- the statement cache --------------------------------------------------------- */

static void entry_free(struct lite *l, struct lite_entry *e)
{
	sql_cache_remove(&l->cache, &e->ce);
	sqlite3_finalize(e->cur.st);
	free(e);
}

/* Makes room for one more entry. False when every cached statement has a cursor open
 * (the new one is then prepared apart). */
static bool cache_room(struct lite *l)
{
	if (sql_cache_has_room(&l->cache))
		return true;
	struct sql_cache_entry *v = sql_cache_victim(&l->cache);
	if (v == NULL)
		return false;
	entry_free(l, (struct lite_entry *)v);
	return true;
}

/* Finalizes the cached statements: those without a cursor open, or all (close). */
static void cache_forget(struct lite *l, bool all)
{
	struct sql_cache_entry *e = l->cache.oldest;
	while (e != NULL) {
		struct sql_cache_entry *next = e->newer;
		if (all || !e->busy)
			entry_free(l, (struct lite_entry *)e);
		e = next;
	}
}

static void lite_close(struct sql *db)
{
	struct lite *l = lite(db);
	if (!sqlite3_get_autocommit(l->h))
		sqlite3_exec(l->h, "ROLLBACK", NULL, NULL, NULL);
	cache_forget(l, true);
	sqlite3_close_v2(l->h);
	lite_sync_close(&l->sync); /* after: the close may checkpoint */
	free(l);
}

static void lite_forget(struct sql *db)
{
	cache_forget(lite(db), false);
}

/* A commit written by any process is in the WAL once a reader sees it; a sync begun
 * now covers it (the writer may have died before its own, wal_hook). Without group
 * sync each commit synced itself before its write lock went. */
static int lite_durable(struct sql *db, uint64_t since, char *err, size_t errlen)
{
	struct lite *l = lite(db);
	return l->group_sync ? lite_sync_durable(&l->sync, since, err, errlen) : 0;
}

static uint64_t lite_sync_mark_of(struct sql *db)
{
	struct lite *l = lite(db);
	return l->group_sync ? lite_sync_mark(&l->sync) : 0;
}

static sqlite3_stmt *prepare(struct lite *l, const char *what, const char *sql, bool persistent, char *err,
                             size_t errlen)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	l->base.prepares++;
	int rc = sqlite3_prepare_v3(l->h, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st, &tail);
	if (rc != SQLITE_OK) {
		fail(l, rc, what, err, errlen);
		return NULL;
	}
	while (tail != NULL && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';'))
		tail++;
	if (st == NULL || (tail != NULL && *tail != '\0')) {
		/* a second statement would be silently ignored: sql_script is for those */
		sqlite3_finalize(st);
		l->base.last_error = SQL_ERR_OTHER;
		str_error(err, errlen, "%s: %s", what,
		          st == NULL ? "no statement" : "more than one statement");
		return NULL;
	}
	return st;
}

/* A cursor for sql: the cached statement when free, else a new one, cached unless
 * the same text has a cursor open already (nested use) or no room can be made. */
static struct lite_stmt *cursor_for(struct lite *l, const char *what, const char *sql, char *err,
                                    size_t errlen)
{
	uint32_t hash = sql_text_hash(sql);
	struct lite_entry *e = (struct lite_entry *)sql_cache_find(&l->cache, sql, hash);
	if (e != NULL && !e->ce.busy) {
		e->ce.busy = true;
		return &e->cur;
	}
	bool cache = e == NULL && cache_room(l);
	sqlite3_stmt *st = prepare(l, what, sql, cache, err, errlen);
	if (st == NULL)
		return NULL;
	if (!cache) {
		struct lite_stmt *c = xcalloc(1, sizeof *c);
		c->st = st;
		return c;
	}
	e = xcalloc(1, sizeof *e);
	e->ce.busy = true;
	e->cur.st = st;
	e->cur.entry = e;
	sql_cache_add(&l->cache, &e->ce, sql, hash);
	return &e->cur;
}

/* ---- statements ------------------------------------------------------------------ */

static int bind_one(sqlite3_stmt *st, int idx, const struct sql_value *v, bool keep)
{
	sqlite3_destructor_type how = keep ? SQLITE_TRANSIENT : SQLITE_STATIC;
	switch (v->type) {
	case SQL_TNULL:
		return sqlite3_bind_null(st, idx);
	case SQL_TINT:
		return sqlite3_bind_int64(st, idx, v->i);
	case SQL_TTEXT:
		if (v->s == NULL)
			return sqlite3_bind_null(st, idx);
		return sqlite3_bind_text(st, idx, v->s, -1, how);
	case SQL_TBLOB:
		if (v->len == 0) /* a NULL pointer would bind SQL NULL */
			return sqlite3_bind_zeroblob(st, idx, 0);
		if (v->len > (size_t)INT32_MAX)
			return SQLITE_TOOBIG;
		return sqlite3_bind_blob(st, idx, v->p, (int)v->len, how);
	}
	return SQLITE_MISUSE;
}

static int bind_all(struct lite *l, struct lite_stmt *c, const struct sql_value *args, size_t nargs,
                    bool keep, char *err, size_t errlen)
{
	int want = sqlite3_bind_parameter_count(c->st);
	if ((size_t)want != nargs) {
		l->base.last_error = SQL_ERR_OTHER;
		str_error(err, errlen, "%s: %zu values bound, the statement has %d placeholders",
		          c->base.what, nargs, want);
		return -1;
	}
	for (size_t i = 0; i < nargs; i++) {
		int rc = bind_one(c->st, (int)i + 1, &args[i], keep);
		if (rc != SQLITE_OK) {
			char what[160];
			str_error(what, sizeof what, "%s: value %zu", c->base.what, i + 1); /* error text */
			return fail(l, rc, what, err, errlen);
		}
	}
	return 0;
}

static void lite_done(struct sql_stmt *q)
{
	struct lite_stmt *c = (struct lite_stmt *)q;
	if (c->entry == NULL) {
		sqlite3_finalize(c->st);
		free(c);
		return;
	}
	/* Every placeholder is bound again at the next use (bind_all checks the count), but
	 * the values are let go now: a copy (sql_query binds SQLITE_TRANSIENT) would keep a
	 * message's text or a key in memory, and a reference (SQLITE_STATIC) would point into
	 * the caller's freed buffers, until the statement's next use or eviction. */
	sqlite3_reset(c->st);
	sqlite3_clear_bindings(c->st);
	c->entry->ce.busy = false;
}

static struct sql_stmt *lite_query(struct sql *db, const char *what, const char *sql,
                                   const struct sql_value *args, size_t nargs, unsigned opts, char *err,
                                   size_t errlen)
{
	bool keep = (opts & SQL_QUERY_KEEP) != 0; /* SQL_QUERY_BINARY: SQLite has one form */
	struct lite *l = lite(db);
	struct lite_stmt *c = cursor_for(l, what, sql, err, errlen);
	if (c == NULL)
		return NULL;
	c->base.db = db;
	c->base.what = what;
	c->had_row = c->started = false;
	c->changes = 0;
	if (bind_all(l, c, args, nargs, keep, err, errlen) < 0) {
		lite_done(&c->base);
		return NULL;
	}
	return &c->base;
}

static int lite_next(struct sql_stmt *q, char *err, size_t errlen)
{
	struct lite_stmt *c = (struct lite_stmt *)q;
	struct lite *l = lite(q->db);
	if (!c->started) {
		c->started = true;
		clock_gettime(CLOCK_MONOTONIC, &c->start);
	}
	for (unsigned attempt = 0;; attempt++) {
		int rc = sqlite3_step(c->st);
		if (rc == SQLITE_ROW) {
			c->had_row = true;
			return 1;
		}
		if (rc == SQLITE_DONE) {
			c->changes = sqlite3_changes(l->h);
			return 0;
		}
		/* Retry only before any row was handed out, and never inside an explicit
		 * transaction: there waiting could deadlock, so the caller rolls back. */
		if (!is_busy(rc) || c->had_row || !sqlite3_get_autocommit(l->h) ||
		    sql_elapsed_ms(&c->start) > SQL_WAIT_MS)
			return fail(l, rc, q->what, err, errlen);
		sqlite3_reset(c->st);
		sql_backoff(attempt);
	}
}

static int lite_changes(struct sql_stmt *q)
{
	return ((struct lite_stmt *)q)->changes;
}

static int64_t lite_col_int(struct sql_stmt *q, int col)
{
	return sqlite3_column_int64(((struct lite_stmt *)q)->st, col);
}

static bool lite_col_null(struct sql_stmt *q, int col)
{
	return sqlite3_column_type(((struct lite_stmt *)q)->st, col) == SQLITE_NULL;
}

static const char *lite_col_text(struct sql_stmt *q, int col)
{
	return (const char *)sqlite3_column_text(((struct lite_stmt *)q)->st, col);
}

static const void *lite_col_blob(struct sql_stmt *q, int col, size_t *len)
{
	sqlite3_stmt *st = ((struct lite_stmt *)q)->st;
	const void *p = sqlite3_column_blob(st, col);
	*len = (size_t)sqlite3_column_bytes(st, col);
	return p != NULL ? p : "";
}

/* sql_blob_part: only the pages up to the part are read (a value's overflow pages are
 * a chain), and no buffer of the value's size is made (sqlite3_column_blob's). */
static int lite_blob_part(struct sql *db, const char *what, const struct sql_blob_ref *ref, uint64_t off,
                          size_t len, struct buf *out, char *err, size_t errlen)
{
	struct lite *l = lite(db);
	sqlite3_blob *b = NULL;
	int rc = sqlite3_blob_open(l->h, "main", ref->table, ref->column, ref->id, 0, &b);
	if (rc != SQLITE_OK) {
		fail(l, rc, what, err, errlen);
		sqlite3_blob_close(b);
		return -1;
	}
	uint64_t size = (uint64_t)sqlite3_blob_bytes(b);
	size_t n = off >= size ? 0 : size - off < len ? (size_t)(size - off) : len;
	if (n > 0 && buf_reserve(out, n) < 0) {
		str_error(err, errlen, "%s: part too large", what);
		rc = -1;
	} else if (n > 0 &&
	           (rc = sqlite3_blob_read(b, out->data + out->len, (int)n, (int)off)) != SQLITE_OK) {
		rc = fail(l, rc, what, err, errlen);
	} else {
		buf_added(out, n);
		rc = 0;
	}
	sqlite3_blob_close(b);
	return rc;
}

/* ---- scripts and transactions ---------------------------------------------------- */

static int lite_script(struct sql *db, const char *what, const char *sql, bool retry_busy, char *err,
                       size_t errlen)
{
	struct lite *l = lite(db);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned attempt = 0;; attempt++) {
		char *msg = NULL;
		l->base.prepares++; /* sqlite3_exec parses its text each time */
		int rc = sqlite3_exec(l->h, sql, NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			return 0;
		if (!retry_busy || !is_busy(rc) || sql_elapsed_ms(&start) > SQL_WAIT_MS) {
			l->base.last_error = error_kind(rc);
			str_error(err, errlen, "%s: %s", what, msg ? msg : sqlite3_errmsg(l->h));
			sqlite3_free(msg);
			return -1;
		}
		sqlite3_free(msg);
		sql_backoff(attempt);
	}
}

/* BEGIN and COMMIT run around every write, and SAVEPOINT and RELEASE around every
 * delivery of a committer's batch, so they come from the statement cache like any
 * other statement rather than being parsed again by sqlite3_exec each time (issue 15).
 * A busy answer is retried as lite_script does: BEGIN IMMEDIATE waits for the write
 * lock, COMMIT (or the release of a savepoint that began the transaction) for readers
 * a checkpoint is waiting on. */
static int lite_control(struct sql *db, const char *what, const char *sql, char *err, size_t errlen)
{
	struct lite *l = lite(db);
	struct lite_stmt *c = cursor_for(l, what, sql, err, errlen);
	if (c == NULL)
		return -1;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int rc;
	for (unsigned attempt = 0;; attempt++) {
		rc = sqlite3_step(c->st);
		if (rc == SQLITE_DONE || !is_busy(rc) || sql_elapsed_ms(&start) > SQL_WAIT_MS)
			break;
		sqlite3_reset(c->st);
		sql_backoff(attempt);
	}
	if (rc != SQLITE_DONE)
		fail(l, rc, what, err, errlen);
	lite_done(&c->base);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int lite_begin(struct sql *db, bool write, char *err, size_t errlen)
{
	return lite_control(db, write ? "begin write" : "begin read", write ? "BEGIN IMMEDIATE" : "BEGIN",
	                    err, errlen);
}

static int lite_commit(struct sql *db, char *err, size_t errlen)
{
	return lite_control(db, "commit", "COMMIT", err, errlen);
}

static void lite_rollback(struct sql *db)
{
	struct lite *l = lite(db);
	if (!sqlite3_get_autocommit(l->h))
		sqlite3_exec(l->h, "ROLLBACK", NULL, NULL, NULL);
}

static bool lite_in_transaction(const struct sql *db)
{
	return !sqlite3_get_autocommit(((const struct lite *)db)->h);
}

/* The online backup API (sqlite.org/backup.html): step(-1) copies every page under one
 * read snapshot, so the copy is one committed state however busy the writers are (WAL:
 * they are never blocked). The copy then leaves WAL mode, so that it is one file;
 * rollback mode's default synchronous=FULL syncs it at each commit. */
static int lite_backup(struct sql *db, const char *path, char *err, size_t errlen)
{
	sqlite3 *dst = NULL;
	int rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(dst, "main", lite(db)->h, "main") : NULL;
	if (b != NULL) {
		for (unsigned attempt = 0; attempt < 200; attempt++) {
			rc = sqlite3_backup_step(b, -1);
			if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
				break;
			sql_backoff(attempt % 7);
		}
		rc = sqlite3_backup_finish(b) == SQLITE_OK && rc == SQLITE_DONE ? SQLITE_OK : rc;
	} else if (rc == SQLITE_OK) {
		rc = sqlite3_errcode(dst);
	}
	char *msg = NULL;
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE;", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		str_error(err, errlen, "backup to %s: %s", path, msg ? msg : dst ? sqlite3_errmsg(dst) : "?");
	sqlite3_free(msg);
	if (sqlite3_close(dst) != SQLITE_OK && rc == SQLITE_OK) {
		str_error(err, errlen, "backup to %s: cannot close", path);
		rc = SQLITE_ERROR;
	}
	return rc == SQLITE_OK ? 0 : -1;
}

const struct sql_driver sql_sqlite_driver = {
    .engine = SQL_SQLITE,
    .name = "sqlite",
    .accepts = lite_accepts,
    .open = lite_open,
    .close = lite_close,
    .query = lite_query,
    .next = lite_next,
    .done = lite_done,
    .changes = lite_changes,
    .col_int = lite_col_int,
    .col_null = lite_col_null,
    .col_text = lite_col_text,
    .col_blob = lite_col_blob,
    .script = lite_script,
    .control = lite_control,
    .begin = lite_begin,
    .commit = lite_commit,
    .rollback = lite_rollback,
    .in_transaction = lite_in_transaction,
    .backup = lite_backup,
    .forget = lite_forget,
    .durable = lite_durable,
    .sync_mark = lite_sync_mark_of,
    .blob_part = lite_blob_part,
};
