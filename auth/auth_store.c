/* auth_store.c: the SQL of auth/ (see auth_store.h). */
#include "auth/auth_store.h"

#include <string.h>

#include "auth/auth.h"
#include "lib/db.h"
#include "lib/str.h"

static const struct db_migration auth_migrations[] = {
    {1, "CREATE TABLE auth_failures("
        "  scope TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  failures INTEGER NOT NULL,"
        "  window_start INTEGER NOT NULL,"
        "  locked_until INTEGER NOT NULL DEFAULT 0,"
        "  PRIMARY KEY (scope, key)) WITHOUT ROWID;"},
};

int auth_schema_migrate(sqlite3 *db, char *err, size_t errlen)
{
	return db_migrate(db, "auth", auth_migrations, sizeof(auth_migrations) / sizeof(auth_migrations[0]),
	                  err, errlen);
}

int auth_store_counter(sqlite3 *db, const char *scope, const char *key, time_t now, unsigned window,
                       struct auth_counter *out)
{
	char err[256];
	sqlite3_stmt *st = db_prepare(
	    db, "SELECT failures, window_start, locked_until FROM auth_failures WHERE scope = ? AND key = ?",
	    err, sizeof(err));
	int rc;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, scope);
	db_bind_text(st, 2, key);
	rc = db_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 1) > (sqlite3_int64)now - window)
			out->failures = (unsigned)sqlite3_column_int(st, 0);
		if (sqlite3_column_int64(st, 2) > (sqlite3_int64)now)
			out->locked_until = (time_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* A failure outside the window starts a new one; reaching max locks (a lock already
 * running is kept, never shortened). */
static const char fail_sql[] =
    "INSERT INTO auth_failures(scope, key, failures, window_start, locked_until) "
    "VALUES(?1, ?2, 1, ?3, CASE WHEN ?5 <= 1 THEN ?3 + ?6 ELSE 0 END) "
    "ON CONFLICT(scope, key) DO UPDATE SET "
    "  failures = CASE WHEN window_start <= ?3 - ?4 THEN 1 ELSE failures + 1 END, "
    "  window_start = CASE WHEN window_start <= ?3 - ?4 THEN ?3 ELSE window_start END, "
    "  locked_until = CASE WHEN locked_until > ?3 THEN locked_until "
    "    WHEN (CASE WHEN window_start <= ?3 - ?4 THEN 1 ELSE failures + 1 END) >= ?5 THEN ?3 + ?6 "
    "    ELSE 0 END";

static int fail_one(sqlite3 *db, const struct auth_failure_key *k, time_t now, unsigned window,
                    unsigned lockout, char *err, size_t errlen)
{
	sqlite3_stmt *st = db_prepare(db, fail_sql, err, errlen);
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, k->scope);
	db_bind_text(st, 2, k->key);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)window);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)k->max);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)lockout);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(db, "record authentication failure", err, errlen);
		return -1;
	}
	return 0;
}

/* Guessers from many addresses would otherwise fill the table with dead rows. */
static int prune(sqlite3 *db, time_t now, unsigned window, char *err, size_t errlen)
{
	sqlite3_stmt *st = db_prepare(
	    db, "DELETE FROM auth_failures WHERE window_start <= ? AND locked_until <= ?", err, errlen);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now - window);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(db, "prune authentication failures", err, errlen);
		return -1;
	}
	return 0;
}

int auth_store_fail(sqlite3 *db, const struct auth_failure_key *k, size_t n, time_t now, unsigned window,
                    unsigned lockout, char *err, size_t errlen)
{
	if (db_begin_write(db, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (fail_one(db, &k[i], now, window, lockout, err, errlen) < 0) {
			db_rollback(db);
			return -1;
		}
	if (prune(db, now, window, err, errlen) < 0) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db, err, errlen);
}

int auth_store_clear(sqlite3 *db, const char *scope, const char *key)
{
	char err[256];
	sqlite3_stmt *st =
	    db_prepare(db, "DELETE FROM auth_failures WHERE scope = ? AND key = ?", err, sizeof(err));
	int rc;

	if (st == NULL)
		return -1;
	db_bind_text(st, 1, scope);
	db_bind_text(st, 2, key);
	rc = db_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int auth_store_account_by_rpps(sqlite3 *db, const char *rpps, struct account *out)
{
	char err[256], address[AUTH_ADDRESS_MAX];
	sqlite3_stmt *st;
	int rc, found = 0;

	if (rpps[0] == '\0')
		return 0;
	st = db_prepare(db, "SELECT address FROM accounts WHERE rpps = ? LIMIT 2", err, sizeof(err));
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, rpps);
	while ((rc = db_step(st)) == SQLITE_ROW)
		if (found++ == 0 && db_column_copy(st, 0, address, sizeof(address)) < 0)
			found = 2; /* cannot be an address of ours: treat as ambiguous */
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (found != 1)
		return 0; /* two mailboxes for one RPPS: the token cannot say which */
	return account_get(db, address, out);
}
