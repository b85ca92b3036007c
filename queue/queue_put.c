/* queue_put.c: a message enters the queue (queue.h): the encrypted file first,
 * fsynced, then the rows in one transaction, so that a committed row always names a
 * durable file (a crash between the two leaves only an orphan file, never a row
 * without its message). The file's key is the message's own, kept sealed to the
 * queue's public key: a process that queues can read back nothing it did not write. */
#include "queue/queue.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/str.h"
#include "queue/queue_int.h"
#include "store/store_sql.h"

int queue_old_key(struct store *st, unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
	return store_service_key(st, "mssqueue", key, err, errlen);
}

int queue_file_path(struct store *st, const char *qid, char *out, size_t outlen)
{
	char dir[CONFIG_PATH_MAX];
	if (config_blob_dir(store_config(st), dir, sizeof dir) < 0)
		return -1;
	return str_format(out, outlen, "%s/queue/%s", dir, qid);
}

int queue_dir_make(struct store *st, char *err, size_t errlen)
{
	char dir[CONFIG_PATH_MAX + 8], base[CONFIG_PATH_MAX];
	if (config_blob_dir(store_config(st), base, sizeof base) < 0 ||
	    str_format(dir, sizeof dir, "%s/queue", base) < 0) {
		str_error(err, errlen, "queue directory path too long");
		return -1;
	}
	errno = 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		str_error(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	/* the new directory's entry is durable before a file in it is acknowledged */
	if (errno != EEXIST && crypto_fsync_dir_of(dir) < 0) {
		str_error(err, errlen, "%s: fsync failed", base);
		return -1;
	}
	return 0;
}

bool queue_id_valid(const char *qid)
{
	size_t n = strlen(qid);
	return n > 0 && n < QUEUE_ID_SIZE &&
	       strspn(qid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == n;
}

struct put_txn {
	struct store *st;
	const struct queue_put *m;
	const struct queue_hook *hook;
	const unsigned char *sealed; /* CRYPTO_SEALED_KEY_LEN: the file's key sealed */
};

static int put_rows(void *arg, char *err, size_t errlen)
{
	const struct put_txn *t = arg;
	const struct queue_put *m = t->m;
	struct sql *db = store_sql(t->st);
	if (sql_exec(db, "queue message",
	             "INSERT INTO queue_messages(qid, mail_from, account, size, created, flags, dsn_ret, "
	             "dsn_envid, sealed_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	             SQL_ARGS(SQL_TEXT(m->qid), SQL_TEXT(m->mail_from), SQL_TEXT(m->account), SQL_INT(m->len),
	                      SQL_INT(m->now), SQL_INT(m->flags), SQL_INT(m->dsn ? (int64_t)m->dsn->ret : 0),
	                      SQL_TEXT(m->dsn ? m->dsn->envid : ""),
	                      SQL_BLOB(t->sealed, CRYPTO_SEALED_KEY_LEN)),
	             err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct dsn_rcpt *d = m->rcpt_dsn ? &m->rcpt_dsn[i] : NULL;
		if (sql_exec(
		        db, "queue recipient",
		        "INSERT INTO queue_rcpts(qid, rcpt, domain, next_attempt, dsn_notify, dsn_orcpt) "
		        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (qid, rcpt) DO NOTHING",
		        SQL_ARGS(SQL_TEXT(m->qid), SQL_TEXT(m->rcpts[i]),
		                 SQL_TEXT(str_address_domain(m->rcpts[i])), SQL_INT(m->now),
		                 SQL_INT(d ? (int64_t)d->notify : 0), SQL_TEXT(d ? d->orcpt : "")),
		        err, errlen) < 0)
			return -1;
	}
	if (t->hook != NULL && t->hook->fn(t->hook->arg, err, errlen) != 0)
		return -1;
	return 0;
}

/* Inside the caller's write transaction (a vault filing's report, vault_file.c): the rows
 * in a savepoint of it, durable with the caller's commit; a BEGIN there would fail. */
static int put_nested(struct put_txn *t, char *err, size_t errlen)
{
	struct sql *db = store_sql(t->st);
	char why[256];
	if (sql_savepoint(db, "queue_put", err, errlen) != 0)
		return -1;
	int rc = put_rows(t, err, errlen);
	if (sql_release(db, "queue_put", rc == 0, why, sizeof why) < 0 && rc == 0) {
		str_error(err, errlen, "%s", why);
		rc = -1;
	}
	return rc;
}

int queue_put(struct store *st, const struct queue_put *m, const struct queue_hook *hook, char *err,
              size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	unsigned char key[CRYPTO_KEY_LEN], pk[CRYPTO_PUBLIC_KEY_LEN], sealed[CRYPTO_SEALED_KEY_LEN];
	if (!queue_id_valid(m->qid) || m->nrcpt == 0) {
		str_error(err, errlen, "bad queue id or no recipient");
		return -1;
	}
	if (queue_file_path(st, m->qid, path, sizeof path) < 0) {
		str_error(err, errlen, "queue file path too long");
		return -1;
	}
	if (queue_dir_make(st, err, errlen) < 0 || store_queue_public_key(st, pk, err, errlen) < 0)
		return -1;
	crypto_key_generate(key);
	int rc = crypto_key_seal(pk, key, sealed);
	if (rc < 0)
		str_error(err, errlen, "the queue's public key is not usable");
	else
		rc = crypto_blob_write_file(path, key, m->data, m->len, err, errlen);
	crypto_key_wipe(key);
	if (rc < 0)
		return -1;
	struct put_txn t = {.st = st, .m = m, .hook = hook, .sealed = sealed};
	rc = sql_in_transaction(store_sql(st)) ? put_nested(&t, err, errlen)
	                                       : sql_transaction(store_sql(st), put_rows, &t, err, errlen);
	/* A commit lost with the connection may have taken effect: keep the file then (an
	 * orphan file is harmless; a row without its file would lose the message). */
	if (rc != 0 && sql_last_error(store_sql(st)) != SQL_ERR_CONNECTION)
		unlink(path);
	if (rc == 0)
		store_queue_notify(st); /* the queue process sends it now, not at its next look */
	return rc == 0 ? 0 : -1;
}
