/* tls_openssl.c: lib/tls.h on OpenSSL 3.
 *
 * Policy (DESIGN.md "TLS 1.2 and 1.3 only, ECDHE + AEAD suites only"): TLS 1.0/1.1
 * refused, TLS 1.2 limited to ECDHE with AES-GCM or ChaCha20-Poly1305, TLS 1.3 with
 * OpenSSL's default (all AEAD, all (EC)DHE) suites, no compression (CRIME), no
 * renegotiation (a client could otherwise restart the handshake at will), the
 * server's cipher order. No session resumption: every connection verifies the client
 * certificate against the CA and CRL in force now. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "lib/tls.h"

#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!PSK:!SHA1"
#define TLS_VERIFY_DEPTH 5

struct tls_ctx {
	SSL_CTX *ssl_ctx;
};

struct tls_sess {
	SSL *ssl;
	bool broken; /* a fatal error happened: no close_notify may be sent */
};

/* The most recent OpenSSL error as text, or fallback; clears the queue. */
static const char *openssl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : fallback;
}

static void set_err(char *err, size_t errlen, const char *what, const char *file, const char *fallback)
{
	if (err && errlen)
		(void)str_format(err, errlen, "%s %s: %s", what, file, openssl_reason(fallback));
}

static int ctx_policy(SSL_CTX *c, char *err, size_t errlen)
{
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                           SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET |
	                           SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c, 0);
	SSL_CTX_set_security_level(c, 2);
	if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1) {
		set_err(err, errlen, "TLS policy", "setup", "cannot set protocol or ciphers");
		return -1;
	}
	return 0;
}

static int ctx_load_cert(SSL_CTX *c, const struct tls_server_opts *o, char *err, size_t errlen)
{
	if (!o->cert_file || !*o->cert_file || !o->key_file || !*o->key_file) {
		(void)str_copy(err, errlen, "TLS certificate and key files must be set");
		return -1;
	}
	if (SSL_CTX_use_certificate_chain_file(c, o->cert_file) != 1) {
		set_err(err, errlen, "cannot load certificate file", o->cert_file, "bad PEM");
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(c, o->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			(void)str_format(err, errlen, "key file %s does not match certificate file %s",
			                 o->key_file, o->cert_file);
		} else {
			set_err(err, errlen, "cannot load key file", o->key_file, "bad PEM");
		}
		return -1;
	}
	return 0;
}

static int ctx_load_ca(SSL_CTX *c, const char *ca_file, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) * names;

	if (SSL_CTX_load_verify_locations(c, ca_file, NULL) != 1) {
		set_err(err, errlen, "cannot load CA file", ca_file, "bad PEM");
		return -1;
	}
	/* The CA names go into the CertificateRequest so clients pick the right cert. */
	names = SSL_load_client_CA_file(ca_file);
	if (!names) {
		set_err(err, errlen, "no CA certificate in file", ca_file, "empty");
		return -1;
	}
	SSL_CTX_set_client_CA_list(c, names);
	return 0;
}

/* Adds every CRL of the PEM file to the store; a file with none is an error, since a
 * configured but empty CRL file would silently disable revocation. */
static int ctx_load_crl(SSL_CTX *c, const char *crl_file, char *err, size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(c);
	BIO *bio = BIO_new_file(crl_file, "r");
	X509_CRL *crl;
	int n = 0;

	if (!bio) {
		set_err(err, errlen, "cannot open CRL file", crl_file, "cannot open");
		return -1;
	}
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_crl(store, crl);

		X509_CRL_free(crl);
		if (ok != 1) {
			BIO_free(bio);
			set_err(err, errlen, "cannot add CRL from file", crl_file, "bad CRL");
			return -1;
		}
		n++;
	}
	BIO_free(bio);
	ERR_clear_error(); /* the loop ends on "no start line" */
	if (n == 0) {
		(void)str_format(err, errlen, "no CRL in file %s", crl_file);
		return -1;
	}
	/* CRL_CHECK checks the leaf: client certificates are issued directly by tls_ca. */
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 0;
}

static int ctx_client_auth(SSL_CTX *c, const struct tls_server_opts *o, char *err, size_t errlen)
{
	bool has_ca = o->ca_file && *o->ca_file;
	int mode = SSL_VERIFY_NONE;

	if (o->client_cert != TLS_CLIENT_CERT_NONE && !has_ca) {
		(void)str_copy(err, errlen, "client certificates need a CA file (tls_ca)");
		return -1;
	}
	if (has_ca && ctx_load_ca(c, o->ca_file, err, errlen) < 0)
		return -1;
	if (o->crl_file && *o->crl_file && ctx_load_crl(c, o->crl_file, err, errlen) < 0)
		return -1;
	if (o->client_cert == TLS_CLIENT_CERT_OPTIONAL)
		mode = SSL_VERIFY_PEER;
	else if (o->client_cert == TLS_CLIENT_CERT_REQUIRE)
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	/* No verify callback: any verification error aborts the handshake. */
	SSL_CTX_set_verify(c, mode, NULL);
	SSL_CTX_set_verify_depth(c, TLS_VERIFY_DEPTH);
	return 0;
}

struct tls_ctx *tls_server_ctx_new(const struct tls_server_opts *opts, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "mss";
	struct tls_ctx *ctx;
	SSL_CTX *c;

	ERR_clear_error();
	c = SSL_CTX_new(TLS_server_method());
	if (!c) {
		set_err(err, errlen, "TLS", "context", "cannot create");
		return NULL;
	}
	SSL_CTX_set_session_id_context(c, sid_ctx, sizeof(sid_ctx) - 1);
	if (ctx_policy(c, err, errlen) < 0 || ctx_load_cert(c, opts, err, errlen) < 0 ||
	    ctx_client_auth(c, opts, err, errlen) < 0) {
		SSL_CTX_free(c);
		ERR_clear_error();
		return NULL;
	}
	ERR_clear_error(); /* the CA list loader may leave harmless entries behind */
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->ssl_ctx = c;
	return ctx;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes. Returns 1, 0 on timeout,
 * -1 on error. */
static int wait_fd(int fd, short events, long deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		long left = deadline - now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Why the handshake failed, in words a log reader understands: the certificate
 * verification error when there was one, else OpenSSL's reason. */
static void handshake_reason(SSL *ssl, int sslerr, char *err, size_t errlen)
{
	long vr = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_last_error();

	if (vr != X509_V_OK) {
		(void)str_copy(err, errlen, X509_verify_cert_error_string(vr));
	} else if (e && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	           ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		(void)str_copy(err, errlen, "no client certificate");
	} else if (e) {
		(void)str_copy(err, errlen, openssl_reason("handshake failed"));
	} else if (sslerr == SSL_ERROR_SYSCALL && errno != 0) {
		(void)str_format(err, errlen, "handshake I/O error: %s", strerror(errno));
	} else {
		(void)str_copy(err, errlen, "connection closed during handshake");
	}
	ERR_clear_error();
}

/* Runs SSL_accept to completion. Returns 0, or -1 with err. */
static int run_handshake(SSL *ssl, int fd, unsigned timeout_s, char *err, size_t errlen)
{
	long deadline = timeout_s ? now_ms() + (long)timeout_s * 1000 : LONG_MAX;

	for (;;) {
		int r, e, w;

		ERR_clear_error();
		errno = 0;
		r = SSL_accept(ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			handshake_reason(ssl, e, err, errlen);
			return -1;
		}
		w = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
		if (w <= 0) {
			(void)str_copy(err, errlen, w == 0 ? "handshake timed out" : "handshake poll failed");
			return -1;
		}
	}
}

struct tls_sess *tls_accept(struct tls_ctx *ctx, int fd, unsigned timeout_s, char *err, size_t errlen)
{
	struct tls_sess *s;
	int flags = fcntl(fd, F_GETFL);
	int rc;

	if (flags < 0) {
		(void)str_format(err, errlen, "bad socket: %s", strerror(errno));
		return NULL;
	}
	/* The deadline only holds on a non-blocking socket: make it one for the handshake
	 * and give the caller back the mode it chose. */
	if (!(flags & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	s = xcalloc(1, sizeof(*s));
	s->ssl = SSL_new(ctx->ssl_ctx);
	if (!s->ssl || SSL_set_fd(s->ssl, fd) != 1) {
		(void)str_copy(err, errlen, openssl_reason("cannot create TLS session"));
		rc = -1;
	} else {
		rc = run_handshake(s->ssl, fd, timeout_s, err, errlen);
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
	ERR_clear_error();
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
	ERR_clear_error();
	r = SSL_write_ex(s->ssl, p, n, &done);
	if (r == 1)
		return (ssize_t)done;
	r = (int)io_result(s, r);
	return r == 0 ? -1 : r; /* close_notify while writing: the write failed */
}

size_t tls_pending(struct tls_sess *s)
{
	int n = SSL_pending(s->ssl);

	return n > 0 ? (size_t)n : 0;
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
	X509 *cert = SSL_get0_peer_certificate(s->ssl);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memset(out, 0, sizeof(*out));
	(void)str_copy(out->version, sizeof(out->version), SSL_get_version(s->ssl));
	(void)str_copy(out->cipher, sizeof(out->cipher), SSL_get_cipher_name(s->ssl));
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
