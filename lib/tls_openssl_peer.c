/* tls_openssl_peer.c: the peer's certificate of a server-side session, wherever it
 * came from (tls_openssl_int.h).
 *
 * A full handshake leaves it in the SSL_SESSION (SSL_get0_peer_certificate). A session
 * resumed from the shared table (tls_openssl_scache.c) comes without it: the table keeps
 * the session's encoding with the certificate taken out and the certificate's DER beside
 * it, and the certificate goes on the session as ex_data. Why: OpenSSL 3.0 decodes a
 * certificate's public key through its provider decoders (OSSL_DECODER_CTX_new_for_pkey,
 * about 9 % of mss-smtpd's CPU on a connection per MX message, one per resumption), and
 * an MX listener sees the same few operators' certificates over and over. So each
 * process keeps the certificates it decoded, by their exact DER, and a resumption in a
 * reused pre-login process that saw that operator before decodes nothing. The cached
 * X509 is the very certificate the DER encodes (matched byte for byte, never by a
 * digest alone), verified again on every resumption as before (tls_ossl_reverify). */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "lib/tls_openssl_int.h"

/* Distinct certificates a process keeps decoded, the oldest replaced: an MX peer is an
 * operator's server, a handful per process in practice; a miss costs one decoding, as
 * every resumption did before. */
#define PEER_CACHE_MAX 16

struct decoded {
	unsigned char *der;
	size_t len;
	X509 *cert;
};

static struct {
	unsigned n, next;
	struct decoded e[PEER_CACHE_MAX];
} cache;

/* ex_data on SSL_SESSION: the certificate's reference follows the session, its copies
 * included (OpenSSL duplicates a resumed session to issue the next ticket). */
static int peer_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **ptr, int idx, long argl,
                    void *argp)
{
	(void)to, (void)from, (void)idx, (void)argl, (void)argp;
	if (*ptr != NULL && X509_up_ref(*ptr) != 1)
		*ptr = NULL;
	return 1;
}

static void peer_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	X509_free(ptr);
}

static int peer_index(void)
{
	static int idx = -1;
	if (idx < 0)
		idx = SSL_SESSION_get_ex_new_index(0, NULL, NULL, peer_dup, peer_free);
	return idx;
}

X509 *tls_ossl_session_peer(const SSL_SESSION *sess)
{
	X509 *cert = SSL_SESSION_get0_peer((SSL_SESSION *)sess);
	int idx = peer_index();

	if (cert == NULL && idx >= 0)
		cert = SSL_SESSION_get_ex_data(sess, idx);
	return cert;
}

X509 *tls_ossl_peer_cert(const SSL *ssl)
{
	SSL_SESSION *sess = SSL_get_session(ssl);

	return sess != NULL ? tls_ossl_session_peer(sess) : NULL;
}

/* The certificate der encodes: the one decoded before, else decoded now and kept. */
static X509 *decoded_cert(const unsigned char *der, size_t len)
{
	for (unsigned i = 0; i < cache.n; i++)
		if (cache.e[i].len == len && memcmp(cache.e[i].der, der, len) == 0)
			return cache.e[i].cert;
	const unsigned char *p = der;
	X509 *cert = d2i_X509(NULL, &p, (long)len);
	if (cert == NULL || p != der + len) {
		X509_free(cert);
		return NULL;
	}
	struct decoded *d = &cache.e[cache.next];
	free(d->der);
	X509_free(d->cert);
	d->der = xmalloc(len);
	memcpy(d->der, der, len);
	d->len = len;
	d->cert = cert;
	cache.next = (cache.next + 1) % PEER_CACHE_MAX;
	if (cache.n < PEER_CACHE_MAX)
		cache.n++;
	return cert;
}

int tls_ossl_session_set_peer(SSL_SESSION *sess, const unsigned char *der, size_t len)
{
	int idx = peer_index();
	X509 *cert = idx >= 0 && len > 0 ? decoded_cert(der, len) : NULL;

	if (cert == NULL || X509_up_ref(cert) != 1) {
		ERR_clear_error();
		return -1;
	}
	if (SSL_SESSION_set_ex_data(sess, idx, cert) != 1) {
		X509_free(cert);
		ERR_clear_error();
		return -1;
	}
	return 0;
}
