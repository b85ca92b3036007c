/* tls_openssl_scache.c: OpenSSL's server-side session cache on the shared table of
 * tls_scache.h (sessions kept for smtp_tls_ticket_lifetime, tls.h).
 *
 * A TLS 1.3 ticket then names a session kept in the table (OpenSSL's stateful tickets,
 * SSL_OP_NO_TICKET with num_tickets 1; a TLS 1.2 client gets a session id): issuing one
 * encodes the session once, where a stateless ticket made OpenSSL 3.0 encode it, decode
 * it again (the peer's certificate with it) and encode the copy; resuming decodes it
 * once, as reading a stateless ticket did. Every resumption still gets a fresh ticket
 * (OpenSSL sets ticket_expected on a stateful resumption), and a ticket may be used
 * again until it expires, as a stateless one could: not reusing it is the client's
 * choice (RFC 8446 C.4). The table lives as long as the SSL_CTX: a new context (SIGHUP)
 * starts with an empty one, as it started with a new ticket key. */
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "lib/tls_openssl_int.h"
#include "lib/tls_scache.h"

static void table_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	tls_scache_free(ptr);
}

static int table_index(void)
{
	static int idx = -1;
	if (idx < 0)
		idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, table_free);
	return idx;
}

static struct tls_scache *table_of(const SSL_CTX *c)
{
	int idx = table_index();
	return idx >= 0 ? SSL_CTX_get_ex_data(c, idx) : NULL;
}

/* OpenSSL hands over a session it made (a full handshake, or the new ticket of a
 * resumption): kept, encoded, until it expires. */
static int session_new(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_scache *t = table_of(SSL_get_SSL_CTX(ssl));
	unsigned char der[TLS_SCACHE_DER_MAX];
	unsigned int id_len = 0;
	const unsigned char *id = SSL_SESSION_get_id(sess, &id_len);
	int len = i2d_SSL_SESSION(sess, NULL);

	if (t != NULL && len > 0 && (size_t)len <= sizeof der) {
		unsigned char *p = der;
		time_t expires = (time_t)SSL_SESSION_get_time(sess) + (time_t)SSL_SESSION_get_timeout(sess);
		if (i2d_SSL_SESSION(sess, &p) == len)
			(void)tls_scache_put(t, id, id_len, time(NULL), expires, der, (size_t)len);
		OPENSSL_cleanse(der, (size_t)len);
	}
	ERR_clear_error();
	return 0; /* OpenSSL keeps its own reference */
}

static SSL_SESSION *session_get(SSL *ssl, const unsigned char *id, int id_len, int *copy)
{
	struct tls_scache *t = table_of(SSL_get_SSL_CTX(ssl));
	unsigned char der[TLS_SCACHE_DER_MAX];
	SSL_SESSION *sess = NULL;
	ssize_t n = id_len > 0 ? tls_scache_get(t, id, (size_t)id_len, time(NULL), der, sizeof der) : -1;

	*copy = 0; /* the reference returned is OpenSSL's */
	if (n > 0) {
		const unsigned char *p = der;
		sess = d2i_SSL_SESSION(NULL, &p, (long)n);
		OPENSSL_cleanse(der, (size_t)n);
	}
	ERR_clear_error();
	return sess;
}

static void session_remove(SSL_CTX *c, SSL_SESSION *sess)
{
	unsigned int id_len = 0;
	const unsigned char *id = SSL_SESSION_get_id(sess, &id_len);

	tls_scache_del(table_of(c), id, id_len);
}

int tls_ossl_scache_on(SSL_CTX *c, unsigned slots)
{
	struct tls_scache *t = table_of(c);

	if (t == NULL) {
		int idx = table_index();
		if (idx < 0 || (t = tls_scache_new(slots)) == NULL)
			return -1;
		if (SSL_CTX_set_ex_data(c, idx, t) != 1) {
			tls_scache_free(t);
			return -1;
		}
	}
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET); /* with TLS 1.3: tickets that name a kept session */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL |
	                                      SSL_SESS_CACHE_NO_AUTO_CLEAR);
	SSL_CTX_sess_set_new_cb(c, session_new);
	SSL_CTX_sess_set_get_cb(c, session_get);
	SSL_CTX_sess_set_remove_cb(c, session_remove);
	return 0;
}

void tls_ossl_scache_off(SSL_CTX *c)
{
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_sess_set_new_cb(c, NULL);
	SSL_CTX_sess_set_get_cb(c, NULL);
	SSL_CTX_sess_set_remove_cb(c, NULL);
	tls_scache_clear(table_of(c));
}

bool tls_ossl_scache_clear(SSL_CTX *c)
{
	struct tls_scache *t = table_of(c);

	tls_scache_clear(t);
	return t != NULL;
}
