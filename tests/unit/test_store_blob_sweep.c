/* test_store_blob_sweep.c: store_blob_sweep_pass: passes bounded by max_files that go on
 * where the last one stopped, the age rule, a file its row names kept, dry runs, and a
 * blob_dir not made yet; on SQLite and, with MSS_TEST_PG, on PostgreSQL. */
#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

#include "test_store_util.h"

#include "store/store_sql.h"

#define PRO "dr.martin@pro.mss.test"

static const char msg[] = "From: <sender@pro.mss.test>\r\nTo: <dr.martin@pro.mss.test>\r\n"
                          "Subject: sweep\r\n\r\nbody\r\n";

static int setup(void **state)
{
	if (store_fixture_setup(state) != 0)
		return -1;
	struct store_fixture *f = *state;
	store_close(f->st);
	f->cfg.store_inline_blob_max = 0; /* every blob a file */
	f->st = store_open(&f->cfg, f->err, sizeof(f->err));
	return f->st != NULL && store_user_create(f->st, PRO, f->err, sizeof(f->err)) == 0 ? 0 : -1;
}

static void path_of(struct store_fixture *f, const char *dir, const char *name, char *out, size_t outlen)
{
	assert_int_equal(str_format(out, outlen, "%s/data/blobs/%s/%s", f->dir, dir, name), 0);
}

/* A file dir/name, made days old unless young. */
static void plant(struct store_fixture *f, const char *dir, const char *name, bool young)
{
	char d[600], p[700];
	assert_int_equal(str_format(d, sizeof d, "%s/data/blobs/%s", f->dir, dir), 0);
	assert_true(mkdir(d, 0700) == 0 || errno == EEXIST);
	path_of(f, dir, name, p, sizeof p);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("x", fp);
	fclose(fp);
	if (!young) {
		struct utimbuf t = {time(NULL) - 3 * 86400, time(NULL) - 3 * 86400};
		assert_int_equal(utime(p, &t), 0);
	}
}

static bool exists(struct store_fixture *f, const char *dir, const char *name)
{
	char p[700];
	path_of(f, dir, name, p, sizeof p);
	return access(p, F_OK) == 0;
}

/* The one stored blob's name (its row's), its file made old. */
static void stored(struct store_fixture *f, char name[64])
{
	store_fixture_deliver(f, PRO, "INBOX", msg, NULL);
	struct sql_stmt *q =
	    sql_query(store_sql(f->st), "t", "SELECT name FROM blobs", SQL_NOARGS, f->err, sizeof f->err);
	assert_non_null(q);
	assert_int_equal(sql_next(q, f->err, sizeof f->err), 1);
	assert_int_equal(str_copy(name, 64, sql_text(q, 0)), 0);
	sql_done(q);
	char dir[3] = {name[0], name[1], '\0'}, p[700];
	path_of(f, dir, name, p, 700);
	struct utimbuf t = {time(NULL) - 3 * 86400, time(NULL) - 3 * 86400};
	assert_int_equal(utime(p, &t), 0);
}

#define ORPHAN(d) d "3333333333333333333333333333aa"

static void plant_all(struct store_fixture *f)
{
	plant(f, "00", ORPHAN("00"), false);
	plant(f, "00",
	      "00"
	      "4444444444444444444444444444aa",
	      false);
	plant(f, "7f", ORPHAN("7f"), false);
	plant(f, "ff", ORPHAN("ff"), false);
	plant(f, "7f", ".tmp-blob-Ab12Cd", false);
	plant(f, "7f",
	      "7f"
	      "5555555555555555555555555555aa",
	      true);                        /* young */
	plant(f, "7f", "notes.txt", false); /* not a blob's name */
}

static void test_bounded_passes(void **state)
{
	struct store_fixture *f = *state;
	char name[64];
	stored(f, name);
	plant_all(f);
	struct store_sweep at = {0};
	struct store_sweep_opts o = {.min_age = 3600, .max_files = 2};
	struct store_sweep_report r;
	size_t passes = 0, looked = 0, removed = 0;
	do {
		assert_int_equal(store_blob_sweep_pass(f->st, &at, &o, &r, f->err, sizeof f->err), 0);
		assert_true(r.looked <= 2);
		looked += r.looked;
		removed += r.removed;
		passes++;
	} while (!r.round_done && passes < 50);
	assert_true(r.round_done);
	assert_true(passes >= 4);    /* 7 names, 2 a pass */
	assert_int_equal(looked, 7); /* the stored one, 4 orphans, the temporary, the young */
	assert_int_equal(removed, 5);
	assert_false(exists(f, "00", ORPHAN("00")));
	assert_false(exists(f, "7f", ORPHAN("7f")));
	assert_false(exists(f, "ff", ORPHAN("ff")));
	assert_false(exists(f, "7f", ".tmp-blob-Ab12Cd"));
	char dir[3] = {name[0], name[1], '\0'};
	assert_true(exists(f, dir, name));
	assert_true(exists(f, "7f",
	                   "7f"
	                   "5555555555555555555555555555aa"));
	assert_true(exists(f, "7f", "notes.txt"));
	/* the next round starts at 00 again, and finds nothing more */
	o.max_files = 0;
	assert_int_equal(store_blob_sweep_pass(f->st, &at, &o, &r, f->err, sizeof f->err), 0);
	assert_true(r.round_done);
	assert_int_equal(r.looked, 2); /* the stored one and the young one */
	assert_int_equal(r.removed, 0);
}

static void count_path(void *arg, const char *path)
{
	size_t *n = arg;
	assert_non_null(strstr(path, "/data/blobs/"));
	(*n)++;
}

static void test_dry_run_removes_nothing(void **state)
{
	struct store_fixture *f = *state;
	char name[64];
	stored(f, name);
	plant_all(f);
	size_t named = 0;
	struct store_sweep at = {0};
	struct store_sweep_opts o = {.min_age = 3600, .dry_run = true, .each = count_path, .arg = &named};
	struct store_sweep_report r;
	assert_int_equal(store_blob_sweep_pass(f->st, &at, &o, &r, f->err, sizeof f->err), 0);
	assert_true(r.round_done);
	assert_int_equal(r.looked, 7);
	assert_int_equal(r.removed, 5);
	assert_int_equal(named, 5);
	assert_true(exists(f, "00", ORPHAN("00")) && exists(f, "7f", ".tmp-blob-Ab12Cd"));
	/* an age above the files' keeps them all */
	o.dry_run = false;
	o.min_age = 4 * 86400;
	assert_int_equal(store_blob_sweep_pass(f->st, &at, &o, &r, f->err, sizeof f->err), 0);
	assert_int_equal(r.removed, 0);
	assert_true(exists(f, "ff", ORPHAN("ff")));
}

static void test_no_blob_dir_yet(void **state)
{
	struct store_fixture *f = *state;
	struct store_sweep at = {.dir = 17};
	struct store_sweep_opts o = {.min_age = 3600, .max_files = 1};
	struct store_sweep_report r;
	char p[600];
	assert_int_equal(str_format(p, sizeof p, "%s/data/blobs", f->dir), 0);
	if (access(p, F_OK) == 0)
		assert_int_equal(rmdir(p), 0);
	assert_int_equal(store_blob_sweep_pass(f->st, &at, &o, &r, f->err, sizeof f->err), 0);
	assert_true(r.round_done);
	assert_int_equal(r.looked, 0);
	assert_int_equal(at.dir, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bounded_passes, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_dry_run_removes_nothing, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_no_blob_dir_yet, setup, store_fixture_teardown),
	};
	return STORE_RUN_GROUPS("store blob sweep", tests);
}
