/* queue_reseal.c: mssctl migrate's pass over messages queued by an older MSS, whose
 * files are under the master key's "mssqueue" subkey (queue schema step 4): each is
 * written again under a key of its own, sealed to the queue's public key, so that the
 * old key opens nothing any more.
 *
 * Per message: the new file is written beside the old one (<qid>.reseal, durable),
 * the row gets its sealed key in a transaction that checks it had none, then the new
 * file replaces the old. A crash before the commit leaves the old form whole (the next
 * migrate redoes it); one after the commit leaves <qid>.reseal, which the next migrate
 * moves into place before anything else. */
#include "queue/queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/str.h"
#include "queue/queue_int.h"
#include "store/store_sql.h"

/* The ids of the messages with (sealed) or without a sealed key. */
static int ids_of(struct store *st, bool sealed, char (**ids)[QUEUE_ID_SIZE], size_t *n, char *err,
                  size_t errlen)
{
	struct sql_stmt *q = sql_query(store_sql(st), "queue reseal",
	                               sealed ? "SELECT qid FROM queue_messages WHERE sealed_key IS NOT NULL"
	                                      : "SELECT qid FROM queue_messages WHERE sealed_key IS NULL",
	                               SQL_NOARGS, err, errlen);
	int r;

	*ids = NULL;
	*n = 0;
	if (q == NULL)
		return -1;
	while ((r = sql_next(q, err, errlen)) == 1) {
		*ids = realloc(*ids, (*n + 1) * sizeof **ids);
		if (*ids == NULL)
			abort();
		if (sql_text_copy(q, 0, (*ids)[*n], QUEUE_ID_SIZE) != 0)
			continue; /* never written by queue_put: left alone */
		(*n)++;
	}
	sql_done(q);
	return r < 0 ? -1 : 0;
}

/* Moves path.reseal over path when a committed reseal left it there. */
static int finish(const char *path, char *err, size_t errlen)
{
	char tmp[CONFIG_PATH_MAX + 80];

	if (str_format(tmp, sizeof tmp, "%s.reseal", path) < 0) {
		str_error(err, errlen, "queue file path too long");
		return -1;
	}
	if (rename(tmp, path) < 0) {
		if (errno == ENOENT)
			return 0;
		str_error(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (crypto_fsync_dir_of(path) < 0) {
		str_error(err, errlen, "%s: fsync failed", path);
		return -1;
	}
	return 0;
}

/* One message of the old form: returns 1 resealed, 0 gone meanwhile, -1. */
static int reseal_one(struct store *st, const char *qid, const unsigned char old[CRYPTO_KEY_LEN],
                      const unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64], tmp[CONFIG_PATH_MAX + 80];
	unsigned char key[CRYPTO_KEY_LEN], sealed[CRYPTO_SEALED_KEY_LEN];
	struct buf data;
	int rc;

	if (queue_file_path(st, qid, path, sizeof path) < 0 ||
	    str_format(tmp, sizeof tmp, "%s.reseal", path) < 0) {
		str_error(err, errlen, "queue file path too long");
		return -1;
	}
	buf_init(&data, BUF_UNLIMITED);
	if (crypto_blob_read(path, old, &data, err, errlen) < 0) {
		buf_free(&data);
		return -1;
	}
	crypto_key_generate(key);
	rc = crypto_key_seal(pk, key, sealed);
	if (rc < 0)
		str_error(err, errlen, "the queue's public key is not usable");
	else
		rc = crypto_blob_write_file(tmp, key, data.data, data.len, err, errlen);
	crypto_key_wipe(key);
	sodium_memzero(data.data, data.len);
	buf_free(&data);
	if (rc < 0)
		return -1;
	rc = sql_exec(store_sql(st), "queue reseal",
	              "UPDATE queue_messages SET sealed_key = ?2 WHERE qid = ?1 AND sealed_key IS NULL",
	              SQL_ARGS(SQL_TEXT(qid), SQL_BLOB(sealed, sizeof sealed)), err, errlen);
	if (rc <= 0) { /* an error, or the message left the queue meanwhile */
		unlink(tmp);
		return rc;
	}
	return finish(path, err, errlen) < 0 ? -1 : 1;
}

int queue_reseal_all(struct store *st, size_t *resealed, char *err, size_t errlen)
{
	char(*ids)[QUEUE_ID_SIZE] = NULL;
	char path[CONFIG_PATH_MAX + 64];
	unsigned char old[CRYPTO_KEY_LEN], pk[CRYPTO_PUBLIC_KEY_LEN];
	size_t n = 0;
	int rc = 0;

	*resealed = 0;
	/* first what an interrupted migrate committed but did not move into place */
	if (ids_of(st, true, &ids, &n, err, errlen) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (queue_file_path(st, ids[i], path, sizeof path) < 0 || finish(path, err, errlen) < 0)
			rc = -1;
	free(ids);
	if (rc < 0 || ids_of(st, false, &ids, &n, err, errlen) < 0)
		return -1;
	if (n > 0 &&
	    (queue_old_key(st, old, err, errlen) < 0 || store_queue_public_key(st, pk, err, errlen) < 0))
		rc = -1;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		int r = reseal_one(st, ids[i], old, pk, err, errlen);
		if (r < 0)
			rc = -1;
		else
			*resealed += (size_t)r;
	}
	sodium_memzero(old, sizeof old);
	free(ids);
	return rc;
}
