/* Unit tests: lib/sql (the query helper) with its SQLite driver, on a real file:
 * binds of each type, NULLs, blobs with NUL bytes, bind errors named by purpose, the
 * statement cache, busy waits between two connections, transactions, savepoints,
 * migrations and the schema check, and the placeholder rewriting for PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/sql.h"

static char dbpath[64];

static void unlink_db(void)
{
	char p[80];
	unlink(dbpath);
	snprintf(p, sizeof p, "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", dbpath);
	unlink(p);
}

static int setup(void **state)
{
	char err[256];
	snprintf(dbpath, sizeof dbpath, "/tmp/mss-sql-test-%ld.db", (long)getpid());
	unlink_db();
	struct sql *db = sql_open(dbpath, SQL_OPEN_CREATE, err, sizeof err);
	assert_non_null(db);
	assert_int_equal(sql_exec(db, "create",
	                          "CREATE TABLE t(id INTEGER PRIMARY KEY, i INTEGER, s TEXT, b BLOB,"
	                          " u TEXT UNIQUE)",
	                          SQL_NOARGS, err, sizeof err),
	                 0);
	*state = db;
	return 0;
}

static int teardown(void **state)
{
	sql_close(*state);
	unlink_db();
	return 0;
}

static int64_t count(struct sql *db, const char *sql)
{
	char err[256];
	int64_t n = -1;
	assert_int_equal(sql_one(db, "count", sql, SQL_NOARGS, &n, err, sizeof err), 1);
	return n;
}

static void test_binds_of_each_type(void **state)
{
	struct sql *db = *state;
	char err[256];
	static const char blob[] = {'a', 0, 'b', 0, 0, 'c'};
	int64_t id = 0;
	assert_int_equal(
	    sql_one(db, "t.insert", "INSERT INTO t(i, s, b) VALUES(?1, ?2, ?3) RETURNING id",
	            SQL_ARGS(SQL_INT(INT64_MIN), SQL_TEXT("h\xc3\xa9llo"), SQL_BLOB(blob, sizeof blob)), &id,
	            err, sizeof err),
	    1);
	assert_true(id > 0);
	struct sql_stmt *q = sql_query(db, "t.read", "SELECT i, s, b FROM t WHERE id = ?1",
	                               SQL_ARGS(SQL_INT(id)), err, sizeof err);
	assert_non_null(q);
	assert_int_equal(sql_next(q, err, sizeof err), 1);
	assert_true(sql_int(q, 0) == INT64_MIN);
	assert_string_equal(sql_text(q, 1), "h\xc3\xa9llo");
	size_t len = 0;
	const void *p = sql_blob(q, 2, &len);
	assert_int_equal(len, sizeof blob);
	assert_memory_equal(p, blob, sizeof blob);
	assert_int_equal(sql_next(q, err, sizeof err), 0);
	sql_done(q);
	/* INT64_MAX and a repeated placeholder */
	assert_int_equal(sql_exec(db, "t.insert", "INSERT INTO t(i, s) VALUES(?1, ?2 || ?2)",
	                          SQL_ARGS(SQL_INT(INT64_MAX), SQL_TEXT("ab")), err, sizeof err),
	                 1);
	assert_int_equal(count(db, "SELECT count(*) FROM t WHERE s = 'abab' AND i = 9223372036854775807"), 1);
}

static void test_nulls_and_empty_blob(void **state)
{
	struct sql *db = *state;
	char err[256], out[16];
	assert_int_equal(sql_exec(db, "t.insert", "INSERT INTO t(id, i, s, b) VALUES(1, ?1, ?2, ?3)",
	                          SQL_ARGS(SQL_NULL, SQL_TEXT(NULL), SQL_BLOB(NULL, 0)), err, sizeof err),
	                 1);
	struct sql_stmt *q =
	    sql_query(db, "t.read", "SELECT i, s, b FROM t WHERE id = 1", SQL_NOARGS, err, sizeof err);
	assert_non_null(q);
	assert_int_equal(sql_next(q, err, sizeof err), 1);
	assert_true(sql_is_null(q, 0));
	assert_int_equal(sql_int(q, 0), 0);
	assert_true(sql_is_null(q, 1));
	assert_null(sql_text(q, 1));
	assert_int_equal(sql_text_copy(q, 1, out, sizeof out), 0);
	assert_string_equal(out, "");
	/* An empty blob is a value, not NULL. */
	assert_false(sql_is_null(q, 2));
	size_t len = 99;
	assert_non_null(sql_blob(q, 2, &len));
	assert_int_equal(len, 0);
	sql_done(q);
}

static void test_text_copy_truncation(void **state)
{
	struct sql *db = *state;
	char err[256], small[4];
	assert_int_equal(sql_exec(db, "t.insert", "INSERT INTO t(s) VALUES(?1)",
	                          SQL_ARGS(SQL_TEXT("toolong")), err, sizeof err),
	                 1);
	struct sql_stmt *q = sql_query(db, "t.read", "SELECT s FROM t", SQL_NOARGS, err, sizeof err);
	assert_int_equal(sql_next(q, err, sizeof err), 1);
	assert_int_equal(sql_text_copy(q, 0, small, sizeof small), -1);
	sql_done(q);
}

static void test_errors_name_their_purpose(void **state)
{
	struct sql *db = *state;
	char err[256];
	/* too few values */
	assert_int_equal(sql_exec(db, "grant.insert", "INSERT INTO t(i, s) VALUES(?1, ?2)",
	                          SQL_ARGS(SQL_INT(1)), err, sizeof err),
	                 -1);
	assert_non_null(strstr(err, "grant.insert"));
	assert_non_null(strstr(err, "1 values bound"));
	/* too many */
	assert_int_equal(sql_exec(db, "grant.insert", "INSERT INTO t(i) VALUES(?1)",
	                          SQL_ARGS(SQL_INT(1), SQL_INT(2)), err, sizeof err),
	                 -1);
	/* two statements where one is expected: refused, never half run */
	assert_int_equal(sql_exec(db, "two", "INSERT INTO t(i) VALUES(7); INSERT INTO t(i) VALUES(8)",
	                          SQL_NOARGS, err, sizeof err),
	                 -1);
	assert_non_null(strstr(err, "two: more than one statement"));
	assert_int_equal(
	    sql_script(db, "two", "INSERT INTO t(i) VALUES(7); INSERT INTO t(i) VALUES(8);", err, sizeof err),
	    0);
	assert_int_equal(count(db, "SELECT count(*) FROM t WHERE i IN (7, 8)"), 2);
	assert_int_equal(sql_exec(db, "t", "DELETE FROM t WHERE i IN (7, 8);", SQL_NOARGS, err, sizeof err),
	                 2);
	/* bad SQL */
	assert_null(sql_query(db, "audit.head", "SELEC nothing", SQL_NOARGS, err, sizeof err));
	assert_non_null(strstr(err, "audit.head: "));
	assert_int_equal(sql_last_error(db), SQL_ERR_OTHER);
	/* a constraint, with its kind */
	assert_int_equal(sql_exec(db, "u", "INSERT INTO t(u) VALUES('x')", SQL_NOARGS, err, sizeof err), 1);
	assert_int_equal(
	    sql_exec(db, "account.add", "INSERT INTO t(u) VALUES('x')", SQL_NOARGS, err, sizeof err), -1);
	assert_int_equal(sql_last_error(db), SQL_ERR_CONSTRAINT);
	assert_non_null(strstr(err, "account.add: "));
	/* ON CONFLICT DO NOTHING changes no row and is no error */
	assert_int_equal(sql_exec(db, "u", "INSERT INTO t(u) VALUES('x') ON CONFLICT(u) DO NOTHING",
	                          SQL_NOARGS, err, sizeof err),
	                 0);
	/* the connection goes on after errors */
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 1);
}

static void test_statement_cache(void **state)
{
	struct sql *db = *state;
	char err[256];
	for (int i = 0; i < 10; i++)
		assert_int_equal(sql_exec(db, "t.insert", "INSERT INTO t(i) VALUES(?1)", SQL_ARGS(SQL_INT(i)),
		                          err, sizeof err),
		                 1);
	unsigned long before = sql_prepare_count(db);
	for (int i = 0; i < 100; i++) {
		int64_t n = 0;
		assert_int_equal(sql_one(db, "t.count", "SELECT count(*) FROM t WHERE i >= ?1",
		                         SQL_ARGS(SQL_INT(i % 10)), &n, err, sizeof err),
		                 1);
		assert_int_equal(n, 10 - i % 10);
	}
	assert_int_equal(sql_prepare_count(db) - before, 1);
	/* The same text while a cursor on it is open: prepared apart, both correct. */
	const char *sql = "SELECT i FROM t ORDER BY i";
	struct sql_stmt *outer = sql_query(db, "outer", sql, SQL_NOARGS, err, sizeof err);
	int64_t sum = 0, rows = 0;
	while (sql_next(outer, err, sizeof err) == 1) {
		struct sql_stmt *inner = sql_query(db, "inner", sql, SQL_NOARGS, err, sizeof err);
		assert_non_null(inner);
		while (sql_next(inner, err, sizeof err) == 1)
			sum += sql_int(inner, 0);
		sql_done(inner);
		rows++;
	}
	sql_done(outer);
	assert_int_equal(rows, 10);
	assert_int_equal(sum, 10 * 45);
	/* Values bound in one use do not leak into the next (bindings cleared). */
	assert_int_equal(count(db, "SELECT count(*) FROM t WHERE i IS NULL"), 0);
}

static int stop_at_three(void *arg, struct sql_stmt *q)
{
	int *seen = arg;
	(*seen)++;
	return sql_int(q, 0) == 3 ? 7 : 0;
}

static void test_foreach(void **state)
{
	struct sql *db = *state;
	char err[256];
	for (int i = 1; i <= 5; i++)
		assert_int_equal(sql_exec(db, "t.insert", "INSERT INTO t(i) VALUES(?1)", SQL_ARGS(SQL_INT(i)),
		                          err, sizeof err),
		                 1);
	int seen = 0;
	assert_int_equal(sql_foreach(db, "t.list", "SELECT i FROM t ORDER BY i", SQL_NOARGS, stop_at_three,
	                             &seen, err, sizeof err),
	                 7);
	assert_int_equal(seen, 3);
	seen = 0;
	assert_int_equal(sql_foreach(db, "t.list", "SELECT i FROM t WHERE i > ?1", SQL_ARGS(SQL_INT(3)),
	                             stop_at_three, &seen, err, sizeof err),
	                 0);
	assert_int_equal(seen, 2);
}

static int insert_then(void *arg, char *err, size_t errlen)
{
	struct sql *db = *(struct sql **)arg;
	if (sql_exec(db, "t.insert", "INSERT INTO t(i) VALUES(42)", SQL_NOARGS, err, errlen) != 1)
		return -1;
	return ((struct sql **)arg)[1] != NULL ? 3 : 0; /* 3: refuse, roll back */
}

static void test_transactions_and_savepoints(void **state)
{
	struct sql *db = *state;
	char err[256];
	struct sql *arg[2] = {db, NULL};
	assert_false(sql_in_transaction(db));
	assert_int_equal(sql_transaction(db, insert_then, arg, err, sizeof err), 0);
	arg[1] = db;
	assert_int_equal(sql_transaction(db, insert_then, arg, err, sizeof err), 3);
	assert_false(sql_in_transaction(db));
	assert_int_equal(count(db, "SELECT count(*) FROM t WHERE i = 42"), 1);

	assert_int_equal(sql_begin_write(db, err, sizeof err), 0);
	assert_true(sql_in_transaction(db));
	assert_int_equal(sql_savepoint(db, "inner1", err, sizeof err), 0);
	assert_int_equal(sql_exec(db, "t", "INSERT INTO t(i) VALUES(1)", SQL_NOARGS, err, sizeof err), 1);
	assert_int_equal(sql_release(db, "inner1", false, err, sizeof err), 0); /* undone */
	assert_int_equal(sql_savepoint(db, "inner2", err, sizeof err), 0);
	assert_int_equal(sql_exec(db, "t", "INSERT INTO t(i) VALUES(2)", SQL_NOARGS, err, sizeof err), 1);
	assert_int_equal(sql_release(db, "inner2", true, err, sizeof err), 0); /* kept */
	assert_int_equal(sql_commit(db, err, sizeof err), 0);
	assert_int_equal(count(db, "SELECT count(*) FROM t WHERE i IN (1, 2)"), 1);
	assert_int_equal(sql_savepoint(db, "bad name", err, sizeof err), -1);
}

/* A second connection (another process) holds the write lock for a while: this
 * one's writes wait and then succeed, never "database is locked". */
static void test_busy_waits_for_other_connection(void **state)
{
	struct sql *db = *state;
	char err[256];
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct sql *other = sql_open(dbpath, 0, err, sizeof err);
		if (other == NULL || sql_begin_write(other, err, sizeof err) < 0 ||
		    sql_exec(other, "hold", "INSERT INTO t(i) VALUES(1)", SQL_NOARGS, err, sizeof err) != 1)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		usleep(400 * 1000);
		_exit(sql_commit(other, err, sizeof err) == 0 ? 0 : 1);
	}
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* outside a transaction: the statement waits */
	assert_int_equal(sql_exec(db, "wait", "INSERT INTO t(i) VALUES(2)", SQL_NOARGS, err, sizeof err), 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 200);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(count(db, "SELECT count(*) FROM t"), 2);
	close(ready[0]);
	close(ready[1]);
}

/* Many processes incrementing one counter in write transactions: no update lost,
 * no "database is locked" surfacing. */
static void test_concurrent_writers(void **state)
{
	struct sql *db = *state;
	char err[256];
	assert_int_equal(
	    sql_exec(db, "seed", "INSERT INTO t(id, i) VALUES(1, 0)", SQL_NOARGS, err, sizeof err), 1);
	enum { PROCS = 6, EACH = 40 };
	for (int p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			struct sql *d = sql_open(dbpath, 0, err, sizeof err);
			for (int i = 0; i < EACH; i++) {
				if (d == NULL || sql_begin_write(d, err, sizeof err) < 0 ||
				    sql_exec(d, "bump", "UPDATE t SET i = i + 1 WHERE id = 1", SQL_NOARGS,
				             err, sizeof err) != 1 ||
				    sql_commit(d, err, sizeof err) < 0)
					_exit(1);
			}
			sql_close(d);
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
	assert_int_equal(count(db, "SELECT i FROM t WHERE id = 1"), PROCS * EACH);
}

static const struct sql_migration v2_steps[] = {
    {1, "CREATE TABLE m(a INTEGER);", NULL, NULL},
    {2, NULL, "ALTER TABLE m ADD COLUMN b TEXT; INSERT INTO m VALUES(1, 'x');", "ALTER TABLE m ADD b TEXT;"},
};
static const struct sql_migration v3_steps[] = {
    {1, "CREATE TABLE m(a INTEGER);", NULL, NULL},
    {2, NULL, "ALTER TABLE m ADD COLUMN b TEXT; INSERT INTO m VALUES(1, 'x');", "ALTER TABLE m ADD b TEXT;"},
    {3, "INSERT INTO m VALUES(2, 'y'); THIS IS NOT SQL;", NULL, NULL},
};
static const struct sql_migration gap_steps[] = {
    {1, "CREATE TABLE g(a INTEGER);", NULL, NULL},
    {3, "CREATE TABLE n(a INTEGER);", NULL, NULL},
};

static void test_migrations_and_schema_check(void **state)
{
	struct sql *db = *state;
	char err[256];
	int have = -1, applied = -1;
	const struct sql_schema v1 = {"test", v2_steps, 1};
	const struct sql_schema v2 = {"test", v2_steps, 2};
	const struct sql_schema v3 = {"test", v3_steps, 3};
	const struct sql_schema gap = {"gap", gap_steps, 2};
	assert_int_equal(sql_schema_latest(&v2), 2);
	assert_int_equal(sql_schema_check(db, &v2, &have, err, sizeof err), 1);
	assert_int_equal(have, 0);
	assert_int_equal(sql_migrate(db, &v1, &applied, err, sizeof err), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(sql_schema_check(db, &v2, &have, err, sizeof err), 1);
	assert_int_equal(have, 1);
	assert_int_equal(sql_migrate(db, &v2, &applied, err, sizeof err), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(sql_schema_check(db, &v2, &have, err, sizeof err), 0);
	assert_int_equal(count(db, "SELECT count(*) FROM m WHERE b = 'x'"), 1); /* the sqlite text ran */
	assert_int_equal(sql_migrate(db, &v2, &applied, err, sizeof err), 0);   /* idempotent */
	assert_int_equal(applied, 0);
	assert_int_equal(count(db, "SELECT count(*) FROM m"), 1);
	/* a failed step changes nothing and names itself */
	assert_int_equal(sql_migrate(db, &v3, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "test migration 3"));
	assert_int_equal(count(db, "SELECT count(*) FROM m"), 1);
	assert_int_equal(sql_schema_check(db, &v3, &have, err, sizeof err), 1);
	/* a database newer than the code */
	assert_int_equal(sql_schema_set(db, "test", 5, err, sizeof err), 0);
	assert_int_equal(sql_schema_check(db, &v2, &have, err, sizeof err), 2);
	assert_int_equal(have, 5);
	/* numbering holes are a programming error */
	assert_int_equal(sql_migrate(db, &gap, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "out of order"));
}

/* The online backup copies a committed state while another connection holds a write
 * transaction open (WAL: neither waits for the other); never from inside one. */
static void test_backup_is_one_committed_state(void **state)
{
	struct sql *db = *state;
	char err[256], copy_path[96];
	snprintf(copy_path, sizeof copy_path, "%s.backup", dbpath);
	unlink(copy_path);
	assert_int_equal(sql_exec(db, "row", "INSERT INTO t(i) VALUES(7)", SQL_NOARGS, err, sizeof err), 1);
	struct sql *other = sql_open(dbpath, 0, err, sizeof err);
	assert_non_null(other);
	assert_int_equal(sql_begin_write(other, err, sizeof err), 0);
	assert_int_equal(
	    sql_exec(other, "pending", "INSERT INTO t(i) VALUES(8)", SQL_NOARGS, err, sizeof err), 1);
	assert_int_equal(sql_backup(db, copy_path, err, sizeof err), 0);
	assert_int_equal(sql_commit(other, err, sizeof err), 0);
	sql_close(other);
	struct sql *copy = sql_open(copy_path, 0, err, sizeof err);
	assert_non_null(copy);
	assert_int_equal(count(copy, "SELECT count(*) FROM t"), 1); /* not the uncommitted row */
	assert_int_equal(count(copy, "SELECT i FROM t"), 7);
	sql_close(copy);
	assert_int_equal(sql_begin_write(db, err, sizeof err), 0);
	assert_int_equal(sql_backup(db, copy_path, err, sizeof err), -1);
	assert_non_null(strstr(err, "transaction"));
	sql_rollback(db);
	unlink(copy_path);
}

static void test_open_missing_without_create(void **state)
{
	(void)state;
	char err[256];
	assert_null(sql_open("/nonexistent/dir/mss.db", 0, err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/dir/mss.db"));
	assert_null(sql_open("postgresql://localhost/mss", 0, err, sizeof err));
	assert_non_null(strstr(err, "PostgreSQL"));
}

static void test_placeholders_dollar(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"SELECT 1", "SELECT 1"},
	    {"SELECT a FROM t WHERE b = ?1 AND c = ?2", "SELECT a FROM t WHERE b = $1 AND c = $2"},
	    {"VALUES(?2, ?1, ?2)", "VALUES($2, $1, $2)"},
	    {"VALUES(?, ?)", "VALUES($1, $2)"},
	    {"SELECT '?1', \"a?\", ?1", "SELECT '?1', \"a?\", $1"},
	    {"SELECT 'it''s ?', ?12", "SELECT 'it''s ?', $12"},
	    {"SELECT 1 -- what?\nFROM t WHERE a = ?1", "SELECT 1 -- what?\nFROM t WHERE a = $1"},
	    {"SELECT 'open", "SELECT 'open"},
	};
	char out[128];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(sql_placeholders_dollar(cases[i].in, out, sizeof out), 0);
		assert_string_equal(out, cases[i].out);
	}
	char tiny[8];
	assert_int_equal(sql_placeholders_dollar("SELECT ?1, ?2", tiny, sizeof tiny), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_binds_of_each_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nulls_and_empty_blob, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_copy_truncation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors_name_their_purpose, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_statement_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transactions_and_savepoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_busy_waits_for_other_connection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrations_and_schema_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backup_is_one_committed_state, setup, teardown),
	    cmocka_unit_test(test_open_missing_without_create),
	    cmocka_unit_test(test_placeholders_dollar),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
