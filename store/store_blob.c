/* store_blob.c: encrypted message bodies under blob_dir/<2 hex>/<name> (blob_dir:
 * default data_dir/blobs; with a shared store, a directory every host mounts), or, when
 * at most store_inline_blob_max encrypted, in the data column of their blobs row.
 *
 * A blob's name is random (not its row id) so that it can be written, fsynced and
 * renamed before the database transaction that references it begins: deliver writes
 * the files first, commits second, and removes the files if the commit fails.
 *
 * A blob in its row (issue 15) has the same format, key and sealed key; it is written
 * by the INSERT of its row, inside the delivery's transaction, so the one group WAL
 * sync that makes the rows durable covers it too: no file, no fsync, no directory
 * fsync of its own. It keeps a random name all the same (the column is unique and the
 * decrypted-body cache is keyed by it). */
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

/* Whether a blob of len plaintext bytes goes into its row: st's store_inline_blob_max. */
static bool blob_fits_row(const struct store *st, size_t len)
{
	uint64_t max = st->cfg.store_inline_blob_max;
	return max > 0 && len <= max && crypto_blob_sealed_size(len) <= max;
}

int store_blob_put(struct store *st, const unsigned char key[CRYPTO_KEY_LEN], const char *data, size_t len,
                   char name[STORE_BLOB_NAME_LEN], struct buf *row, struct store_paths *written, char *err,
                   size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	store_blob_name(name);
	if (row != NULL && blob_fits_row(st, len)) {
		buf_reset(row);
		return crypto_blob_seal(key, data, len, row, err, errlen);
	}
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

struct sql_value store_blob_row_value(const struct buf *row)
{
	return row != NULL && row->len > 0 ? SQL_BLOB(row->data, row->len) : SQL_NULL;
}

int store_blob_insert(struct store *st, int64_t user_id, const char *name, uint64_t size,
                      const unsigned char *sealed, const struct buf *row, int64_t *blob_id, char *err,
                      size_t errlen)
{
	return sql_one(st->sql, "store.blob_insert",
	               "INSERT INTO blobs (user_id, name, size, sealed_key, data) VALUES (?1, ?2, ?3, ?4, ?5)"
	               " RETURNING id",
	               SQL_ARGS(SQL_INT(user_id), SQL_TEXT(name), SQL_INT(size),
	                        SQL_BLOB(sealed, CRYPTO_SEALED_KEY_LEN), store_blob_row_value(row)),
	               blob_id, err, errlen) == 1
	           ? 0
	           : -1;
}

int store_blob_row(struct store *st, const char *name, struct buf *row, char *err, size_t errlen)
{
	struct sql_stmt *q = sql_query(st->sql, "store.blob_row", "SELECT data FROM blobs WHERE name = ?1",
	                               SQL_ARGS(SQL_TEXT(name)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1 && sql_is_null(q, 0))
		rc = 0;
	if (rc == 1) {
		size_t n = 0;
		const void *p = sql_blob(q, 0, &n);
		buf_reset(row);
		if (n == 0 || buf_append(row, p, n) < 0) {
			str_error(err, errlen, "blob %s: its row's copy is empty or too large", name);
			rc = -1;
		}
	}
	sql_done(q);
	return rc;
}

/* Every byte the cache's storage was given is overwritten: the data is all that was
 * written since the last clear (a failed decryption zeroes what it added, crypto.c),
 * and the storage it outgrew was overwritten as it grew (buf_init_wiped: before, a
 * realloc left each smaller copy of a patient's message in the heap). */
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
	if (st->cache.valid && strcmp(st->cache.blob, name) == 0)
		return 0;
	struct buf row;
	buf_init(&row, BUF_UNLIMITED);
	int in_row = store_blob_row(st, name, &row, err, errlen);
	int rc = in_row < 0 ? -1 : store_blob_load_row(st, k, name, in_row, &row, err, errlen);
	buf_free(&row);
	return rc;
}

int store_blob_load_row(struct store *st, const struct store_keyref *k, const char *name, int in_row,
                        const struct buf *row, char *err, size_t errlen)
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
	int rc = in_row == 1
	             ? crypto_blob_read_mem(row->data, row->len, name, key, &st->cache.data, err, errlen)
	             : crypto_blob_read(path, key, &st->cache.data, err, errlen);
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
 * any more (*in_row: it has no file): 1, 0 still used, -1. */
static int blob_unused(struct store *st, int64_t blob_id, char *name, size_t namelen, bool *in_row, char *err,
                       size_t errlen)
{
	struct sql_stmt *q =
	    sql_query(st->sql, "store.blob_unused",
	              "SELECT name, CASE WHEN data IS NULL THEN 0 ELSE 1 END FROM blobs WHERE id = ?1"
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
	if (rc == 1)
		*in_row = sql_int(q, 1) != 0;
	sql_done(q);
	return rc;
}

int store_blob_release(struct store *st, const int64_t *blob_ids, size_t n, struct store_paths *unlinked,
                       char *err, size_t errlen)
{
	char name[STORE_BLOB_NAME_LEN + 8];
	char path[CONFIG_PATH_MAX + 64];
	for (size_t i = 0; i < n; i++) {
		bool in_row = false;
		int rc = blob_unused(st, blob_ids[i], name, sizeof(name), &in_row, err, errlen);
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		if (sql_exec(st->sql, "store.blob_delete", "DELETE FROM blobs WHERE id = ?1",
		             SQL_ARGS(SQL_INT(blob_ids[i])), err, errlen) < 0)
			return -1;
		if (!in_row && store_blob_path(st, name, path, sizeof(path)) == 0)
			store_paths_add(unlinked, path); /* a row's blob went with its row */
	}
	return 0;
}
