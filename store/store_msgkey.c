/* store_msgkey.c: the key each message is under (issue 12, write-only delivery;
 * doc/architecture.md "Who can decrypt").
 *
 * A message written since store migration 8 has a fresh random key of its own: its
 * blob is encrypted under it and its sealed metadata under a subkey of it
 * (store_meta.c), and the key is kept in its blobs row sealed to the owner's public key
 * (crypto_box_seal). Writing therefore needs the recipient's public key only: the
 * processes that deliver (mss-smtpd, the relay's bounces, vault notices, mssctl
 * import) never hold an account's secret. Reading opens the sealed key with the
 * account's secret key, derived from the account key (crypto_keypair_derive), which
 * only the master key unwraps. A blob written before (sealed_key NULL) is under the
 * account key itself, read as before. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/mss_limits.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

#define PUBLIC_HEX_LEN (2 * CRYPTO_PUBLIC_KEY_LEN + 1)

int store_keyref_read(struct sql_stmt *q, int user_col, int sealed_col, int blob_col, struct store_keyref *r,
                      char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	r->user_id = sql_int(q, user_col);
	r->blob_id = sql_int(q, blob_col);
	if (sql_is_null(q, sealed_col))
		return 0; /* written before migration 8: the account key itself */
	size_t n = 0;
	const void *p = sql_blob(q, sealed_col, &n);
	if (p == NULL || n != CRYPTO_SEALED_KEY_LEN) {
		str_error(err, errlen, "message key damaged");
		return -1;
	}
	memcpy(r->sealed, p, n);
	r->has_sealed = true;
	return 0;
}

/* The public key column's text (NULL: none yet) into pk. Returns 0 or -1. */
static int public_key_parse(const char *hex, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], char *err,
                            size_t errlen)
{
	size_t n = 0;
	if (hex == NULL) {
		str_error(err, errlen, "account has no key pair (run mssctl migrate)");
		return -1;
	}
	if (strlen(hex) >= PUBLIC_HEX_LEN + 8 ||
	    sodium_hex2bin(pk, CRYPTO_PUBLIC_KEY_LEN, hex, strlen(hex), NULL, &n, NULL) != 0 ||
	    n != CRYPTO_PUBLIC_KEY_LEN) {
		str_error(err, errlen, "account public key damaged");
		return -1;
	}
	return 0;
}

int store_public_key(struct store *st, int64_t user_id, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], char *err,
                     size_t errlen)
{
	struct sql_stmt *q =
	    sql_query(st->sql, "store.public_key", "SELECT public_key FROM store_users WHERE id = ?1",
	              SQL_ARGS(SQL_INT(user_id)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 0)
		str_error(err, errlen, "account has no key pair (run mssctl migrate)");
	if (rc == 1)
		rc = public_key_parse(sql_is_null(q, 0) ? NULL : sql_text(q, 0), pk, err, errlen) == 0 ? 1
		                                                                                       : -1;
	sql_done(q);
	return rc == 1 ? 0 : -1;
}

int store_msgkey_for(struct store *st, const char *address, int64_t *user_id, struct store_msgkey *mk,
                     char *err, size_t errlen)
{
	unsigned char pk[CRYPTO_PUBLIC_KEY_LEN];
	char key[MSS_ADDRESS_SIZE];
	if (str_copy(key, sizeof key, address) != 0)
		return 0; /* no account has so long an address */
	str_lower(key);   /* kept lowercase (store_user.c) */
	/* the account and its public key in one statement: a delivery's one store lookup */
	struct sql_stmt *q = sql_query(st->sql, "store.user_public_key",
	                               "SELECT id, public_key FROM store_users WHERE address = ?1",
	                               SQL_ARGS(SQL_TEXT(key)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1) {
		*user_id = sql_int(q, 0);
		rc = public_key_parse(sql_is_null(q, 1) ? NULL : sql_text(q, 1), pk, err, errlen) == 0 ? 1
		                                                                                       : -1;
	}
	sql_done(q);
	if (rc != 1)
		return rc;
	return store_msgkey_seal(pk, mk, err, errlen) == 0 ? 1 : -1;
}

int store_msgkey_new(struct store *st, int64_t user_id, struct store_msgkey *mk, char *err, size_t errlen)
{
	unsigned char pk[CRYPTO_PUBLIC_KEY_LEN];
	if (store_public_key(st, user_id, pk, err, errlen) < 0)
		return -1;
	return store_msgkey_seal(pk, mk, err, errlen);
}

int store_msgkey_seal(const unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], struct store_msgkey *mk, char *err,
                      size_t errlen)
{
	crypto_key_generate(mk->key);
	if (crypto_key_seal(pk, mk->key, mk->sealed) < 0) {
		store_msgkey_wipe(mk);
		str_error(err, errlen, "account public key unusable");
		return -1;
	}
	return 0;
}

void store_msgkey_wipe(struct store_msgkey *mk)
{
	sodium_memzero(mk, sizeof *mk);
}

int store_content_key(struct store *st, const struct store_keyref *r, unsigned char key[CRYPTO_KEY_LEN],
                      char *err, size_t errlen)
{
	if (r->has_open) {
		memcpy(key, r->open_key, CRYPTO_KEY_LEN);
		return 0;
	}
	/* a session reads another account's message with its own row, never the owner's key */
	if (st->reader_id != 0 && r->user_id != st->reader_id)
		return store_reader_key(st, r, key, err, errlen);
	return store_owner_content_key(st, r, key, err, errlen);
}

int store_owner_content_key(struct store *st, const struct store_keyref *r, unsigned char key[CRYPTO_KEY_LEN],
                            char *err, size_t errlen)
{
	unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], sk[CRYPTO_SECRET_KEY_LEN];
	if (!r->has_sealed)
		return store_user_key(st, r->user_id, key, err, errlen);
	if (store_user_pair(st, r->user_id, pk, sk, err, errlen) < 0)
		return -1;
	int rc = crypto_key_seal_open(pk, sk, r->sealed, sizeof r->sealed, key);
	sodium_memzero(sk, sizeof sk);
	if (rc < 0)
		str_error(err, errlen, "message key cannot be opened (altered, or another account's)");
	return rc;
}

int store_public_key_hex(const unsigned char account[CRYPTO_KEY_LEN], char *out, size_t outlen)
{
	unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], sk[CRYPTO_SECRET_KEY_LEN];
	if (outlen < PUBLIC_HEX_LEN)
		return -1;
	crypto_keypair_derive(account, pk, sk);
	sodium_memzero(sk, sizeof sk);
	sodium_bin2hex(out, outlen, pk, sizeof pk);
	return 0;
}

/* Every account made before migration 8 gets its public key, in one transaction. */
static int fill_one(struct store *st, int64_t user_id, char *err, size_t errlen)
{
	unsigned char account[CRYPTO_KEY_LEN];
	char hex[PUBLIC_HEX_LEN];
	if (store_user_key(st, user_id, account, err, errlen) < 0)
		return -1;
	int rc = store_public_key_hex(account, hex, sizeof hex);
	sodium_memzero(account, sizeof account);
	if (rc == 0 &&
	    sql_exec(st->sql, "store.public_key_set", "UPDATE store_users SET public_key = ?2 WHERE id = ?1",
	             SQL_ARGS(SQL_INT(user_id), SQL_TEXT(hex)), err, errlen) < 0)
		rc = -1;
	return rc;
}

struct id_list {
	int64_t *v;
	size_t n;
};

static int collect_id(void *arg, struct sql_stmt *q)
{
	struct id_list *l = arg;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = sql_int(q, 0);
	return 0;
}

int store_keypairs_fill(struct store *st, size_t *filled, char *err, size_t errlen)
{
	struct store_txn t;
	struct id_list ids = {0};
	*filled = 0;
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = sql_foreach(st->sql, "store.public_key_missing",
	                     "SELECT id FROM store_users WHERE public_key IS NULL ORDER BY id", SQL_NOARGS,
	                     collect_id, &ids, err, errlen) < 0
	             ? -1
	             : 0;
	for (size_t i = 0; i < ids.n && rc == 0; i++)
		rc = fill_one(st, ids.v[i], err, errlen);
	rc = store_txn_end(st, &t, rc, err, errlen);
	if (rc == 0)
		*filled = ids.n;
	free(ids.v);
	return rc;
}
