/* test_db_util.h: a fresh data_dir with an open store and some parts' schemas, for
 * the unit tests of the parts that keep tables in the store. */
#ifndef MSS_TEST_DB_UTIL_H
#define MSS_TEST_DB_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store.h"
#include "store/store_sql.h"

struct test_data {
	char dir[256];
	struct mss_config cfg; /* data_dir = dir/data; set other keys before test_data_open */
	struct store *st;
};

/* A new temporary directory (tmpfs when there is one: tests fsync a lot) and default
 * settings. Returns 0 or -1. */
static inline int test_data_init(struct test_data *t, const char *name)
{
	if (str_format(t->dir, sizeof t->dir, "%s/%s.XXXXXX",
	               access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", name) != 0 ||
	    mkdtemp(t->dir) == NULL)
		return -1;
	config_defaults(&t->cfg);
	return str_format(t->cfg.data_dir, sizeof t->cfg.data_dir, "%s/data", t->dir);
}

/* Creates the data_dir, opens the store and applies each schema. Returns 0 or -1
 * (why on stderr). */
static inline int test_data_open(struct test_data *t, const struct sql_schema *const *schemas, size_t n)
{
	char err[512];
	if (store_create_data_dir(&t->cfg, err, sizeof err) != 0 ||
	    (t->st = store_open(&t->cfg, err, sizeof err)) == NULL) {
		fprintf(stderr, "test_data_open: %s\n", err);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (sql_migrate(store_sql(t->st), schemas[i], NULL, err, sizeof err) < 0) {
			fprintf(stderr, "test_data_open: %s\n", err);
			return -1;
		}
	}
	return 0;
}

static inline void test_data_close(struct test_data *t)
{
	char cmd[300];
	store_close(t->st);
	t->st = NULL;
	if (str_format(cmd, sizeof cmd, "rm -rf '%s'", t->dir) != 0 || system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", t->dir);
}

/* Runs statements behind the parts' backs (tampering, fixtures). Returns 0 or -1
 * (why on stderr). */
static inline int test_sql(struct store *st, const char *sql)
{
	char err[256];
	int rc = sql_script(store_sql(st), "test", sql, err, sizeof err);
	if (rc < 0)
		fprintf(stderr, "test_sql: %s\n", err);
	return rc;
}

/* One integer from a query (count(*), a column of one row); -1 when no row. */
static inline int64_t test_sql_int(struct store *st, const char *sql)
{
	char err[256];
	int64_t v = -1;
	if (sql_one(store_sql(st), "test", sql, SQL_NOARGS, &v, err, sizeof err) < 0)
		fprintf(stderr, "test_sql_int: %s\n", err);
	return v;
}

#endif
