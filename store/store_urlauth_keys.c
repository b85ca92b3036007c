/* store_urlauth_keys.c: URLAUTH across accounts (RFC 4467: the URL is the capability).
 *
 * A URL's token is an HMAC under a key derived from its owner's account key
 * (store_urlauth.c), which another account's session never holds (issue 12). So when
 * the owner's session signs a URL it also leaves, for that URL, the message key
 * wrapped (XChaCha20-Poly1305) under a key derived from the whole authorized URL, in a
 * row found by another digest of that URL. Whoever presents the exact URL finds the
 * row and opens the message key, and nothing else: a URL changed in any octet (access,
 * section, token) finds no row, and the row alone (a database read) opens nothing
 * without the URL's 256-bit token. The associated data binds the row to its mailbox,
 * UID, key generation and access. Rows go with the message (ON DELETE CASCADE) and
 * with RESETKEY. A message of the old form (under the account key itself, before
 * store migration 8) gets no row: wrapping the account key would hand it out. */
#include "store/store.h"

#include <sodium.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

#define URL_ID_LEN 32
#define WRAPPED_LEN                                                                                          \
	(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + CRYPTO_KEY_LEN +                                     \
	 crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define AD_MAX (3 * 8 + STORE_URLAUTH_ACCESS_MAX)

/* The row's id and the wrapping key, both from the authorized URL (rump, ":internal:",
 * token): BLAKE2b keyed by a domain string, then two KDF subkeys. */
static void url_keys(const struct store_urlauth_url *u, unsigned char id[URL_ID_LEN],
                     unsigned char wrap[crypto_aead_xchacha20poly1305_ietf_KEYBYTES])
{
	static const char domain[] = "mss urlauth url v1";
	unsigned char root[crypto_kdf_KEYBYTES];
	crypto_generichash_state h;
	crypto_generichash_init(&h, (const unsigned char *)domain, sizeof domain - 1, sizeof root);
	crypto_generichash_update(&h, (const unsigned char *)u->rump, u->rump_len);
	crypto_generichash_update(&h, (const unsigned char *)":internal:", 10);
	crypto_generichash_update(&h, (const unsigned char *)u->token, strlen(u->token));
	crypto_generichash_final(&h, root, sizeof root);
	crypto_kdf_derive_from_key(id, URL_ID_LEN, 1, "urlauth_", root);
	crypto_kdf_derive_from_key(wrap, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, 2, "urlauth_", root);
	sodium_memzero(root, sizeof root);
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* mailbox id, UID, the mailbox's key generation, access. Returns its length, 0 when
 * the mailbox is gone, -1. */
static int assoc_data(struct store *st, const struct store_urlauth_url *u, unsigned char ad[AD_MAX],
                      char *err, size_t errlen)
{
	size_t alen = strlen(u->access);
	if (alen > STORE_URLAUTH_ACCESS_MAX)
		return 0; /* longer than any access a row was made for */
	int64_t generation = 0;
	int rc = sql_one(st->sql, "store.urlauth_generation",
	                 "SELECT urlauth_generation FROM mailboxes WHERE id = ?1",
	                 SQL_ARGS(SQL_INT(u->mailbox_id)), &generation, err, errlen);
	if (rc != 1)
		return rc;
	put64(ad, (uint64_t)u->mailbox_id);
	put64(ad + 8, u->uid);
	put64(ad + 16, (uint64_t)generation);
	memcpy(ad + 24, u->access, alen);
	return (int)(24 + alen);
}

/* The message's key as its owner opens it. Returns 1, 0 (no such message, or of the
 * old form), -1. */
static int message_key(struct store *st, const struct store_urlauth_url *u, unsigned char key[CRYPTO_KEY_LEN],
                       char *err, size_t errlen)
{
	struct store_keyref r;
	struct sql_stmt *q =
	    sql_query(st->sql, "store.urlauth_message",
	              "SELECT b.user_id, b.sealed_key, b.id FROM messages m JOIN blobs b ON b.id = "
	              "m.blob_id WHERE m.mailbox_id = ?1 AND m.uid = ?2",
	              SQL_ARGS(SQL_INT(u->mailbox_id), SQL_INT(u->uid)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1 && store_keyref_read(q, 0, 1, 2, &r, err, errlen) < 0)
		rc = -1;
	sql_done(q);
	if (rc != 1)
		return rc;
	if (!r.has_sealed)
		return 0; /* the old form: its key is the account key, never handed out */
	return store_content_key(st, &r, key, err, errlen) < 0 ? -1 : 1;
}

/* Whether the owner of mailbox_id holds max rows already: 1 yes, 0 no, -1. */
static int owner_full(struct store *st, int64_t mailbox_id, unsigned max, char *err, size_t errlen)
{
	int64_t n = 0;
	if (sql_one(st->sql, "store.urlauth_count",
	            "SELECT count(*) FROM urlauth_keys k JOIN mailboxes m ON m.id = k.mailbox_id"
	            " WHERE m.user_id = (SELECT user_id FROM mailboxes WHERE id = ?1)",
	            SQL_ARGS(SQL_INT(mailbox_id)), &n, err, errlen) < 0)
		return -1;
	return n >= (int64_t)max ? 1 : 0;
}

/* Seals key under the URL's wrapping key into out (nonce, then ciphertext). */
static void wrap_key(const unsigned char wrap[crypto_aead_xchacha20poly1305_ietf_KEYBYTES],
                     const unsigned char key[CRYPTO_KEY_LEN], const unsigned char *ad, size_t adlen,
                     unsigned char out[WRAPPED_LEN])
{
	randombytes_buf(out, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL,
	                                           key, CRYPTO_KEY_LEN, ad, adlen, NULL, out, wrap);
}

static int grant_in_txn(struct store *st, const struct store_urlauth_url *u, unsigned max,
                        const unsigned char id[URL_ID_LEN],
                        const unsigned char wrap[crypto_aead_xchacha20poly1305_ietf_KEYBYTES], char *err,
                        size_t errlen)
{
	unsigned char ad[AD_MAX], key[CRYPTO_KEY_LEN], out[WRAPPED_LEN];
	int64_t one = 0;
	int rc = sql_one(st->sql, "store.urlauth_exists", "SELECT 1 FROM urlauth_keys WHERE id = ?1",
	                 SQL_ARGS(SQL_BLOB(id, URL_ID_LEN)), &one, err, errlen);
	if (rc != 0) /* 1: signed again, the row is there already */
		return rc;
	int adlen = assoc_data(st, u, ad, err, errlen);
	if (adlen <= 0)
		return adlen;
	rc = owner_full(st, u->mailbox_id, max, err, errlen);
	if (rc != 0)
		return rc == 1 ? STORE_URLAUTH_FULL : -1;
	rc = message_key(st, u, key, err, errlen);
	if (rc != 1)
		return rc;
	wrap_key(wrap, key, ad, (size_t)adlen, out);
	sodium_memzero(key, sizeof key);
	return sql_exec(st->sql, "store.urlauth_grant",
	                "INSERT INTO urlauth_keys(id, mailbox_id, uid, wrapped) VALUES (?1, ?2, ?3, ?4)",
	                SQL_ARGS(SQL_BLOB(id, URL_ID_LEN), SQL_INT(u->mailbox_id), SQL_INT(u->uid),
	                         SQL_BLOB(out, sizeof out)),
	                err, errlen) < 0
	           ? -1
	           : 1;
}

int store_urlauth_grant(struct store *st, const struct store_urlauth_url *u, unsigned max, char *err,
                        size_t errlen)
{
	unsigned char id[URL_ID_LEN], wrap[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	struct store_txn t;
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	url_keys(u, id, wrap);
	int rc = grant_in_txn(st, u, max, id, wrap, err, errlen);
	sodium_memzero(wrap, sizeof wrap);
	if (store_txn_end(st, &t, rc < 0 ? -1 : 0, err, errlen) < 0)
		return -1;
	return rc;
}

int store_urlauth_open(struct store *st, const struct store_urlauth_url *u, struct store_body **out,
                       char *err, size_t errlen)
{
	unsigned char id[URL_ID_LEN], wrap[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char ad[AD_MAX], key[CRYPTO_KEY_LEN], wrapped[WRAPPED_LEN];
	*out = NULL;
	url_keys(u, id, wrap);
	struct sql_stmt *q = sql_query(
	    st->sql, "store.urlauth_open",
	    "SELECT wrapped FROM urlauth_keys WHERE id = ?1 AND mailbox_id = ?2 AND uid = ?3",
	    SQL_ARGS(SQL_BLOB(id, sizeof id), SQL_INT(u->mailbox_id), SQL_INT(u->uid)), err, errlen);
	int rc = q == NULL ? -1 : sql_next(q, err, errlen);
	if (rc == 1) {
		size_t n = 0;
		const void *p = sql_blob(q, 0, &n);
		if (p != NULL && n == sizeof wrapped)
			memcpy(wrapped, p, n);
		else
			rc = 0; /* damaged: opens nothing */
	}
	sql_done(q);
	int adlen = rc == 1 ? assoc_data(st, u, ad, err, errlen) : rc;
	rc = adlen <= 0 ? adlen : 1;
	if (rc == 1 && crypto_aead_xchacha20poly1305_ietf_decrypt(
	                   key, NULL, NULL, wrapped + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	                   sizeof wrapped - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad,
	                   (unsigned long long)adlen, wrapped, wrap) != 0)
		rc = 0; /* another mailbox, UID, generation or access than the row was made for */
	sodium_memzero(wrap, sizeof wrap);
	if (rc == 1)
		rc = store_body_open_key(st, u->mailbox_id, u->uid, key, out, err, errlen);
	sodium_memzero(key, sizeof key);
	return rc;
}
