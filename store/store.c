/* store.c: opening the store, creating data_dir, the process's key cache. */
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <libetpan/libetpan.h>

#include "lib/crypto.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"
#include "store/store_sql.h"

static int make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST) {
		if (chmod(path, 0700) == 0)
			return 0;
	}
	str_format(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

static int data_path(const struct mss_config *cfg, const char *name, char *out, size_t outlen, char *err,
                     size_t errlen)
{
	if (config_data_path(cfg, name, out, outlen) == 0)
		return 0;
	str_format(err, errlen, "data_dir path too long");
	return -1;
}

/* Creates everything but the other parts' tables (see store.h: mssctl init runs
 * policy_schema_migrate next; store/ may not call the parts above it). */
int store_create_data_dir(const struct mss_config *cfg, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	struct stat sb;
	static const char *const dirs[] = {"blobs", "keys", "run"};

	if (cfg->data_dir[0] == '\0') {
		str_format(err, errlen, "data_dir is not set");
		return -1;
	}
	if (data_path(cfg, "mss.db", path, sizeof(path), err, errlen) < 0)
		return -1;
	if (stat(path, &sb) == 0) {
		str_format(err, errlen, "%s already initialised (%s exists)", cfg->data_dir, path);
		return -1;
	}
	if (sodium_init() < 0) {
		str_format(err, errlen, "libsodium initialisation failed");
		return -1;
	}
	if (make_dir(cfg->data_dir, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (data_path(cfg, dirs[i], path, sizeof(path), err, errlen) < 0 ||
		    make_dir(path, err, errlen) < 0)
			return -1;
	}
	if (data_path(cfg, "keys/master.key", path, sizeof(path), err, errlen) < 0 ||
	    crypto_master_key_create(path, err, errlen) < 0)
		return -1;
	if (data_path(cfg, "mss.db", path, sizeof(path), err, errlen) < 0)
		return -1;
	struct sql *db = sql_open(path, SQL_OPEN_CREATE, err, errlen);
	if (db == NULL)
		return -1;
	int rc = sql_migrate(db, &store_schema, NULL, err, errlen);
	sql_close(db);
	return rc;
}

struct store *store_open(const struct mss_config *cfg, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	struct stat sb;

	if (sodium_init() < 0) {
		str_format(err, errlen, "libsodium initialisation failed");
		return NULL;
	}
	if (data_path(cfg, "mss.db", path, sizeof(path), err, errlen) < 0)
		return NULL;
	if (stat(path, &sb) < 0) {
		str_format(err, errlen, "%s: %s (run mssctl init)", path, strerror(errno));
		return NULL;
	}
	struct store *st = xcalloc(1, sizeof(*st));
	st->cfg = *cfg;
	buf_init(&st->cache.data, BUF_UNLIMITED);
	st->sql = sql_open(path, 0, err, errlen);
	if (st->sql == NULL)
		goto fail;
	if (data_path(cfg, "keys/master.key", path, sizeof(path), err, errlen) < 0 ||
	    crypto_master_key_load(path, st->master, err, errlen) < 0)
		goto fail;
	return st;
fail:
	store_close(st);
	return NULL;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	store_cache_clear(st);
	buf_free(&st->cache.data);
	for (size_t i = 0; i < st->nkeys; i++)
		sodium_memzero(st->keys[i].key, sizeof(st->keys[i].key));
	free(st->keys);
	sodium_memzero(st->master, sizeof(st->master));
	sql_close(st->sql);
	free(st);
}

struct sql *store_sql(struct store *st)
{
	return st->sql;
}

const struct mss_config *store_config(struct store *st)
{
	return &st->cfg;
}

void store_paths_add(struct store_paths *p, const char *path)
{
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n++] = xstrdup(path);
}

void store_paths_unlink(struct store_paths *p)
{
	for (size_t i = 0; i < p->n; i++) {
		if (unlink(p->v[i]) == 0)
			crypto_fsync_dir_of(p->v[i]);
	}
	store_paths_free(p);
}

void store_paths_free(struct store_paths *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* A savepoint inside the caller's transaction when one is open (store_user_create
 * inside account_add, store_deliver inside a policy hook), else our own. */
int store_txn_begin(struct store *st, struct store_txn *t, char *err, size_t errlen)
{
	t->own = !sql_in_transaction(st->sql);
	if (t->own)
		return sql_begin_write(st->sql, err, errlen);
	return sql_savepoint(st->sql, "store", err, errlen);
}

int store_txn_end(struct store *st, struct store_txn *t, int rc, char *err, size_t errlen)
{
	if (t->own) {
		if (rc != 0) {
			sql_rollback(st->sql);
			return rc;
		}
		return sql_commit(st->sql, err, errlen) == 0 ? 0 : -1;
	}
	char why[256];
	if (sql_release(st->sql, "store", rc == 0, why, sizeof(why)) < 0 && rc == 0) {
		str_copy(err, errlen, why);
		return -1;
	}
	return rc;
}

int store_read_begin(struct store *st, struct store_txn *t, char *err, size_t errlen)
{
	t->own = !sql_in_transaction(st->sql);
	if (!t->own)
		return 0;
	return sql_begin_read(st->sql, err, errlen);
}

void store_read_end(struct store *st, struct store_txn *t)
{
	char ignored[128];
	if (t->own && sql_commit(st->sql, ignored, sizeof(ignored)) < 0)
		sql_rollback(st->sql);
}
