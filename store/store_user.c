/* store_user.c: the store side of an account: its key and default mailboxes. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/crypto.h"
#include "lib/sql.h"
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

/* Addresses are kept lowercase, so that the lookup is a plain comparison on any
 * engine (and uses the index). */
static int lower_address(const char *address, char out[256])
{
	if (str_copy(out, 256, address) != 0)
		return -1;
	str_lower(out);
	return 0;
}

int store_user_id(struct store *st, const char *address, int64_t *user_id, char *err, size_t errlen)
{
	char key[256];
	if (lower_address(address, key) != 0)
		return 0;
	return sql_one(st->sql, "store.user", "SELECT id FROM store_users WHERE address = ?1",
	               SQL_ARGS(SQL_TEXT(key)), user_id, err, errlen);
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
	char wrapped[CRYPTO_WRAPPED_HEX_LEN], public_hex[2 * CRYPTO_PUBLIC_KEY_LEN + 1], addr[256];

	int rc;
	if (lower_address(address, addr) != 0) {
		str_error(err, errlen, "address too long");
		return -1;
	}
	if (!st->has_master && st->use_keyring) { /* a session process: the agent makes it */
		rc = store_keyring_new_key(st, addr, wrapped, public_hex, sizeof public_hex, err, errlen);
	} else if (!st->has_master) {
		str_error(err, errlen, "no master key in this process");
		return -1;
	} else {
		crypto_key_generate(key);
		/* the key pair's public half, for write-only delivery (store_msgkey.c) */
		rc = crypto_key_wrap(st->master, key, addr, wrapped) < 0 ||
		             store_public_key_hex(key, public_hex, sizeof public_hex) < 0
		         ? -1
		         : 0;
		crypto_key_wipe(key);
	}
	if (rc < 0) {
		str_error(err, errlen, "cannot wrap the account key");
		return -1;
	}
	return sql_one(st->sql, "store.user_insert",
	               "INSERT INTO store_users (address, wrapped_key, created, public_key) VALUES (?1, ?2, "
	               "?3, ?4)"
	               " RETURNING id",
	               SQL_ARGS(SQL_TEXT(addr), SQL_TEXT(wrapped), SQL_INT(time(NULL)), SQL_TEXT(public_hex)),
	               user_id, err, errlen) == 1
	           ? 0
	           : -1;
}

static int user_create_locked(struct store *st, const char *address, char *err, size_t errlen)
{
	int64_t user_id;
	int rc = store_user_id(st, address, &user_id, err, errlen);
	if (rc != 0) {
		if (rc == 1)
			str_error(err, errlen, "the account already has mailboxes");
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
		str_error(err, errlen, "not a mail address");
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
	char wrapped[CRYPTO_WRAPPED_HEX_LEN + 8], address[256];
	struct sql_stmt *q =
	    sql_query(st->sql, "store.user_key", "SELECT wrapped_key, address FROM store_users WHERE id = ?1",
	              SQL_ARGS(SQL_INT(user_id)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1 && (sql_text_copy(q, 0, wrapped, sizeof(wrapped)) != 0 ||
	                sql_text_copy(q, 1, address, sizeof(address)) != 0))
		rc = 0;
	sql_done(q);
	if (rc != 1) {
		if (rc == 0)
			str_error(err, errlen, "account key missing");
		return -1;
	}
	/* the address read with the key: a key swapped into another account's row does
	 * not unwrap (it is bound to its own) */
	if (!st->has_master && st->use_keyring) { /* a session process: the agent unwraps */
		if (store_keyring_unwrap(st, address, wrapped, key, err, errlen) < 0)
			return -1;
	} else if (!st->has_master || crypto_key_unwrap(st->master, wrapped, address, key) < 0) {
		str_error(
		    err, errlen,
		    "account key cannot be unwrapped (altered, another account's, not migrated by mssctl "
		    "migrate, or wrong master key)");
		return -1;
	}
	st->keys = xrealloc(st->keys, (st->nkeys + 1) * sizeof(*st->keys));
	memset(&st->keys[st->nkeys], 0, sizeof(*st->keys));
	st->keys[st->nkeys].user_id = user_id;
	memcpy(st->keys[st->nkeys].key, key, CRYPTO_KEY_LEN);
	st->nkeys++;
	return 0;
}

int store_user_pair(struct store *st, int64_t user_id, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN],
                    unsigned char sk[CRYPTO_SECRET_KEY_LEN], char *err, size_t errlen)
{
	unsigned char key[CRYPTO_KEY_LEN];
	if (store_user_key(st, user_id, key, err, errlen) < 0) /* cached from here on */
		return -1;
	sodium_memzero(key, sizeof key);
	for (size_t i = 0; i < st->nkeys; i++) {
		struct store_key *k = &st->keys[i];
		if (k->user_id != user_id)
			continue;
		if (!k->has_pair) /* one X25519 base multiplication per account and process */
			crypto_keypair_derive(k->key, k->pk, k->sk);
		k->has_pair = true;
		memcpy(pk, k->pk, CRYPTO_PUBLIC_KEY_LEN);
		memcpy(sk, k->sk, CRYPTO_SECRET_KEY_LEN);
		return 0;
	}
	str_error(err, errlen, "account key not cached");
	return -1;
}

/* Strictly increasing across the whole store, so a mailbox deleted and created again
 * under the same name never reuses a UIDVALIDITY (RFC 9051 2.3.1.1). */
int store_next_uidvalidity(struct store *st, uint32_t *out, char *err, size_t errlen)
{
	int64_t last = 0;
	if (sql_lock(st->sql, "store.uidvalidity", err, errlen) < 0 ||
	    sql_one(st->sql, "store.uidvalidity",
	            "SELECT value FROM store_counters WHERE name = 'uidvalidity'", SQL_NOARGS, &last, err,
	            errlen) < 0)
		return -1;
	int64_t next = (int64_t)time(NULL);
	if (next <= last)
		next = last + 1;
	if (next > (int64_t)UINT32_MAX)
		next = 1; /* not before 2106 */
	if (sql_exec(st->sql, "store.uidvalidity",
	             "INSERT INTO store_counters (name, value) VALUES ('uidvalidity', ?1)"
	             " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
	             SQL_ARGS(SQL_INT(next)), err, errlen) < 0)
		return -1;
	*out = (uint32_t)next;
	return 0;
}
