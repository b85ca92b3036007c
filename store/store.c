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
#include "lib/log.h"
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
	str_error(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

static int data_path(const struct mss_config *cfg, const char *name, char *out, size_t outlen, char *err,
                     size_t errlen)
{
	if (config_data_path(cfg, name, out, outlen) == 0)
		return 0;
	str_error(err, errlen, "data_dir path too long");
	return -1;
}

bool store_is_shared(const struct mss_config *cfg)
{
	return cfg->store[0] != '\0';
}

/* The database to open: the store URI (PostgreSQL, shared by several hosts) or
 * data_dir/mss.db (SQLite). */
static int db_target(const struct mss_config *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
	if (!store_is_shared(cfg))
		return data_path(cfg, "mss.db", out, outlen, err, errlen);
	if (str_copy(out, outlen, cfg->store) == 0)
		return 0;
	str_error(err, errlen, "store URI too long");
	return -1;
}

static int key_path(const struct mss_config *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
	if (config_master_key_file(cfg, out, outlen) == 0)
		return 0;
	str_error(err, errlen, "master_key_file path too long");
	return -1;
}

/* A value derived from the master key (a keyed BLAKE2b of a fixed text), kept in
 * store_counters: a host started with another key than the one that wrapped the
 * accounts' keys is refused at open instead of failing each message. It reveals
 * nothing of the key. */
int64_t store_key_check_value(const unsigned char master[CRYPTO_KEY_LEN])
{
	static const char label[] = "mss master key check";
	unsigned char h[8];
	crypto_generichash(h, sizeof(h), (const unsigned char *)label, sizeof(label) - 1, master,
	                   CRYPTO_KEY_LEN);
	uint64_t v = 0;
	for (size_t i = 0; i < sizeof(h); i++)
		v = (v << 8) | h[i];
	return (int64_t)(v & (uint64_t)INT64_MAX);
}

/* Returns 1 when the database holds the check of another key, 0 when it matches or
 * there is none yet, -1 on error. */
static int key_check(struct sql *db, const unsigned char master[CRYPTO_KEY_LEN], bool record, char *err,
                     size_t errlen)
{
	int64_t want = store_key_check_value(master), have = 0;
	if (record && sql_exec(db, "store.key_check_set",
	                       "INSERT INTO store_counters (name, value) VALUES ('master_key_check', ?1)"
	                       " ON CONFLICT (name) DO NOTHING",
	                       SQL_ARGS(SQL_INT(want)), err, errlen) < 0)
		return -1;
	int rc =
	    sql_one(db, "store.key_check", "SELECT value FROM store_counters WHERE name = 'master_key_check'",
	            SQL_NOARGS, &have, err, errlen);
	if (rc < 0)
		return -1;
	return rc == 1 && have != want ? 1 : 0;
}

static int make_dirs(const struct mss_config *cfg, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	static const char *const dirs[] = {"keys", "run"};

	if (make_dir(cfg->data_dir, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (data_path(cfg, dirs[i], path, sizeof(path), err, errlen) < 0 ||
		    make_dir(path, err, errlen) < 0)
			return -1;
	}
	if (config_blob_dir(cfg, path, sizeof(path)) < 0) {
		str_error(err, errlen, "blob_dir path too long");
		return -1;
	}
	return make_dir(path, err, errlen);
}

/* The master key: the one already in master_key_file (a further host of a shared
 * store, given the first host's key by the operator), else a new one, unless the
 * database was made with another key. */
static int init_master_key(const struct mss_config *cfg, struct sql *db, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	unsigned char master[CRYPTO_KEY_LEN];
	struct stat sb;
	bool created = false;

	if (key_path(cfg, path, sizeof(path), err, errlen) < 0)
		return -1;
	if (stat(path, &sb) < 0) {
		int64_t have = 0;
		int rc = sql_one(db, "store.key_check",
		                 "SELECT value FROM store_counters WHERE name = 'master_key_check'",
		                 SQL_NOARGS, &have, err, errlen);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			str_error(
			    err, errlen,
			    "the store is already initialised by another host: copy its master key to %s "
			    "(and its keys/ directory) first",
			    path);
			return -1;
		}
		if (crypto_master_key_create(path, err, errlen) < 0)
			return -1;
		created = true;
	}
	if (crypto_master_key_load(path, master, err, errlen) < 0)
		return -1;
	int rc = key_check(db, master, true, err, errlen);
	sodium_memzero(master, sizeof(master));
	if (rc == 1) {
		str_error(err, errlen, "%s is not the master key this store was initialised with", path);
		if (created)
			unlink(path);
	}
	return rc == 0 ? 0 : -1;
}

/* Creates everything but the other parts' tables (see store.h: mssctl init runs
 * policy_schema_migrate next; store/ may not call the parts above it). */
int store_create_data_dir(const struct mss_config *cfg, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	struct stat sb;

	if (cfg->data_dir[0] == '\0') {
		str_error(err, errlen, "data_dir is not set");
		return -1;
	}
	if (!store_is_shared(cfg)) {
		if (data_path(cfg, "mss.db", path, sizeof(path), err, errlen) < 0)
			return -1;
		if (stat(path, &sb) == 0) {
			str_error(err, errlen, "%s already initialised (%s exists)", cfg->data_dir, path);
			return -1;
		}
	}
	if (sodium_init() < 0) {
		str_error(err, errlen, "libsodium initialisation failed");
		return -1;
	}
	if (make_dirs(cfg, err, errlen) < 0 || db_target(cfg, path, sizeof(path), err, errlen) < 0)
		return -1;
	struct sql *db = sql_open(path, SQL_OPEN_CREATE, err, errlen);
	if (db == NULL)
		return -1;
	int rc = sql_migrate(db, &store_schema, NULL, err, errlen);
	if (rc == 0)
		rc = init_master_key(cfg, db, err, errlen);
	sql_close(db);
	return rc;
}

static struct store *open_db(const struct mss_config *cfg, int with_key, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	struct stat sb;

	if (sodium_init() < 0) {
		str_error(err, errlen, "libsodium initialisation failed");
		return NULL;
	}
	if (db_target(cfg, path, sizeof(path), err, errlen) < 0)
		return NULL;
	if (!store_is_shared(cfg) && stat(path, &sb) < 0) {
		str_error(err, errlen, "%s: %s (run mssctl init)", path, strerror(errno));
		return NULL;
	}
	struct store *st = xcalloc(1, sizeof(*st));
	st->cfg = *cfg;
	st->agent_fd = -1;
	st->reuse_schema = -1;
	/* a patient's decrypted message: growing as it is decrypted chunk by chunk, its
	 * earlier storage is overwritten, not freed as it was (store_cache_clear) */
	buf_init_wiped(&st->cache.data, BUF_UNLIMITED);
	st->sql = sql_open_timeout(path, 0, cfg->store_timeout * 1000u, err, errlen);
	if (st->sql == NULL)
		goto fail;
	if (!with_key)
		return st;
	if (key_path(cfg, path, sizeof(path), err, errlen) < 0 ||
	    crypto_master_key_load(path, st->master, err, errlen) < 0)
		goto fail;
	int rc = key_check(st->sql, st->master, false, err, errlen);
	if (rc == 1)
		str_error(err, errlen, "%s is not the master key this store was initialised with", path);
	if (rc != 0)
		goto fail;
	st->has_master = 1;
	return st;
fail:
	store_close(st);
	return NULL;
}

int store_key_check(struct store *st, int64_t want, char *err, size_t errlen)
{
	int64_t have = 0;
	int rc = sql_one(st->sql, "store.key_check",
	                 "SELECT value FROM store_counters WHERE name = 'master_key_check'", SQL_NOARGS,
	                 &have, err, errlen);
	if (rc < 0)
		return -1;
	if (rc == 1 && have != want) {
		char path[CONFIG_PATH_MAX + 64];
		if (key_path(&st->cfg, path, sizeof(path), err, errlen) == 0)
			str_error(err, errlen, "%s is not the master key this store was initialised with",
			          path);
		return -1;
	}
	return 0;
}

struct store *store_open(const struct mss_config *cfg, char *err, size_t errlen)
{
	return open_db(cfg, 1, err, errlen);
}

struct store *store_open_nokeys(const struct mss_config *cfg, char *err, size_t errlen)
{
	return open_db(cfg, 0, err, errlen);
}

/* The account keys this process was given or unwrapped: wiped, and forgotten. */
static void forget_keys(struct store *st)
{
	for (size_t i = 0; i < st->nkeys; i++)
		sodium_memzero(&st->keys[i], sizeof(st->keys[i])); /* key and key pair */
	free(st->keys);
	st->keys = NULL;
	st->nkeys = 0;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	store_keyring_end(st);
	store_cache_clear(st);
	buf_free(&st->cache.data);
	forget_keys(st);
	sodium_memzero(st->master, sizeof(st->master));
	sql_close(st->sql);
	free(st);
}

/* A value any schema change alters: SQLite's schema cookie (raised by every CREATE,
 * ALTER or DROP), or on PostgreSQL the transaction that last wrote schema_version (each
 * migration step does, in the step's transaction). */
static int schema_stamp(struct store *st, int64_t *stamp, char *err, size_t errlen)
{
	const char *q = sql_engine(st->sql) == SQL_SQLITE
	                    ? "PRAGMA schema_version"
	                    : "SELECT coalesce(max(xmin::text::bigint), 0) FROM schema_version";
	return sql_one(st->sql, "store.schema_stamp", q, SQL_NOARGS, stamp, err, errlen) == 1 ? 0 : -1;
}

int store_reuse_end(struct store *st)
{
	char err[256];
	int rc = 0;

	/* Every caller commits or rolls back what it begins: a transaction still open here
	 * is a bug, and must not become part of the next client's. */
	if (sql_in_transaction(st->sql)) {
		log_err("store.reuse", "error=\"a transaction was left open at the end of a session\" "
		                       "action=rolled_back,reopen");
		sql_rollback(st->sql);
		rc = -1;
	}
	/* Per client: the key agent channel is the connection's own (the master closes it
	 * after the connection if left open, and its number may be reused), the binding
	 * names the account the client logged in as, the keys and the decrypted message are
	 * that client's recipients' or account's, and reader_id who it read as. */
	store_keyring_end(st);
	st->use_keyring = false;
	st->agent_bound = false;
	sodium_memzero(st->agent_account, sizeof(st->agent_account));
	forget_keys(st);
	store_cache_clear(st);
	st->reader_id = 0;
	st->npending_notify = 0; /* only filled inside a transaction, which ended above */
	/* The statement cache stays: its bindings are cleared after each use (sql_cache.h),
	 * so it holds statement texts, no client's values. */
	if (sql_fault_count(st->sql) != st->reuse_faults)
		rc = -1;
	if (rc == 0 && st->reuse_schema < 0 && schema_stamp(st, &st->reuse_schema, err, sizeof(err)) < 0)
		rc = -1;
	st->reuse_faults = sql_fault_count(st->sql);
	return rc;
}

int store_reuse_begin(struct store *st, char *err, size_t errlen)
{
	int64_t stamp = 0;

	/* PostgreSQL: a connection the server closed meanwhile is made again here by the
	 * driver (sql_pg.c), or this fails */
	if (schema_stamp(st, &stamp, err, errlen) < 0)
		return -1;
	if (stamp != st->reuse_schema) {
		str_error(err, errlen, "the schema changed (migrated) since the last session");
		return -1;
	}
	return 0;
}

void store_release_memory(struct store *st)
{
	char err[256];

	if (st == NULL)
		return;
	store_cache_clear(st);
	buf_free(&st->cache.data);
	buf_init_wiped(&st->cache.data, BUF_UNLIMITED); /* as store_open made it */
	if (sql_engine(st->sql) != SQL_SQLITE || sql_in_transaction(st->sql))
		return;
	/* frees the unused pages of the connection's cache, which is all of them between
	 * statements (PostgreSQL's cache is the server's) */
	if (sql_script(st->sql, "store.release", "PRAGMA shrink_memory", err, sizeof(err)) < 0)
		log_warn("store.release", "error=\"%s\"", err);
}

int store_service_key(struct store *st, const char ctx[8], unsigned char key[CRYPTO_KEY_LEN], char *err,
                      size_t errlen)
{
	if (!st->has_master && st->use_keyring) /* session processes: the agent derives it */
		return store_keyring_service_key(st, ctx, key, err, errlen);
	if (!st->has_master) {
		str_error(err, errlen, "the store was opened without the master key");
		return -1;
	}
	crypto_subkey(key, st->master, 1, ctx);
	return 0;
}

/* Both halves: derived here with the master key, else asked of the agent. */
static int queue_keys(struct store *st, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], unsigned char *sk, char *err,
                      size_t errlen)
{
	unsigned char own[CRYPTO_SECRET_KEY_LEN];

	if (!st->has_master && st->use_keyring)
		return store_keyring_queue_keys(st, pk, sk, err, errlen);
	if (!st->has_master) {
		str_error(err, errlen, "the store was opened without the master key");
		return -1;
	}
	crypto_service_keypair(st->master, STORE_QUEUE_KEYPAIR_CTX, pk, sk != NULL ? sk : own);
	sodium_memzero(own, sizeof own);
	return 0;
}

int store_queue_public_key(struct store *st, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], char *err,
                           size_t errlen)
{
	return queue_keys(st, pk, NULL, err, errlen);
}

int store_queue_secret_key(struct store *st, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN],
                           unsigned char sk[CRYPTO_SECRET_KEY_LEN], char *err, size_t errlen)
{
	return queue_keys(st, pk, sk, err, errlen);
}

bool store_unavailable(struct store *st)
{
	return st != NULL && (st->agent_gone || sql_last_error(st->sql) == SQL_ERR_CONNECTION);
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

void store_paths_discard(struct store *st, struct store_paths *p)
{
	/* A commit that lost its connection may have taken effect (sql.h): the rows may
	 * reference these blobs. Keeping them costs at worst an unreferenced file. */
	if (sql_last_error(st->sql) == SQL_ERR_CONNECTION) {
		store_paths_free(p);
		return;
	}
	store_paths_unlink(p);
}

int store_batch_begin(struct store *st, char *err, size_t errlen)
{
	if (sql_begin_write(st->sql, err, errlen) != 0)
		return -1;
	sql_hold(st->sql, true); /* nothing of the batch commits alone */
	st->in_batch = true;
	return 0;
}

/* SQLite journals every page a savepoint changes, as it was, in a statement journal:
 * in memory up to 64 KiB, then in a temporary file (TMPDIR, /var/tmp), which a batch
 * of 4 KiB messages fills with about 13 pages a delivery: two writes a page, and a file
 * created and unlinked a batch, holding copies of the database's pages (addresses,
 * audit rows) outside data_dir. temp_store=MEMORY keeps it in memory, where SQLite
 * empties it at each delivery's release. Not for every connection: it also puts
 * VACUUM's copy of the whole database in memory. */
int store_batch_setup(struct store *st, char *err, size_t errlen)
{
	if (sql_engine(st->sql) != SQL_SQLITE)
		return 0;
	return sql_script(st->sql, "store.batch_setup", "PRAGMA temp_store=MEMORY", err, errlen) < 0 ? -1 : 0;
}

bool store_batch_open(struct store *st)
{
	return st->in_batch && sql_in_transaction(st->sql);
}

int store_batch_end(struct store *st, bool ok, char *err, size_t errlen)
{
	int rc = -1;
	sql_hold(st->sql, false);
	if (ok && !sql_in_transaction(st->sql))
		str_error(err, errlen, "the transaction ended early");
	else if (ok)
		rc = sql_commit(st->sql, err, errlen) == 0 ? 0 : -1;
	else if (sql_in_transaction(st->sql))
		sql_rollback(st->sql);
	if (!ok && err[0] == '\0')
		str_error(err, errlen, "not committed");
	st->in_batch = false;
	if (rc == 0)
		store_paths_free(&st->batch_written);
	else
		store_paths_discard(st, &st->batch_written);
	store_notify_flush(st); /* IMAP sessions idling on these mailboxes */
	return rc;
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
	if (t->own && st->in_batch) {
		/* the engine ended the batch's transaction (SQLite rolls one back itself on a
		 * full disk or an I/O error): a write of our own would commit alone, and the
		 * batch's end, which fails, remove the blob files it wrote (batch_written) */
		str_error(err, errlen, "the batch's transaction ended early: nothing written");
		return -1;
	}
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
		str_error(err, errlen, "%s", why);
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

int store_reads_begin(struct store *st, bool *own, char *err, size_t errlen)
{
	struct store_txn t;
	int rc = store_read_begin(st, &t, err, errlen);
	*own = rc == 0 && t.own;
	return rc;
}

void store_reads_end(struct store *st, bool own)
{
	struct store_txn t = {.own = own};
	store_read_end(st, &t);
}
