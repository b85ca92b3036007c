/* store_user.c: the store side of an account: its key and default mailboxes. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/crypto.h"
#include "lib/db.h"
#include "lib/str.h"
#include "store/store_int.h"

static const struct {
	const char *name;
	unsigned special_use;
} default_mailboxes[] = {
    {"INBOX", STORE_SPECIAL_NONE},
    {"Sent", STORE_SPECIAL_SENT},
    {"Drafts", STORE_SPECIAL_DRAFTS},
    {"Trash", STORE_SPECIAL_TRASH},
};

int store_user_id(struct store *st, const char *address, int64_t *user_id, char *err, size_t errlen)
{
	sqlite3_stmt *q = db_prepare(st->db, "SELECT id FROM store_users WHERE address = ?", err, errlen);
	if (q == NULL)
		return -1;
	db_bind_text(q, 1, address);
	int rc = db_step(q);
	int ret = 0;
	if (rc == SQLITE_ROW) {
		*user_id = sqlite3_column_int64(q, 0);
		ret = 1;
	} else if (rc != SQLITE_DONE) {
		db_error(st->db, "store user", err, errlen);
		ret = -1;
	}
	sqlite3_finalize(q);
	return ret;
}

int store_user_exists(struct store *st, const char *address)
{
	char err[256];
	int64_t id;
	return store_user_id(st, address, &id, err, sizeof(err));
}

static int user_insert(struct store *st, const char *address, int64_t *user_id, char *err, size_t errlen)
{
	unsigned char key[CRYPTO_KEY_LEN];
	char wrapped[CRYPTO_WRAPPED_HEX_LEN];

	crypto_key_generate(key);
	int rc = crypto_key_wrap(st->master, key, wrapped);
	crypto_key_wipe(key);
	if (rc < 0) {
		str_format(err, errlen, "cannot wrap the account key");
		return -1;
	}
	sqlite3_stmt *q = db_prepare(
	    st->db, "INSERT INTO store_users(address, wrapped_key, created) VALUES(?, ?, ?)", err, errlen);
	if (q == NULL)
		return -1;
	db_bind_text(q, 1, address);
	db_bind_text(q, 2, wrapped);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)time(NULL));
	rc = db_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		db_error(st->db, "store user insert", err, errlen);
		return -1;
	}
	*user_id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

static int user_create_locked(struct store *st, const char *address, char *err, size_t errlen)
{
	int64_t user_id;
	int rc = store_user_id(st, address, &user_id, err, errlen);
	if (rc != 0) {
		if (rc == 1)
			str_format(err, errlen, "the account already has mailboxes");
		return rc;
	}
	if (user_insert(st, address, &user_id, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(default_mailboxes) / sizeof(default_mailboxes[0]); i++) {
		if (store_mailbox_create_locked(st, user_id, default_mailboxes[i].name,
		                                default_mailboxes[i].special_use, true, err, errlen) != 0)
			return -1;
	}
	return 0;
}

int store_user_create(struct store *st, const char *address, char *err, size_t errlen)
{
	struct store_txn t;
	if (!str_is_address(address)) {
		str_format(err, errlen, "not a mail address");
		return 1;
	}
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = user_create_locked(st, address, err, errlen);
	return store_txn_end(st, &t, rc, err, errlen);
}

int store_user_key(struct store *st, int64_t user_id, unsigned char key[CRYPTO_KEY_LEN], char *err,
                   size_t errlen)
{
	for (size_t i = 0; i < st->nkeys; i++) {
		if (st->keys[i].user_id == user_id) {
			memcpy(key, st->keys[i].key, CRYPTO_KEY_LEN);
			return 0;
		}
	}
	char wrapped[CRYPTO_WRAPPED_HEX_LEN + 8];
	sqlite3_stmt *q = db_prepare(st->db, "SELECT wrapped_key FROM store_users WHERE id = ?", err, errlen);
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, user_id);
	int rc = db_step(q);
	if (rc != SQLITE_ROW || db_column_copy(q, 0, wrapped, sizeof(wrapped)) < 0) {
		sqlite3_finalize(q);
		str_format(err, errlen, "account key missing");
		return -1;
	}
	sqlite3_finalize(q);
	if (crypto_key_unwrap(st->master, wrapped, key) < 0) {
		str_format(err, errlen, "account key cannot be unwrapped (altered, or wrong master key)");
		return -1;
	}
	st->keys = xrealloc(st->keys, (st->nkeys + 1) * sizeof(*st->keys));
	st->keys[st->nkeys].user_id = user_id;
	memcpy(st->keys[st->nkeys].key, key, CRYPTO_KEY_LEN);
	st->nkeys++;
	return 0;
}

/* Strictly increasing across the whole store, so a mailbox deleted and created again
 * under the same name never reuses a UIDVALIDITY (RFC 9051 2.3.1.1). */
int store_next_uidvalidity(struct store *st, uint32_t *out, char *err, size_t errlen)
{
	sqlite3_stmt *q =
	    db_prepare(st->db, "SELECT value FROM store_counters WHERE name = 'uidvalidity'", err, errlen);
	if (q == NULL)
		return -1;
	int64_t last = 0;
	if (db_step(q) == SQLITE_ROW)
		last = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	int64_t next = (int64_t)time(NULL);
	if (next <= last)
		next = last + 1;
	if (next > (int64_t)UINT32_MAX)
		next = 1; /* not before 2106 */
	q = db_prepare(st->db,
	               "INSERT INTO store_counters(name, value) VALUES('uidvalidity', ?)"
	               " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
	               err, errlen);
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, next);
	int rc = db_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		db_error(st->db, "uidvalidity", err, errlen);
		return -1;
	}
	*out = (uint32_t)next;
	return 0;
}
