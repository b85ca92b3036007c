/* db.c: SQLite helpers (see db.h). */
#include "lib/db.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/str.h"

/* How long a writer waits for the lock before the operation fails (and the client
 * gets a temporary error): long enough that contention never reaches a client. */
#define DB_BUSY_TIMEOUT_MS 5000
#define DB_WRITE_WAIT_MS 60000

void db_error(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	str_format(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

/* SQLite's own busy handler sleeps up to 100 ms per retry, so under many concurrent
 * sessions a writer often sleeps long after the lock was released, which shows up
 * as long tail latencies. Writers hold the lock for about one commit (an fsync, ~1 ms),
 * so retry quickly, with jitter so that waiting processes do not wake in step. */
static int busy_handler(void *arg, int attempt)
{
	(void)arg;
	long waited_ms = (long)attempt * 2; /* about what the sleeps below add up to */
	if (waited_ms > DB_BUSY_TIMEOUT_MS)
		return 0;
	unsigned base_us = attempt < 4 ? 200u : 1000u;
	usleep(base_us + (unsigned)(rand() % 1500));
	return 1;
}

sqlite3 *db_open(const char *path, int create, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		str_format(err, errlen, "%s: cannot open database: %s%s", path,
		           db ? sqlite3_errmsg(db) : "out of memory", create ? "" : " (run mssctl init?)");
		sqlite3_close(db);
		return NULL;
	}
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	sqlite3_busy_handler(db, busy_handler, NULL);
	sqlite3_extended_result_codes(db, 1);
	static const char *pragmas = "PRAGMA journal_mode=WAL;"
	                             "PRAGMA synchronous=FULL;"
	                             "PRAGMA foreign_keys=ON;"
	                             "PRAGMA secure_delete=ON;";
	char *msg = NULL;
	if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		str_format(err, errlen, "%s: cannot set up database: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

void db_close(sqlite3 *db)
{
	sqlite3_close_v2(db);
}

int db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		str_format(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static void backoff(unsigned attempt)
{
	/* 1, 2, 4 ... 64 ms with jitter, so colliding writers spread out. */
	unsigned ms = 1u << (attempt < 6 ? attempt : 6);
	usleep((ms * 1000u) + (unsigned)(rand() % 1000));
}

static long elapsed_ms(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

static int is_busy(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* Runs a transaction-control statement, retrying while the database is busy. */
static int exec_retry(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned attempt = 0;; attempt++) {
		int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return 0;
		if (!is_busy(rc) || elapsed_ms(&start) > DB_WRITE_WAIT_MS) {
			db_error(db, sql, err, errlen);
			return -1;
		}
		backoff(attempt);
	}
}

int db_begin_write(sqlite3 *db, char *err, size_t errlen)
{
	return exec_retry(db, "BEGIN IMMEDIATE", err, errlen);
}

int db_begin_read(sqlite3 *db, char *err, size_t errlen)
{
	return exec_retry(db, "BEGIN", err, errlen);
}

int db_commit(sqlite3 *db, char *err, size_t errlen)
{
	if (exec_retry(db, "COMMIT", err, errlen) < 0) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

void db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		db_error(db, "prepare", err, errlen);
		return NULL;
	}
	return st;
}

int db_step(sqlite3_stmt *st)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	sqlite3 *db = sqlite3_db_handle(st);
	for (unsigned attempt = 0;; attempt++) {
		int rc = sqlite3_step(st);
		/* Inside an explicit transaction a retry could deadlock: report instead. */
		if (!is_busy(rc) || !sqlite3_get_autocommit(db) || elapsed_ms(&start) > DB_WRITE_WAIT_MS)
			return rc;
		sqlite3_reset(st);
		backoff(attempt);
	}
}

int db_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

int db_column_copy(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return str_copy(out, outlen, t ? (const char *)t : "");
}

static int current_version(sqlite3 *db, const char *component, int *version, char *err, size_t errlen)
{
	if (db_exec(db,
	            "CREATE TABLE IF NOT EXISTS schema_version("
	            "component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
	            err, errlen) < 0)
		return -1;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version WHERE component = ?", -1, &st, NULL) !=
	    SQLITE_OK) {
		db_error(db, "schema_version", err, errlen);
		return -1;
	}
	sqlite3_bind_text(st, 1, component, -1, SQLITE_STATIC);
	*version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

static int record_version(sqlite3 *db, const char *component, int version, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO schema_version(component, version) VALUES(?, ?) "
	                       "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
	                       -1, &st, NULL) != SQLITE_OK) {
		db_error(db, "schema_version", err, errlen);
		return -1;
	}
	sqlite3_bind_text(st, 1, component, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, version);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(db, "schema_version", err, errlen);
		return -1;
	}
	return 0;
}

static int apply_one(sqlite3 *db, const char *component, const struct db_migration *m, char *err,
                     size_t errlen)
{
	char why[512];
	if (db_begin_write(db, err, errlen) < 0)
		return -1;
	int version;
	if (current_version(db, component, &version, err, errlen) < 0)
		goto fail;
	if (version >= m->version) { /* another process applied it meanwhile */
		db_rollback(db);
		return 0;
	}
	if (db_exec(db, m->sql, why, sizeof why) < 0) {
		str_format(err, errlen, "%s migration %d: %s", component, m->version, why);
		goto fail;
	}
	if (record_version(db, component, m->version, err, errlen) < 0)
		goto fail;
	return db_commit(db, err, errlen);
fail:
	db_rollback(db);
	return -1;
}

int db_migrate(sqlite3 *db, const char *component, const struct db_migration *m, size_t n, char *err,
               size_t errlen)
{
	int version;
	if (current_version(db, component, &version, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (m[i].version <= version)
			continue;
		if (i > 0 && m[i].version != m[i - 1].version + 1) {
			str_format(err, errlen, "%s: migrations out of order at %d", component, m[i].version);
			return -1;
		}
		if (apply_one(db, component, &m[i], err, errlen) < 0)
			return -1;
	}
	return 0;
}
