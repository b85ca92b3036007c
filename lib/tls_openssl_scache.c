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

#include <openssl/asn1.h>
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

/* ---- a session's encoding with its peer certificate beside it -------------------- */

/* Where the peer certificate sits in OpenSSL's encoding of a session: the element
 * [3] EXPLICIT of the SEQUENCE SSL_SESSION_ASN1 (ssl/ssl_asn1.c, stable since 1.0). */
#define PEER_TAG 3

/* Copies the SEQUENCE der (len bytes) into out (cap bytes) without its element of
 * context tag PEER_TAG, walked with OpenSSL's own TLV reader: what d2i_SSL_SESSION
 * then decodes is the session without the certificate, whose key OpenSSL 3.0 decodes
 * through its provider decoders. Returns the length written, or -1 (not the expected
 * shape: the session is then not kept). */
static long without_peer(const unsigned char *der, long len, unsigned char *out, size_t cap)
{
	const unsigned char *p = der, *skip = NULL;
	long body = 0, skiplen = 0;
	int tag, xclass;

	if (ASN1_get_object(&p, &body, &tag, &xclass, len) != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
	    xclass != V_ASN1_UNIVERSAL || p + body != der + len)
		return -1;
	const unsigned char *start = p, *end = p + body;
	while (p < end) {
		const unsigned char *el = p;
		long elen = 0;
		int r = ASN1_get_object(&p, &elen, &tag, &xclass, end - p);
		if ((r & 0x80) || (r & 0x01)) /* malformed, or of indefinite length */
			return -1;
		p += elen;
		if (xclass == V_ASN1_CONTEXT_SPECIFIC && tag == PEER_TAG) {
			skip = el;
			skiplen = p - el;
		}
	}
	long kept = body - skiplen;
	int size = ASN1_object_size(1, (int)kept, V_ASN1_SEQUENCE);
	if (size < 0 || (size_t)size > cap)
		return -1;
	unsigned char *w = out;
	ASN1_put_object(&w, 1, (int)kept, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	if (skip == NULL)
		skip = end;
	memcpy(w, start, (size_t)(skip - start));
	w += skip - start;
	memcpy(w, skip + skiplen, (size_t)(end - skip - skiplen));
	w += end - skip - skiplen;
	return (long)(w - out);
}

/* What the table keeps of sess: its encoding without the peer certificate, then that
 * certificate's DER (nothing when the session has none), into out. Returns the
 * length, or -1 (too large: the session is not kept). */
static long encode_split(SSL_SESSION *sess, unsigned char *out, size_t cap)
{
	unsigned char der[TLS_SCACHE_DER_MAX];
	unsigned char *p = der;
	X509 *cert = tls_ossl_session_peer(sess);
	int len = i2d_SSL_SESSION(sess, NULL);
	long n = -1;

	if (len > 0 && (size_t)len <= sizeof der && i2d_SSL_SESSION(sess, &p) == len)
		n = without_peer(der, len, out, cap);
	if (len > 0)
		OPENSSL_cleanse(der, (size_t)len < sizeof der ? (size_t)len : sizeof der);
	if (n < 0 || cert == NULL)
		return n;
	int clen = i2d_X509(cert, NULL);
	if (clen <= 0 || (size_t)clen > cap - (size_t)n)
		return -1;
	p = out + n;
	return i2d_X509(cert, &p) == clen ? n + clen : -1;
}

/* The session of what encode_split made (len bytes), its certificate attached; NULL
 * when it does not decode as one. */
static SSL_SESSION *decode_split(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	SSL_SESSION *sess = d2i_SSL_SESSION(NULL, &p, len);
	long rest = der + len - p;

	if (sess == NULL || rest == 0)
		return sess;
	if (SSL_SESSION_get0_peer(sess) != NULL || tls_ossl_session_set_peer(sess, p, (size_t)rest) != 0) {
		SSL_SESSION_free(sess);
		return NULL;
	}
	return sess;
}

/* OpenSSL hands over a session it made (a full handshake, or the new ticket of a
 * resumption): kept, encoded, until it expires. */
static int session_new(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_scache *t = table_of(SSL_get_SSL_CTX(ssl));
	unsigned char der[TLS_SCACHE_DER_MAX];
	unsigned int id_len = 0;
	const unsigned char *id = SSL_SESSION_get_id(sess, &id_len);
	long len = t != NULL ? encode_split(sess, der, sizeof der) : -1;

	if (len > 0) {
		time_t expires = (time_t)SSL_SESSION_get_time(sess) + (time_t)SSL_SESSION_get_timeout(sess);
		(void)tls_scache_put(t, id, id_len, time(NULL), expires, der, (size_t)len);
	}
	OPENSSL_cleanse(der, len > 0 ? (size_t)len : sizeof der);
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
		sess = decode_split(der, (long)n);
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
