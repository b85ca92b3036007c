/* Unit tests: lib/db migrations and write transactions on a real SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/db.h"

static char dbpath[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dbpath, sizeof dbpath, "/tmp/mss-db-test-%ld.db", (long)getpid());
	unlink(dbpath);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char p[80];
	unlink(dbpath);
	snprintf(p, sizeof p, "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", dbpath);
	unlink(p);
	return 0;
}

static int count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static const struct db_migration v1[] = {
    {1, "CREATE TABLE t(a INTEGER);"},
};
static const struct db_migration v2[] = {
    {1, "CREATE TABLE t(a INTEGER);"},
    {2, "ALTER TABLE t ADD COLUMN b TEXT; INSERT INTO t VALUES(1, 'x');"},
};
static const struct db_migration broken[] = {
    {1, "CREATE TABLE t(a INTEGER);"},
    {2, "ALTER TABLE t ADD COLUMN b TEXT; INSERT INTO t VALUES(1, 'x');"},
    {3, "INSERT INTO t VALUES(2, 'y'); THIS IS NOT SQL;"},
};

static void test_migrations_apply_in_order(void **state)
{
	(void)state;
	char err[256];
	sqlite3 *db = db_open(dbpath, 1, err, sizeof err);
	assert_non_null(db);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(db_migrate(db, "test", v1, 1, err, sizeof err), 0);
	assert_int_equal(db_migrate(db, "test", v2, 2, err, sizeof err), 0);
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 1);
	/* Re-running is a no-op. */
	assert_int_equal(db_migrate(db, "test", v2, 2, err, sizeof err), 0);
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 1);
	assert_int_equal(count(db, "SELECT version FROM schema_version WHERE component = 'test'"), 2);
	db_close(db);
}

static void test_failed_migration_changes_nothing(void **state)
{
	(void)state;
	char err[256];
	sqlite3 *db = db_open(dbpath, 1, err, sizeof err);
	assert_non_null(db);
	assert_int_equal(db_migrate(db, "test", broken, 3, err, sizeof err), -1);
	assert_non_null(strstr(err, "test migration 3"));
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 1); /* row 2 rolled back */
	assert_int_equal(count(db, "SELECT version FROM schema_version WHERE component = 'test'"), 2);
	db_close(db);
}

static void test_open_missing_without_create(void **state)
{
	(void)state;
	char err[256];
	assert_null(db_open("/nonexistent/dir/mss.db", 0, err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/dir/mss.db"));
}

/* Many processes incrementing one counter in write transactions: no update lost,
 * no "database is locked" surfacing. */
static void test_concurrent_writers(void **state)
{
	(void)state;
	char err[256];
	sqlite3 *db = db_open(dbpath, 1, err, sizeof err);
	assert_int_equal(db_exec(db, "CREATE TABLE c(n INTEGER); INSERT INTO c VALUES(0);", err, sizeof err),
	                 0);
	db_close(db);
	enum { PROCS = 8, EACH = 50 };
	for (int p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			sqlite3 *d = db_open(dbpath, 0, err, sizeof err);
			for (int i = 0; i < EACH; i++) {
				if (db_begin_write(d, err, sizeof err) < 0 ||
				    db_exec(d, "UPDATE c SET n = n + 1", err, sizeof err) < 0 ||
				    db_commit(d, err, sizeof err) < 0)
					_exit(1);
			}
			db_close(d);
			_exit(0);
		}
	}
	int failures = 0;
	for (int p = 0; p < PROCS; p++) {
		int status;
		wait(&status);
		failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(failures, 0);
	db = db_open(dbpath, 0, err, sizeof err);
	assert_int_equal(count(db, "SELECT n FROM c"), PROCS * EACH);
	db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_migrations_apply_in_order, setup, NULL),
	    cmocka_unit_test_setup_teardown(test_failed_migration_changes_nothing, NULL, teardown),
	    cmocka_unit_test(test_open_missing_without_create),
	    cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
