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
#include <sys/stat.h>
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

/* Read transactions one after another, each a few ms long, until stop is readable:
 * with two of these a reader is almost always inside the WAL. */
static void steady_reader(int stop, int pause_us)
{
	char err[256], c;
	struct sql *db = open_db();
	int64_t n;
	while (read(stop, &c, 1) < 0 && errno == EAGAIN) {
		if (sql_begin_read(db, err, sizeof err) != 0 ||
		    sql_one(db, "t.count", "SELECT count(*) FROM t", SQL_NOARGS, &n, err, sizeof err) != 1)
			_exit(1);
		usleep((useconds_t)pause_us);
		if (sql_commit(db, err, sizeof err) != 0)
			_exit(1);
	}
	sql_close(db);
	_exit(0);
}

static long file_size(const char *suffix)
{
	char p[96];
	struct stat st;
	snprintf(p, sizeof p, "%s%s", dbpath, suffix);
	return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* Two sessions always reading while a third commits: past its limit (4,000 frames) the
 * WAL starts over instead of growing with every commit (passive checkpoints alone let
 * it reach 10,000 frames here, 40 MB, and more the longer the load lasts). */
static void test_wal_bounded_under_steady_readers(void **state)
{
	(void)state;
	enum { COMMITS_BIG = 1200, ROW = 24 * 1024, READERS = 2 };
	char err[256];
	static char row[ROW];
	int stop[2];
	pid_t readers[READERS];
	struct sql *db = open_db();
	assert_int_equal(sql_script(db, "t", "CREATE TABLE t (b BLOB)", err, sizeof err), 0);
	assert_int_equal(pipe(stop), 0);
	assert_int_equal(fcntl(stop[0], F_SETFL, O_NONBLOCK), 0);
	for (int r = 0; r < READERS; r++) {
		readers[r] = fork();
		assert_true(readers[r] >= 0);
		if (readers[r] == 0) {
			close(stop[1]);
			steady_reader(stop[0], 2000 + 700 * r);
		}
	}
	usleep(50 * 1000);
	long largest = 0;
	for (int i = 0; i < COMMITS_BIG; i++) {
		memset(row, 'a' + i % 26, sizeof row);
		assert_int_equal(sql_exec(db, "t.insert", "INSERT INTO t (b) VALUES (?1)",
		                          SQL_ARGS(SQL_BLOB(row, sizeof row)), err, sizeof err),
		                 1);
		long size = file_size("-wal");
		if (size > largest)
			largest = size;
	}
	close(stop[1]); /* the readers read EOF: they end */
	for (int r = 0; r < READERS; r++) {
		int status;
		assert_int_equal(waitpid(readers[r], &status, 0), readers[r]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	close(stop[0]);
	sql_close(db);
	fprintf(stderr, "largest WAL: %ld bytes\n", largest);
	/* 4,000 frames of a 4,096-byte page and its 24-byte header, and the commits made
	 * while the restart waited for its readers */
	assert_true(largest < 5000L * (4096 + 24));
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

/* sql_durable: what another process committed (a committer that died before its own
 * sync) is covered by a sync begun after the call, counted as no commit; refused inside
 * a transaction. */
static void test_durable_syncs_what_others_committed(void **state)
{
	(void)state;
	char err[256];
	struct sql *db = open_db();
	assert_int_equal(sql_script(db, "t", "CREATE TABLE t (w INTEGER)", err, sizeof err), 0);
	struct lite_sync a;
	assert_int_equal(lite_sync_open(&a, dbpath, err, sizeof err), 0);
	uint64_t syncs = a.sh->syncs, commits = a.sh->commits;
	assert_int_equal(sql_durable(db, sql_sync_mark(db), err, sizeof err), 0);
	assert_int_equal(a.sh->syncs, syncs + 1);
	assert_int_equal(a.sh->commits, commits);
	assert_int_equal(sql_begin_read(db, err, sizeof err), 0);
	assert_int_equal(sql_durable(db, sql_sync_mark(db), err, sizeof err), -1);
	sql_rollback(db);
	lite_sync_close(&a);
	sql_close(db);
}

/* A session whose committer died after its COMMIT (sql_durable): a sync that failed
 * after the session's mark (taken before its request went) may have been that commit's,
 * lost with it even though a later sync succeeds: not durable. One failed before the
 * mark began before anything of the request could be committed. */
static void test_durable_fails_after_a_failed_sync_since_the_mark(void **state)
{
	(void)state;
	char err[256];
	struct sql *db = open_db();
	assert_int_equal(sql_script(db, "t", "CREATE TABLE t (w INTEGER)", err, sizeof err), 0);
	struct lite_sync a;
	assert_int_equal(lite_sync_open(&a, dbpath, err, sizeof err), 0);
	uint64_t mark = sql_sync_mark(db); /* the request sent: the committer commits, then */
	a.sync = failing_sync;             /* its sync fails, and it dies before answering */
	assert_int_equal(lite_sync_committed(&a, err, sizeof err), -1);
	a.sync = fdatasync;
	assert_int_equal(lite_sync_committed(&a, err, sizeof err), 0); /* a later one succeeds */
	assert_int_equal(sql_durable(db, mark, err, sizeof err), -1);
	assert_non_null(strstr(err, "fdatasync"));
	/* a mark taken after the failure: what the committer commits next is covered */
	assert_int_equal(sql_durable(db, sql_sync_mark(db), err, sizeof err), 0);
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
	    cmocka_unit_test_setup_teardown(test_durable_syncs_what_others_committed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_durable_fails_after_a_failed_sync_since_the_mark, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_close_releases_sync_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wal_bounded_under_steady_readers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
