/* store_blob.c: encrypted message bodies under blob_dir/<2 hex>/<name> (blob_dir:
 * default data_dir/blobs; with a shared store, a directory every host mounts).
 *
 * A blob's name is random (not its row id) so that it can be written, fsynced and
 * renamed before the database transaction that references it begins: deliver writes
 * the files first, commits second, and removes the files if the commit fails. */
#include "store/store.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "lib/crypto.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

void store_blob_name(char out[STORE_BLOB_NAME_LEN])
{
	unsigned char r[16];
	randombytes_buf(r, sizeof(r));
	str_hex(out, r, sizeof(r));
}

int store_blob_path(struct store *st, const char *name, char *out, size_t outlen)
{
	char dir[CONFIG_PATH_MAX];
	if (config_blob_dir(&st->cfg, dir, sizeof(dir)) < 0)
		return -1;
	return str_format(out, outlen, "%s/%.2s/%s", dir, name, name);
}

static int blob_dir(struct store *st, const char *name, char *err, size_t errlen)
{
	char base[CONFIG_PATH_MAX], dir[CONFIG_PATH_MAX + 64];
	if (config_blob_dir(&st->cfg, base, sizeof(base)) < 0 ||
	    str_format(dir, sizeof(dir), "%s/%.2s", base, name) < 0) {
		str_error(err, errlen, "blob path too long");
		return -1;
	}
	if (mkdir(dir, 0700) == 0) {
		crypto_fsync_dir_of(dir);
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	str_error(err, errlen, "%s: %s", dir, strerror(errno));
	return -1;
}

int store_blob_put(struct store *st, const unsigned char key[CRYPTO_KEY_LEN], const char *data, size_t len,
                   char name[STORE_BLOB_NAME_LEN], struct store_paths *written, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	store_blob_name(name);
	if (store_blob_path(st, name, path, sizeof(path)) < 0) {
		str_error(err, errlen, "blob path too long");
		return -1;
	}
	if (blob_dir(st, name, err, errlen) < 0)
		return -1;
	if (crypto_blob_write_file(path, key, data, len, err, errlen) < 0)
		return -1;
	store_paths_add(written, path);
	return 0;
}

struct blob_writer *store_blob_create(struct store *st, const unsigned char key[CRYPTO_KEY_LEN],
                                      char name[STORE_BLOB_NAME_LEN], char *path, size_t pathlen, char *err,
                                      size_t errlen)
{
	store_blob_name(name);
	if (store_blob_path(st, name, path, pathlen) < 0) {
		str_error(err, errlen, "blob path too long");
		return NULL;
	}
	if (blob_dir(st, name, err, errlen) < 0)
		return NULL;
	return crypto_blob_create(path, key, err, errlen);
}

int store_blob_insert(struct store *st, int64_t user_id, const char *name, uint64_t size,
                      const unsigned char *sealed, int64_t *blob_id, char *err, size_t errlen)
{
	return sql_one(
	           st->sql, "store.blob_insert",
	           "INSERT INTO blobs (user_id, name, size, sealed_key) VALUES (?1, ?2, ?3, ?4) RETURNING id",
	           SQL_ARGS(SQL_INT(user_id), SQL_TEXT(name), SQL_INT(size),
	                    SQL_BLOB(sealed, CRYPTO_SEALED_KEY_LEN)),
	           blob_id, err, errlen) == 1
	           ? 0
	           : -1;
}

void store_cache_clear(struct store *st)
{
	if (st->cache.data.data != NULL) {
		sodium_memzero(st->cache.data.data, st->cache.data.len);
		buf_reset(&st->cache.data);
	}
	st->cache.blob[0] = '\0';
	st->cache.valid = false;
}

int store_blob_load(struct store *st, const struct store_keyref *k, const char *name, char *err,
                    size_t errlen)
{
	unsigned char key[CRYPTO_KEY_LEN];
	char path[CONFIG_PATH_MAX + 64];

	if (st->cache.valid && strcmp(st->cache.blob, name) == 0)
		return 0;
	store_cache_clear(st);
	if (store_blob_path(st, name, path, sizeof(path)) < 0) {
		str_error(err, errlen, "blob path too long");
		return -1;
	}
	if (store_content_key(st, k, key, err, errlen) < 0)
		return -1;
	int rc = crypto_blob_read(path, key, &st->cache.data, err, errlen);
	sodium_memzero(key, sizeof(key));
	if (rc < 0) {
		store_cache_clear(st);
		return -1;
	}
	if (str_copy(st->cache.blob, sizeof(st->cache.blob), name) < 0) {
		store_cache_clear(st);
		str_error(err, errlen, "blob name too long");
		return -1;
	}
	st->cache.valid = true;
	return 0;
}

/* The blob's name when no message (nor an expunged one kept for a session) uses it
 * any more: 1, 0 still used, -1. */
static int blob_unused(struct store *st, int64_t blob_id, char *name, size_t namelen, char *err,
                       size_t errlen)
{
	struct sql_stmt *q = sql_query(st->sql, "store.blob_unused",
	                               "SELECT name FROM blobs WHERE id = ?1"
	                               " AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = ?1)"
	                               " AND NOT EXISTS (SELECT 1 FROM retained WHERE blob_id = ?1)",
	                               SQL_ARGS(SQL_INT(blob_id)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1 && sql_text_copy(q, 0, name, namelen) != 0) {
		str_error(err, errlen, "blob %lld: name too long", (long long)blob_id);
		rc = -1;
	}
	sql_done(q);
	return rc;
}

int store_blob_release(struct store *st, const int64_t *blob_ids, size_t n, struct store_paths *unlinked,
                       char *err, size_t errlen)
{
	char name[STORE_BLOB_NAME_LEN + 8];
	char path[CONFIG_PATH_MAX + 64];
	for (size_t i = 0; i < n; i++) {
		int rc = blob_unused(st, blob_ids[i], name, sizeof(name), err, errlen);
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		if (sql_exec(st->sql, "store.blob_delete", "DELETE FROM blobs WHERE id = ?1",
		             SQL_ARGS(SQL_INT(blob_ids[i])), err, errlen) < 0)
			return -1;
		if (store_blob_path(st, name, path, sizeof(path)) == 0)
			store_paths_add(unlinked, path);
	}
	return 0;
}
