/* tls_openssl_sess.c: handshakes, I/O and the verified peer on OpenSSL (lib/tls.h). */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "lib/str.h"
#include "lib/tls_openssl_int.h"

/* Why the handshake failed, in words a log reader understands: the certificate
 * verification error when there was one, else OpenSSL's reason. */
static void handshake_reason(SSL *ssl, int sslerr, char *err, size_t errlen)
{
	long vr = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_last_error();

	if (vr != X509_V_OK) {
		(void)tls_errf(err, errlen, "%s", X509_verify_cert_error_string(vr));
	} else if (e && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	           ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		(void)tls_errf(err, errlen, "no client certificate");
	} else if (e) {
		(void)tls_errf(err, errlen, "%s", tls_ossl_reason("handshake failed"));
	} else if (sslerr == SSL_ERROR_SYSCALL && errno != 0) {
		(void)tls_errf(err, errlen, "handshake I/O error: %s", strerror(errno));
	} else {
		(void)tls_errf(err, errlen, "connection closed during handshake");
	}
	ERR_clear_error();
}

/* Runs the handshake to completion. Returns 0, or -1 with err. */
static int run_handshake(SSL *ssl, int fd, unsigned timeout_s, char *err, size_t errlen)
{
	long deadline = timeout_s ? tls_now_ms() + (long)timeout_s * 1000 : LONG_MAX;

	for (;;) {
		int r, e, w;

		ERR_clear_error();
		errno = 0;
		r = SSL_do_handshake(ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			handshake_reason(ssl, e, err, errlen);
			return -1;
		}
		w = tls_wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
		if (w <= 0) {
			(void)tls_errf(err, errlen, "%s",
			               w == 0 ? "handshake timed out" : "handshake poll failed");
			return -1;
		}
	}
}

/* SNI carries a host name only (RFC 6066 section 3: "Literal IPv4 and IPv6 addresses
 * are not permitted"). */
static bool sni_allowed(const char *name)
{
	unsigned char addr[16];

	return name && *name && inet_pton(AF_INET, name, addr) != 1 && inet_pton(AF_INET6, name, addr) != 1;
}

static struct tls_sess *handshake(struct tls_ctx *ctx, int fd, const char *sni, unsigned timeout_s, char *err,
                                  size_t errlen)
{
	struct tls_sess *s;
	int flags = fcntl(fd, F_GETFL);
	int rc = -1;

	if (flags < 0) {
		(void)tls_errf(err, errlen, "bad socket: %s", strerror(errno));
		return NULL;
	}
	tls_crl_watch_check(&ctx->crl);
	/* The deadline only holds on a non-blocking socket: make it one for the handshake
	 * and give the caller back the mode it chose. */
	if (!(flags & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	s = xcalloc(1, sizeof(*s));
	s->ssl = SSL_new(ctx->ssl_ctx);
	if (!s->ssl || SSL_set_fd(s->ssl, fd) != 1 ||
	    (sni_allowed(sni) && SSL_set_tlsext_host_name(s->ssl, sni) != 1)) {
		(void)tls_errf(err, errlen, "%s", tls_ossl_reason("cannot create TLS session"));
	} else {
		if (ctx->client)
			SSL_set_connect_state(s->ssl);
		else
			SSL_set_accept_state(s->ssl);
		rc = run_handshake(s->ssl, fd, timeout_s, err, errlen);
		if (rc == 0 && !ctx->client && SSL_session_reused(s->ssl))
			rc = tls_ossl_reverify(ctx->ssl_ctx, s->ssl, err, errlen);
	}
	if (!(flags & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, flags);
	if (rc < 0) {
		s->broken = true;
		tls_sess_free(s);
		return NULL;
	}
	return s;
}

struct tls_sess *tls_accept(struct tls_ctx *ctx, int fd, unsigned timeout_s, char *err, size_t errlen)
{
	if (ctx->client) {
		(void)tls_errf(err, errlen, "tls_accept on a client context");
		return NULL;
	}
	return handshake(ctx, fd, NULL, timeout_s, err, errlen);
}

struct tls_sess *tls_connect(struct tls_ctx *ctx, int fd, const char *server_name, unsigned timeout_s,
                             char *err, size_t errlen)
{
	if (!ctx->client) {
		(void)tls_errf(err, errlen, "tls_connect on a server context");
		return NULL;
	}
	return handshake(ctx, fd, server_name, timeout_s, err, errlen);
}

/* SSL_get_error needs an empty error queue before each SSL_read/SSL_write. Clearing it
 * walks all of its slots; looking at it first costs one read when it is already empty,
 * as after every successful call (a relay calls these eight times per MX message). */
static void clear_errors(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* Maps an SSL_read/SSL_write failure to the tls.h convention. */
static ssize_t io_result(struct tls_sess *s, int r)
{
	int e = SSL_get_error(s->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -2;
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	s->broken = true;
	ERR_clear_error();
	return -1;
}

ssize_t tls_read(struct tls_sess *s, void *p, size_t n)
{
	size_t got = 0;
	int r;

	if (s->broken)
		return -1;
	clear_errors();
	r = SSL_read_ex(s->ssl, p, n, &got);
	if (r == 1)
		return (ssize_t)got;
	return io_result(s, r);
}

ssize_t tls_write(struct tls_sess *s, const void *p, size_t n)
{
	size_t done = 0;
	int r;

	if (s->broken)
		return -1;
	if (n == 0)
		return 0;
	clear_errors();
	r = SSL_write_ex(s->ssl, p, n, &done);
	if (r == 1)
		return (ssize_t)done;
	r = (int)io_result(s, r);
	return r == 0 ? -1 : r; /* close_notify while writing: the write failed */
}

size_t tls_pending(struct tls_sess *s)
{
	int n = SSL_pending(s->ssl);

	if (n > 0)
		return (size_t)n;
	/* with read-ahead, records read but not yet decrypted: SSL_pending says 0 */
	return SSL_has_pending(s->ssl) ? 1 : 0;
}

/* Copies src when it fits whole; a cut identity could equal another one, so an
 * overlong value is left empty instead. */
static void copy_whole(char *dst, size_t dstlen, const char *src, size_t n)
{
	dst[0] = '\0';
	if (n < dstlen) {
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
}

static void peer_dn(const X509_NAME *name, char *out, size_t outlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	out[0] = '\0';
	if (!bio)
		return;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(bio, &data);
		if (n > 0 && memchr(data, '\0', (size_t)n) == NULL)
			copy_whole(out, outlen, data, (size_t)n);
	}
	BIO_free(bio);
}

/* The first rfc822Name, refused when it holds a NUL or control byte (an embedded NUL
 * would make "a@b\0.evil" read as "a@b"). */
static void peer_email(X509 *cert, char *out, size_t outlen)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int i;

	out[0] = '\0';
	for (i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const unsigned char *d;
		int len, j;

		if (g->type != GEN_EMAIL)
			continue;
		d = ASN1_STRING_get0_data(g->d.rfc822Name);
		len = ASN1_STRING_length(g->d.rfc822Name);
		for (j = 0; j < len && d[j] > 0x20 && d[j] < 0x7f; j++)
			;
		if (j == len && len > 0)
			copy_whole(out, outlen, (const char *)d, (size_t)len);
		break;
	}
	GENERAL_NAMES_free(names);
}

void tls_peer_info(struct tls_sess *s, struct tls_peer *out)
{
	X509 *cert = tls_ossl_peer_cert(s->ssl);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memset(out, 0, sizeof(*out));
	copy_whole(out->version, sizeof(out->version), SSL_get_version(s->ssl),
	           strlen(SSL_get_version(s->ssl)));
	copy_whole(out->cipher, sizeof(out->cipher), SSL_get_cipher_name(s->ssl),
	           strlen(SSL_get_cipher_name(s->ssl)));
	out->resumed = SSL_session_reused(s->ssl) == 1;
	if (!cert || SSL_get_verify_result(s->ssl) != X509_V_OK)
		return;
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
		ERR_clear_error();
		return;
	}
	out->has_cert = true;
	str_hex(out->sha256, md, mdlen);
	peer_email(cert, out->email, sizeof(out->email));
	peer_dn(X509_get_subject_name(cert), out->subject_dn, sizeof(out->subject_dn));
	peer_dn(X509_get_issuer_name(cert), out->issuer_dn, sizeof(out->issuer_dn));
	ERR_clear_error();
}

void tls_sess_free(struct tls_sess *s)
{
	if (!s)
		return;
	if (s->ssl) {
		if (!s->broken) {
			ERR_clear_error();
			(void)SSL_shutdown(s->ssl); /* one non-blocking try: best effort */
		}
		SSL_free(s->ssl);
	}
	ERR_clear_error();
	free(s);
}
