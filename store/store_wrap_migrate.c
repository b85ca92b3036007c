/* store_wrap_migrate.c: mssctl migrate's rewrite of the account keys an older MSS
 * wrapped in the first format (secretbox, bound to no account) into the account-bound
 * one (see store.h, store_wraps_bind). */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/crypto.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

struct old_wrap {
	int64_t id;
	char address[256];
	char wrapped[CRYPTO_WRAPPED_HEX_LEN + 8];
};

struct old_wraps {
	struct old_wrap *v;
	size_t n;
	bool too_long;
};

static int collect(void *arg, struct sql_stmt *q)
{
	struct old_wraps *l = arg;
	struct old_wrap *w;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	w = &l->v[l->n++];
	w->id = sql_int(q, 0);
	if (sql_text_copy(q, 1, w->address, sizeof(w->address)) != 0 ||
	    sql_text_copy(q, 2, w->wrapped, sizeof(w->wrapped)) != 0)
		l->too_long = true;
	return 0;
}

static int bind_one(struct store *st, const struct old_wrap *w, char *err, size_t errlen)
{
	unsigned char key[CRYPTO_KEY_LEN];
	char wrapped[CRYPTO_WRAPPED_HEX_LEN];
	int rc;

	if (!st->has_master) /* mssctl as the daemons' user: its agent rewrites it */
		rc = store_keyring_rewrap(st, w->address, w->wrapped, wrapped, err, errlen);
	else if (crypto_key_unwrap_v1(st->master, w->wrapped, key) < 0)
		rc = -1;
	else {
		rc = crypto_key_wrap(st->master, key, w->address, wrapped);
		crypto_key_wipe(key);
	}
	if (rc < 0) {
		str_error(err, errlen,
		          "the key of account %s does not unwrap (altered, or another master key): nothing "
		          "rewritten",
		          w->address);
		return -1;
	}
	return sql_exec(st->sql, "store.wrap_bind", "UPDATE store_users SET wrapped_key = ?2 WHERE id = ?1",
	                SQL_ARGS(SQL_INT(w->id), SQL_TEXT(wrapped)), err, errlen) < 0
	           ? -1
	           : 0;
}

int store_wraps_bind(struct store *st, size_t *bound, char *err, size_t errlen)
{
	struct store_txn t;
	struct old_wraps l = {0};
	int rc;

	*bound = 0;
	if (!st->has_master && !st->use_keyring) {
		str_error(err, errlen, "rewriting wrapped keys needs the master key (run mssctl as root)");
		return -1;
	}
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	rc = sql_foreach(st->sql, "store.wrap_old",
	                 "SELECT id, address, wrapped_key FROM store_users WHERE wrapped_key NOT LIKE 'v2.%'"
	                 " ORDER BY id",
	                 SQL_NOARGS, collect, &l, err, errlen) < 0
	         ? -1
	         : 0;
	if (rc == 0 && l.too_long) {
		str_error(err, errlen, "a wrapped key or address too long: the table was altered");
		rc = -1;
	}
	for (size_t i = 0; i < l.n && rc == 0; i++)
		rc = bind_one(st, &l.v[i], err, errlen);
	rc = store_txn_end(st, &t, rc, err, errlen);
	if (rc == 0)
		*bound = l.n;
	if (l.v != NULL)
		sodium_memzero(l.v, l.n * sizeof(*l.v));
	free(l.v);
	return rc;
}
