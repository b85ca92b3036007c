/* store_urlauth.c: mailbox access keys for URLAUTH (RFC 4467 section 7, the INTERNAL
 * mechanism). A key is never stored: it is derived from the owner's key (the one that
 * encrypts their messages, itself wrapped by the master key), the mailbox id and the
 * mailbox's urlauth_generation, with keyed BLAKE2b; RESETKEY increments the generation,
 * which invalidates every URL made before. */
#include "store/store.h"

#include <sodium.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

int store_urlauth_key(struct store *st, const char *owner, const char *mailbox, struct store_mailbox *mb,
                      unsigned char key[STORE_URLAUTH_KEY_LEN], char *err, size_t errlen)
{
	int64_t user_id, generation = 0;
	int rc = store_user_id(st, owner, &user_id, err, errlen);
	if (rc == 1)
		rc = store_mailbox_get(st, owner, mailbox, mb, err, errlen);
	if (rc == 1)
		rc = sql_one(st->sql, "store.urlauth_generation",
		             "SELECT urlauth_generation FROM mailboxes WHERE id = ?1",
		             SQL_ARGS(SQL_INT(mb->id)), &generation, err, errlen);
	if (rc != 1)
		return rc;
	unsigned char owner_key[CRYPTO_KEY_LEN];
	if (store_user_key(st, user_id, owner_key, err, errlen) < 0)
		return -1;
	unsigned char msg[16 + 16] = "mss-urlauth-v1";
	put64(msg + 16, (uint64_t)mb->id);
	put64(msg + 24, (uint64_t)generation);
	crypto_generichash(key, STORE_URLAUTH_KEY_LEN, msg, sizeof(msg), owner_key, sizeof(owner_key));
	sodium_memzero(owner_key, sizeof(owner_key));
	return 1;
}

/* RESETKEY: the generation goes up (every URL's token changes) and the wrapped keys of
 * the URLs signed before go (store_urlauth_keys.c), in one transaction. */
static int reset_in_txn(struct store *st, int64_t user_id, const char *owner, const char *mailbox, char *err,
                        size_t errlen)
{
	if (mailbox == NULL)
		return sql_exec(st->sql, "store.urlauth_reset_all",
		                "UPDATE mailboxes SET urlauth_generation = urlauth_generation + 1 WHERE "
		                "user_id = ?1",
		                SQL_ARGS(SQL_INT(user_id)), err, errlen) < 0 ||
		               sql_exec(st->sql, "store.urlauth_drop_all",
		                        "DELETE FROM urlauth_keys WHERE mailbox_id IN (SELECT id FROM "
		                        "mailboxes WHERE "
		                        "user_id = ?1)",
		                        SQL_ARGS(SQL_INT(user_id)), err, errlen) < 0
		           ? -1
		           : 1;
	struct store_mailbox mb;
	int rc = store_mailbox_get(st, owner, mailbox, &mb, err, errlen);
	if (rc != 1)
		return rc;
	return sql_exec(st->sql, "store.urlauth_reset",
	                "UPDATE mailboxes SET urlauth_generation = urlauth_generation + 1 WHERE id = ?1",
	                SQL_ARGS(SQL_INT(mb.id)), err, errlen) < 0 ||
	               sql_exec(st->sql, "store.urlauth_drop",
	                        "DELETE FROM urlauth_keys WHERE mailbox_id = ?1", SQL_ARGS(SQL_INT(mb.id)),
	                        err, errlen) < 0
	           ? -1
	           : 1;
}

int store_urlauth_reset(struct store *st, const char *owner, const char *mailbox, char *err, size_t errlen)
{
	int64_t user_id;
	int rc = store_user_id(st, owner, &user_id, err, errlen);
	if (rc != 1)
		return rc;
	struct store_txn t;
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	rc = reset_in_txn(st, user_id, owner, mailbox, err, errlen);
	if (store_txn_end(st, &t, rc < 0 ? -1 : 0, err, errlen) < 0)
		return -1;
	return rc;
}
