/* test_store_util.h: a fresh data_dir and open store for each store unit test.
 * STORE_RUN_GROUPS runs a group on SQLite, then again on PostgreSQL when MSS_TEST_PG
 * names a server (scripts/pg-test-cluster): each test then gets a database of its
 * own there (config key store), dropped afterwards. */
#ifndef MSS_TEST_STORE_UTIL_H
#define MSS_TEST_STORE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/config.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store.h"

static bool store_on_pg;          /* this run of the group uses PostgreSQL */
static const char *store_pg_base; /* MSS_TEST_PG */
static unsigned store_pg_n;       /* databases made so far */

/* Runs one statement on the server's maintenance database (CREATE/DROP DATABASE). */
static inline int store_pg_admin(const char *statement)
{
	char err[256], uri[600];
	if (str_format(uri, sizeof(uri), "%s/postgres", store_pg_base != NULL ? store_pg_base : "") != 0)
		return -1;
	struct sql *a = sql_open(uri, 0, err, sizeof(err));
	int rc = a != NULL ? sql_script(a, "admin", statement, err, sizeof(err)) : -1;
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", statement, err);
	sql_close(a);
	return rc;
}

/* The test runs with SQLite only (it reads SQLite files or SQLite-only behaviour). */
#define STORE_SQLITE_ONLY()                                                                                  \
	do {                                                                                                 \
		if (store_on_pg)                                                                             \
			skip();                                                                              \
	} while (0)

#define STORE_RUN_GROUPS(name, tests)                                                                        \
	({                                                                                                   \
		int failed_ = cmocka_run_group_tests_name(name " on SQLite", tests, NULL, NULL);             \
		store_pg_base = getenv("MSS_TEST_PG");                                                       \
		if (store_pg_base != NULL && *store_pg_base != '\0') {                                       \
			store_on_pg = true;                                                                  \
			failed_ += cmocka_run_group_tests_name(name " on PostgreSQL", tests, NULL, NULL);    \
		}                                                                                            \
		failed_;                                                                                     \
	})

struct store_fixture {
	char dir[256];
	char pg_db[64]; /* "" on SQLite */
	struct mss_config cfg;
	struct store *st;
	char err[512];
};

static inline int store_fixture_setup(void **state)
{
	struct store_fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	/* tmpfs when there is one: every delivery fsyncs, which a disk makes slow. */
	if (str_copy(f->dir, sizeof(f->dir),
	             access("/dev/shm", W_OK) == 0 ? "/dev/shm/mss-test-store-XXXXXX"
	                                           : "/tmp/mss-test-store-XXXXXX") != 0 ||
	    mkdtemp(f->dir) == NULL)
		return -1;
	config_defaults(&f->cfg);
	if (str_format(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s/data", f->dir) != 0)
		return -1;
	if (store_on_pg) {
		char create[128];
		if (str_format(f->pg_db, sizeof(f->pg_db), "mss_store_test_%ld_%u", (long)getpid(),
		               store_pg_n++) != 0 ||
		    str_format(create, sizeof(create), "CREATE DATABASE %s", f->pg_db) != 0 ||
		    store_pg_admin(create) != 0 ||
		    str_format(f->cfg.store, sizeof(f->cfg.store), "%s/%s", store_pg_base, f->pg_db) != 0)
			return -1;
	}
	if (store_create_data_dir(&f->cfg, f->err, sizeof(f->err)) != 0) {
		fprintf(stderr, "create: %s\n", f->err);
		return -1;
	}
	f->st = store_open(&f->cfg, f->err, sizeof(f->err));
	if (f->st == NULL) {
		fprintf(stderr, "open: %s\n", f->err);
		return -1;
	}
	*state = f;
	return 0;
}

static inline int store_fixture_teardown(void **state)
{
	struct store_fixture *f = *state;
	char cmd[400];
	store_close(f->st);
	if (f->pg_db[0] != '\0') {
		if (str_format(cmd, sizeof(cmd), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->pg_db) == 0)
			store_pg_admin(cmd);
	}
	if (str_format(cmd, sizeof(cmd), "rm -rf '%s'", f->dir) != 0 || system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

/* Delivers msg (NUL-terminated) to one account's mailbox; returns the UID. */
static inline uint32_t store_fixture_deliver(struct store_fixture *f, const char *rcpt, const char *mailbox,
                                             const char *msg, const char *flags)
{
	const char *rcpts[1] = {rcpt};
	uint32_t uid = 0;
	struct store_delivery d = {.mail_from = "sender@pro.mss.test",
	                           .rcpts = rcpts,
	                           .nrcpt = 1,
	                           .mailbox = mailbox,
	                           .data = msg,
	                           .len = strlen(msg),
	                           .internal_date = 1700000000,
	                           .flags = flags};
	int rc = store_deliver(f->st, &d, &uid, f->err, sizeof(f->err));
	if (rc != 0)
		fprintf(stderr, "deliver: %s\n", f->err);
	assert_int_equal(rc, 0);
	return uid;
}

static inline int64_t store_fixture_mailbox(struct store_fixture *f, const char *user, const char *name)
{
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->st, user, name, &mb, f->err, sizeof(f->err)), 1);
	return mb.id;
}

#endif
