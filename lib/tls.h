/* tls.h: TLS for the daemons, behind an interface small enough for a GnuTLS backend.
 *
 * Server side only. TLS 1.2 and 1.3 only; ECDHE key exchange with AEAD ciphers only.
 * A client certificate is requested or required per context; a presented certificate
 * that does not verify (untrusted CA, expired, revoked per tls_crl) fails the
 * handshake in both modes, so a session never runs with a half-trusted peer. */
#ifndef MSS_TLS_H
#define MSS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum tls_client_cert {
	TLS_CLIENT_CERT_NONE,     /* do not ask */
	TLS_CLIENT_CERT_OPTIONAL, /* ask; no certificate is fine, a bad one is refused */
	TLS_CLIENT_CERT_REQUIRE,  /* a verified certificate is required */
};

struct tls_server_opts {
	const char *cert_file; /* PEM chain, leaf first */
	const char *key_file;  /* PEM private key */
	const char *ca_file;   /* PEM CAs that client certificates must chain to ("" = none) */
	const char *crl_file;  /* PEM CRL(s) checked for client certificates ("" = none) */
	enum tls_client_cert client_cert;
};

/* The verified peer certificate, as callers need it. All strings NUL-terminated,
 * empty when absent. */
struct tls_peer {
	bool has_cert;        /* a certificate was presented and verified */
	char sha256[65];      /* lowercase hex SHA-256 of the DER certificate */
	char email[256];      /* first subjectAltName rfc822Name */
	char subject_dn[512]; /* RFC 2253 form, e.g. "CN=mx.example.fr,OU=123,O=Org,C=FR" */
	char issuer_dn[512];
	char version[16]; /* "TLSv1.3" */
	char cipher[64];
};

struct tls_ctx;
struct tls_sess;

/* Loads certificate, key, CA and CRL. Returns NULL with err naming the file and why
 * (a CRL file with no CRL in it is an error: it would silently disable revocation;
 * OPTIONAL/REQUIRE without ca_file is an error). No session resumption (no tickets,
 * no cache): every connection verifies its certificate against the CA and CRL.
 * Revocation checks the client certificate itself (X509_V_FLAG_CRL_CHECK): crl_file
 * must hold a current CRL of each CA that issues client certificates, else their
 * handshakes fail ("unable to get certificate CRL"). */
struct tls_ctx *tls_server_ctx_new(const struct tls_server_opts *opts, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);
/* Runs the server handshake on fd, polling, bounded by timeout_s (0 = no bound). A
 * blocking fd is made non-blocking for the handshake and given back its mode. Returns
 * NULL with err (peer's fault or ours) on failure: the certificate verification error
 * ("certificate revoked", "certificate has expired", "unable to get local issuer
 * certificate"), "no client certificate", "unsupported protocol", "no shared cipher",
 * "handshake timed out", "connection closed during handshake". Never closes fd.
 * Writing to a closed peer raises SIGPIPE: daemons ignore it. */
struct tls_sess *tls_accept(struct tls_ctx *ctx, int fd, unsigned timeout_s, char *err, size_t errlen);
/* Returns bytes read (>0), 0 at EOF, -1 on error; -2 when it would block (poll, retry).
 * EOF without close_notify also reads as 0: SMTP and IMAP frame their own data. */
ssize_t tls_read(struct tls_sess *s, void *p, size_t n);
/* Returns bytes written (>0, possibly fewer than n), -1 on error; -2 when it would
 * block: retry later with the same bytes (the buffer may move). */
ssize_t tls_write(struct tls_sess *s, const void *p, size_t n);
/* Bytes decrypted and buffered inside the TLS layer. */
size_t tls_pending(struct tls_sess *s);
/* Fills out; certificate fields stay empty unless has_cert. A field whose value does
 * not fit whole, or an email with control bytes, is left empty rather than cut, so a
 * truncated identity never matches another one. */
void tls_peer_info(struct tls_sess *s, struct tls_peer *out);
/* Sends close_notify (best effort) and frees; does not close the fd. */
void tls_sess_free(struct tls_sess *s);

#endif
