/* Unit tests: group commit for SQLite across processes (lib/sql_sqlite_sync.c). Many
 * processes committing at once share fdatasyncs and lose no commit; a sync that fails
 * fails every commit it was to cover, even once a later sync succeeded; a commit waits
 * for a sync begun after it, never for one begun before. */
#include <errno.h>
#include <fcntl.h>
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

#include "lib/sql.h"
#include "lib/sql_sqlite_sync.h"

#define WRITERS 8
#define COMMITS 40

static char dbpath[64];

static void remove_db(void)
{
	static const char *const ext[] = {"", "-wal", "-shm", "-sync"};
	char p[96];
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
		snprintf(p, sizeof p, "%s%s", dbpath, ext[i]);
		unlink(p);
	}
}

static int setup(void **state)
{
	(void)state;
	snprintf(dbpath, sizeof dbpath, "/tmp/test_sql_sync-%d.db", (int)getpid());
	remove_db();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	remove_db();
	return 0;
}

static struct sql *open_db(void)
{
	char err[256];
	struct sql *db = sql_open(dbpath, SQL_OPEN_CREATE, err, sizeof err);
	if (db == NULL)
		fail_msg("%s", err);
	return db;
}

static void writer(int id)
{
	char err[256];
	struct sql *db = open_db();
	for (int i = 0; i < COMMITS; i++)
		if (sql_begin_write(db, err, sizeof err) != 0 ||
		    sql_exec(db, "t.insert", "INSERT INTO t (w, i) VALUES (?1, ?2)",
		             SQL_ARGS(SQL_INT(id), SQL_INT(i)), err, sizeof err) != 1 ||
		    sql_commit(db, err, sizeof err) != 0)
			_exit(1);
	sql_close(db);
	_exit(0);
}

static void read_counters(struct lite_sync_shared *out)
{
	char p[96];
	snprintf(p, sizeof p, "%s-sync", dbpath);
	FILE *f = fopen(p, "rb");
	assert_non_null(f);
	assert_int_equal(fread(out, sizeof *out, 1, f), 1);
	fclose(f);
}

static void test_concurrent_commits_share_syncs(void **state)
{
	(void)state;
	char err[256];
	struct sql *db = open_db();
	assert_int_equal(sql_script(db, "t", "CREATE TABLE t (w INTEGER, i INTEGER)", err, sizeof err), 0);
	struct lite_sync_shared before;
	read_counters(&before);
	pid_t pids[WRITERS];
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0)
			writer(w);
	}
	for (int w = 0; w < WRITERS; w++) {
		int status = 0;
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	int64_t n = 0;
	assert_int_equal(sql_one(db, "t.count", "SELECT count(*) FROM t", SQL_NOARGS, &n, err, sizeof err),
	                 1);
	assert_int_equal(n, WRITERS * COMMITS);
	struct lite_sync_shared after;
	read_counters(&after);
	uint64_t commits = after.commits - before.commits, syncs = after.syncs - before.syncs;
	assert_true(commits >= WRITERS * COMMITS);
	assert_true(syncs >= 1);
	assert_true(after.done == after.started && after.failed == 0);
	/* eight processes committing at once: many commits per fdatasync */
	if (syncs >= commits)
		fail_msg("%llu fdatasyncs for %llu commits: no commit shared a sync",
		         (unsigned long long)syncs, (unsigned long long)commits);
	sql_close(db);
}

static int failing_sync(int fd)
{
	(void)fd;
	errno = EIO;
	return -1;
}

static void test_failed_sync_fails_what_it_covered(void **state)
{
	(void)state;
	char err[256];
	struct sql *db = open_db(); /* creates the database, its WAL and the sync file */
	assert_int_equal(sql_script(db, "t", "CREATE TABLE t (w INTEGER)", err, sizeof err), 0);
	struct lite_sync a, b;
	assert_int_equal(lite_sync_open(&a, dbpath, err, sizeof err), 0);
	assert_int_equal(lite_sync_open(&b, dbpath, err, sizeof err), 0);
	uint64_t before = a.sh->started; /* a commit made now, by b, waits for a sync after it */
	a.sync = failing_sync;
	assert_int_equal(lite_sync_committed(&a, err, sizeof err), -1);
	assert_non_null(strstr(err, "fdatasync"));
	assert_int_equal(a.sh->failed, a.sh->started);
	/* b's commit came before that sync began: it may be lost with it, even after a
	 * later sync succeeds */
	a.sync = fdatasync;
	assert_int_equal(lite_sync_committed(&a, err, sizeof err), 0);
	assert_true(a.sh->done > a.sh->failed);
	assert_int_equal(lite_sync_wait(&b, before, err, sizeof err), -1);
	/* a commit after the failure is covered by the later sync, or syncs itself */
	assert_int_equal(lite_sync_committed(&b, err, sizeof err), 0);
	lite_sync_close(&a);
	lite_sync_close(&b);
	sql_close(db);
}

static void test_waits_for_a_sync_begun_after(void **state)
{
	(void)state;
	char err[256];
	struct sql *db = open_db();
	assert_int_equal(sql_script(db, "t", "CREATE TABLE t (w INTEGER)", err, sizeof err), 0);
	struct lite_sync a;
	assert_int_equal(lite_sync_open(&a, dbpath, err, sizeof err), 0);
	uint64_t syncs = a.sh->syncs, done = a.sh->done;
	/* nothing begun since: this commit syncs itself */
	assert_int_equal(lite_sync_wait(&a, a.sh->started, err, sizeof err), 0);
	assert_int_equal(a.sh->syncs, syncs + 1);
	assert_int_equal(a.sh->done, done + 1);
	/* a commit made before that sync began is covered by it: no second sync */
	assert_int_equal(lite_sync_wait(&a, a.sh->started - 1, err, sizeof err), 0);
	assert_int_equal(a.sh->syncs, syncs + 1);
	lite_sync_close(&a);
	sql_close(db);
}

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

/* A process that opens and closes the store per connection (a reused session
 * process) keeps no descriptor of the sync file or of the WAL. */
static void test_close_releases_sync_files(void **state)
{
	(void)state;
	char err[256];
	struct sql *db = open_db();
	assert_int_equal(sql_script(db, "t", "CREATE TABLE t (w INTEGER)", err, sizeof err), 0);
	sql_close(db);
	int before = open_fds();
	for (int i = 0; i < 20; i++) {
		db = open_db();
		assert_int_equal(sql_exec(db, "t.insert", "INSERT INTO t (w) VALUES (?1)",
		                          SQL_ARGS(SQL_INT(i)), err, sizeof err),
		                 1);
		sql_close(db);
	}
	assert_int_equal(open_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_concurrent_commits_share_syncs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_sync_fails_what_it_covered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_waits_for_a_sync_begun_after, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_releases_sync_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
