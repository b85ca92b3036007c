/* auth_store.c: the SQL of auth/ (see auth_store.h). */
#include "auth/auth_store.h"

#include <string.h>

#include "auth/auth.h"
#include "lib/str.h"
#include "store/store_sql.h"

static const struct sql_migration auth_migrations[] = {
    {.version = 1,
     .sqlite = "CREATE TABLE auth_failures("
               "  scope TEXT NOT NULL,"
               "  key TEXT NOT NULL,"
               "  failures INTEGER NOT NULL,"
               "  window_start INTEGER NOT NULL,"
               "  locked_until INTEGER NOT NULL DEFAULT 0,"
               "  PRIMARY KEY (scope, key)) WITHOUT ROWID;",
     .postgresql = "CREATE TABLE auth_failures("
                   "  scope TEXT NOT NULL,"
                   "  key TEXT NOT NULL,"
                   "  failures INTEGER NOT NULL,"
                   "  window_start BIGINT NOT NULL,"
                   "  locked_until BIGINT NOT NULL DEFAULT 0,"
                   "  PRIMARY KEY (scope, key));"},
    /* mss-webd's sessions (auth_session.h): the SHA-256 of the token, never the token. */
    {.version = 2,
     .sqlite = "CREATE TABLE web_sessions("
               "  token_sha256 TEXT PRIMARY KEY,"
               "  account TEXT NOT NULL,"
               "  csrf TEXT NOT NULL,"
               "  peer TEXT NOT NULL,"
               "  created INTEGER NOT NULL,"
               "  last_seen INTEGER NOT NULL) WITHOUT ROWID;"
               "CREATE INDEX web_sessions_last_seen ON web_sessions(last_seen);",
     .postgresql = "CREATE TABLE web_sessions("
                   "  token_sha256 TEXT PRIMARY KEY,"
                   "  account TEXT NOT NULL,"
                   "  csrf TEXT NOT NULL,"
                   "  peer TEXT NOT NULL,"
                   "  created BIGINT NOT NULL,"
                   "  last_seen BIGINT NOT NULL);"
                   "CREATE INDEX web_sessions_last_seen ON web_sessions(last_seen);"},
};

const struct sql_schema auth_schema = {"auth", auth_migrations,
                                       sizeof(auth_migrations) / sizeof(auth_migrations[0])};

int auth_store_counter(struct sql *db, const char *scope, const char *key, time_t now, unsigned window,
                       struct auth_counter *out)
{
	char err[256];
	struct sql_stmt *q = sql_query(
	    db, "read authentication failures",
	    "SELECT failures, window_start, locked_until FROM auth_failures WHERE scope = ?1 AND key = ?2",
	    SQL_ARGS(SQL_TEXT(scope), SQL_TEXT(key)), err, sizeof(err));
	int rc;

	memset(out, 0, sizeof(*out));
	if (q == NULL)
		return -1;
	rc = sql_next(q, err, sizeof(err));
	if (rc == 1) {
		if (sql_int(q, 1) > (int64_t)now - window)
			out->failures = (unsigned)sql_int(q, 0);
		if (sql_int(q, 2) > (int64_t)now)
			out->locked_until = (time_t)sql_int(q, 2);
	}
	sql_done(q);
	return rc < 0 ? -1 : 0;
}

/* A failure outside the window starts a new one; reaching max locks (a lock already
 * running is kept, never shortened). ?3 now, ?4 window, ?5 max, ?6 lockout. */
static const char fail_sql[] =
    "INSERT INTO auth_failures(scope, key, failures, window_start, locked_until) "
    "VALUES(?1, ?2, 1, ?3, CASE WHEN ?5 <= 1 THEN ?3 + ?6 ELSE 0 END) "
    "ON CONFLICT (scope, key) DO UPDATE SET "
    "  failures = CASE WHEN auth_failures.window_start <= ?3 - ?4 THEN 1 "
    "    ELSE auth_failures.failures + 1 END, "
    "  window_start = CASE WHEN auth_failures.window_start <= ?3 - ?4 THEN ?3 "
    "    ELSE auth_failures.window_start END, "
    "  locked_until = CASE WHEN auth_failures.locked_until > ?3 THEN auth_failures.locked_until "
    "    WHEN (CASE WHEN auth_failures.window_start <= ?3 - ?4 THEN 1 "
    "      ELSE auth_failures.failures + 1 END) >= ?5 THEN ?3 + ?6 "
    "    ELSE 0 END";

struct fail_job {
	struct sql *db;
	const struct auth_failure_key *k;
	size_t n;
	int64_t now, window, lockout;
};

static int fail_in_transaction(void *arg, char *err, size_t errlen)
{
	const struct fail_job *j = arg;

	for (size_t i = 0; i < j->n; i++)
		if (sql_exec(j->db, "record authentication failure", fail_sql,
		             SQL_ARGS(SQL_TEXT(j->k[i].scope), SQL_TEXT(j->k[i].key), SQL_INT(j->now),
		                      SQL_INT(j->window), SQL_INT(j->k[i].max), SQL_INT(j->lockout)),
		             err, errlen) < 0)
			return -1;
	/* Guessers from many addresses would otherwise fill the table with dead rows. */
	if (sql_exec(j->db, "prune authentication failures",
	             "DELETE FROM auth_failures WHERE window_start <= ?1 AND locked_until <= ?2",
	             SQL_ARGS(SQL_INT(j->now - j->window), SQL_INT(j->now)), err, errlen) < 0)
		return -1;
	return 0;
}

int auth_store_fail(struct sql *db, const struct auth_failure_key *k, size_t n, time_t now, unsigned window,
                    unsigned lockout, char *err, size_t errlen)
{
	struct fail_job j = {db, k, n, (int64_t)now, (int64_t)window, (int64_t)lockout};

	return sql_transaction(db, fail_in_transaction, &j, err, errlen) == 0 ? 0 : -1;
}

int auth_store_clear(struct sql *db, const char *scope, const char *key)
{
	char err[256];

	return sql_exec(db, "clear authentication failures",
	                "DELETE FROM auth_failures WHERE scope = ?1 AND key = ?2",
	                SQL_ARGS(SQL_TEXT(scope), SQL_TEXT(key)), err, sizeof(err)) < 0
	           ? -1
	           : 0;
}

int auth_store_account_by_rpps(struct store *st, const char *rpps, struct account *out)
{
	char err[256], address[AUTH_ADDRESS_MAX] = "";
	struct sql_stmt *q;
	int rc, found = 0;

	if (rpps[0] == '\0')
		return 0;
	q = sql_query(store_sql(st), "find account by RPPS",
	              "SELECT address FROM accounts WHERE rpps = ?1 LIMIT 2", SQL_ARGS(SQL_TEXT(rpps)), err,
	              sizeof(err));
	if (q == NULL)
		return -1;
	while ((rc = sql_next(q, err, sizeof(err))) == 1)
		if (found++ == 0 && sql_text_copy(q, 0, address, sizeof(address)) < 0)
			found = 2; /* cannot be an address of ours: treat as ambiguous */
	sql_done(q);
	if (rc < 0)
		return -1;
	if (found != 1)
		return 0; /* two mailboxes for one RPPS: the token cannot say which */
	return account_get(st, address, out);
}
