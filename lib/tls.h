/* tls.h: TLS for the daemons (server side) and the relay (client side), on OpenSSL 3
 * (tls_openssl*.c, the default) or GnuTLS (tls_gnutls*.c, ./configure
 * --with-tls=gnutls). Both backends give the same answers through this interface: the
 * same policy, the same peer identity strings, the same error texts where the
 * libraries allow it (doc/architecture.md, "TLS layer").
 *
 * Policy: TLS 1.2 and 1.3 only; ECDHE key exchange with AEAD ciphers only; no
 * compression, no renegotiation. No session resumption unless a server context asks
 * for it (tls_server_opts.ticket_lifetime, both backends): then a client may resume
 * with a session ticket (the key is the context's, shared by the processes forked from
 * it, replaced by tls_ctx_rotate_tickets and at tls_ctx_reload; on OpenSSL with
 * session_cache, the ticket names a session kept in a table those processes share,
 * emptied at the same times), and the certificate
 * a resumed session carries is verified again against the CA and the CRL in force
 * now, as a full handshake would: every connection's peer is still checked against
 * the CRL in force (OpenSSL keeps a success with the store of CA and CRL it was
 * verified against, so a new CRL always verifies again). A peer certificate that does
 * not verify (untrusted CA, expired, revoked, wrong purpose) fails the handshake in
 * every mode, so a session never runs with a half-trusted peer.
 *
 * CRL (tls_crl): PEM (one or more CRLs) or DER (one). Each CRL must be signed by a CA
 * of ca_file. The leaf certificate is checked against it, so the file must hold a CRL
 * of each CA that issues peer certificates ("unable to get certificate CRL"
 * otherwise). The file is re-read when it changes (a stat at most once a second,
 * before a handshake) and on tls_ctx_reload_crl; a new file that does not load is
 * ignored with one log line and the CRL in force stays. A CRL past its nextUpdate
 * stays in force (Référentiel CONF.22) with a warning at most once an hour.
 *
 * Private key: read from key_file, or kept in another process, the key agent
 * (tls_agent_*), which signs for the handshake over a socketpair: the process that
 * runs handshakes then never holds the key. */
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
	const char *key_file;  /* PEM private key (unused with use_key_agent) */
	const char *ca_file;   /* PEM CAs that client certificates must chain to ("" = none) */
	const char *crl_file;  /* CRL(s) checked for client certificates ("" = none) */
	enum tls_client_cert client_cert;
	bool use_key_agent;       /* sign through key_agent_fd instead of reading key_file */
	int key_agent_fd;         /* a channel from tls_agent_channel (the context does not own it) */
	unsigned ticket_lifetime; /* seconds a session ticket may be resumed; 0: no tickets */
	/* OpenSSL: tickets name sessions kept in a table of this many shared by the
	 * processes forked from the context (cheaper to issue); 0: stateless tickets.
	 * GnuTLS: unused (stateless tickets). */
	unsigned session_cache;
};

/* The relay's side (issue 13): presents cert_file when the server asks for a client
 * certificate, and verifies the server: chain to ca_file, validity, purpose
 * (serverAuth), revocation per crl_file. The server's name is NOT checked against
 * its certificate: the caller matches the verified subject DN (tls_peer_info)
 * against the trust list, as DESIGN.md "Relay out to the trust space" says. */
struct tls_client_opts {
	const char *cert_file; /* PEM chain to present (relay_cert), "" = none */
	const char *key_file;  /* its key (relay_key), unused with use_key_agent */
	const char *ca_file;   /* PEM CAs that server certificates must chain to (required) */
	const char *crl_file;  /* "" = none */
	bool use_key_agent;
	int key_agent_fd;
};

/* The verified peer certificate, as callers need it. All strings NUL-terminated,
 * empty when absent. */
struct tls_peer {
	bool has_cert;        /* a certificate was presented and verified */
	char sha256[65];      /* lowercase hex SHA-256 of the DER certificate */
	char email[256];      /* first subjectAltName rfc822Name */
	char subject_dn[512]; /* RFC 2253 as OpenSSL prints it: "CN=mx.example.fr,OU=123,O=Org,C=FR" */
	char issuer_dn[512];
	char version[16]; /* "TLSv1.3" */
	char cipher[64];  /* OpenSSL's name: "TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256" */
	bool resumed;     /* the handshake resumed a session (a ticket, server side) */
};

struct tls_ctx;
struct tls_sess;

/* The backend compiled in: "openssl" or "gnutls". */
const char *tls_backend(void);

/* Loads certificate, key (or checks the agent has it), CA and CRL. Returns NULL with
 * err naming the file and why ("cannot read key file /x: Is a directory", "no
 * certificate in certificate file /x", "key file /k does not match certificate file
 * /c", "CRL file /x: not signed by a CA of /ca"); a CRL file with no CRL in it is an
 * error (it would silently disable revocation); OPTIONAL/REQUIRE without ca_file is an
 * error. */
struct tls_ctx *tls_server_ctx_new(const struct tls_server_opts *opts, char *err, size_t errlen);
/* Whether the (first) certificate of the PEM file may authenticate a TLS client: it has
 * no extended key usage, or one that lists clientAuth or anyExtendedKeyUsage (RFC 5280
 * 4.2.1.12). 1 yes, 0 no, -1 unreadable. A peer that checks the purpose (Postfix,
 * OpenSSL's default for client certificates) refuses a certificate made for servers. */
int tls_cert_file_client_ok(const char *file);
/* The same for the client side; ca_file is required. */
struct tls_ctx *tls_client_ctx_new(const struct tls_client_opts *opts, char *err, size_t errlen);
/* Frees the context; sessions made from it stay valid until tls_sess_free. */
void tls_ctx_free(struct tls_ctx *ctx);

/* The files a context loads its material from (as in the opts; NULL reads as "").
 * tls_ctx_reload may replace them, so that a SIGHUP after a configuration change
 * reads the new files. */
struct tls_files {
	const char *cert_file;
	const char *key_file;
	const char *ca_file;
	const char *crl_file;
};

/* SIGHUP: reads every file of files (NULL: the files the context uses now) and, when
 * all of them load, puts the new material and these file names in force for the
 * handshakes that start afterwards (sessions in progress keep theirs). Returns 0, or
 * -1 with err naming the file and why: the previous material and file names then
 * stay in force, whole. */
int tls_ctx_reload(struct tls_ctx *ctx, const struct tls_files *files, char *err, size_t errlen);
/* A daemon master's SIGHUP (the one TLS reload path of mss-smtpd and mss-imapd):
 * tls_ctx_reload(ctx, files), then one log line, tls.reload with context=what and
 * result=ok, or result=failed error=... (the material in force stays, and its CRL
 * alone is then re-read by tls_ctx_reload_crl, which logs its own outcome, so that a
 * revocation never waits for a restart). Returns 0 (also for a NULL ctx), or -1 with
 * err = "TLS: " and the reason. */
int tls_ctx_sighup(struct tls_ctx *ctx, const struct tls_files *files, const char *what, char *err,
                   size_t errlen);
/* SIGHUP, CRL only: re-reads the CRL file now. Returns 1 when a new CRL is in force,
 * 0 when no CRL is configured, -1 when it was refused (the previous one stays; err
 * names the file and why; also logged). */
int tls_ctx_reload_crl(struct tls_ctx *ctx, char *err, size_t errlen);
/* Re-reads the CRL file if it changed (at most one stat a second). tls_accept and
 * tls_connect do it themselves; a master may call it before forking sessions so
 * that they inherit the new CRL instead of each reading it. */
void tls_ctx_check_crl(struct tls_ctx *ctx);
/* For a process about to lose sight of the CRL file (the pre-login process's chroot,
 * lib/privsep.h): checks the file now (re-reading a changed one) and stops watching
 * it, so that its handshakes use that CRL and never log the file as missing. */
void tls_ctx_settle_crl(struct tls_ctx *ctx);
/* With tickets (tls_server_opts.ticket_lifetime): replaces the ticket key by a new
 * random one when the one in force is lifetime old, so that a ticket never outlives
 * it by more than that. Returns 1 when it did (processes forked earlier still hold the
 * old key: a master ends them, lib/master.h master_retire_reused), 0 when not (or no
 * tickets). */
int tls_ctx_rotate_tickets(struct tls_ctx *ctx);
/* From SIGHUP (a server context; no-op for a client one or the same value): the
 * ticket lifetime of the sessions started from now on (tls_server_opts.ticket_lifetime).
 * 0 stops tickets: none is issued and none resumes; from 0, tickets start with a new
 * key. Processes forked earlier keep theirs (master_retire_reused). */
void tls_ctx_set_ticket_lifetime(struct tls_ctx *ctx, unsigned seconds);
/* Makes the context sign through another key agent channel (in a session process that
 * was given its own channel). Returns 0, or -1 if the context has no agent key. */
int tls_ctx_set_key_agent(struct tls_ctx *ctx, int fd);

/* Runs the server handshake on fd, polling, bounded by timeout_s (0 = no bound). A
 * blocking fd is made non-blocking for the handshake and given back its mode. Returns
 * NULL with err (peer's fault or ours) on failure: the certificate verification error
 * ("certificate revoked", "certificate has expired", "unable to get local issuer
 * certificate", "unsuitable certificate purpose"), "no client certificate",
 * "unsupported protocol", "no shared cipher", "handshake timed out", "connection
 * closed during handshake". Never closes fd. Writing to a closed peer raises SIGPIPE:
 * daemons ignore it. */
struct tls_sess *tls_accept(struct tls_ctx *ctx, int fd, unsigned timeout_s, char *err, size_t errlen);
/* Runs the client handshake on fd (a connected socket), with server_name as SNI (not
 * sent when empty or an IP address, RFC 6066 section 3), bounded by timeout_s. No
 * fallback to an older protocol. Returns NULL with err as tls_accept: the server
 * certificate's verification error, "unsupported protocol", "handshake timed out"... */
struct tls_sess *tls_connect(struct tls_ctx *ctx, int fd, const char *server_name, unsigned timeout_s,
                             char *err, size_t errlen);
/* Returns bytes read (>0), 0 at EOF, -1 on error; -2 when it would block (poll, retry).
 * EOF without close_notify also reads as 0: SMTP and IMAP frame their own data. */
ssize_t tls_read(struct tls_sess *s, void *p, size_t n);
/* Returns bytes written (>0, possibly fewer than n), -1 on error; -2 when it would
 * block: retry later with the same bytes (the buffer may move). */
ssize_t tls_write(struct tls_sess *s, const void *p, size_t n);
/* Nonzero when the TLS layer holds bytes already read from the socket (decrypted, or
 * records read ahead and not yet decrypted): a read may then succeed without a poll. */
size_t tls_pending(struct tls_sess *s);
/* Fills out; certificate fields stay empty unless has_cert. A field whose value does
 * not fit whole, or an email with control bytes, is left empty rather than cut, so a
 * truncated identity never matches another one. */
void tls_peer_info(struct tls_sess *s, struct tls_peer *out);
/* Sends close_notify (best effort) and frees; does not close the fd. */
void tls_sess_free(struct tls_sess *s);

/* The key agent (issue 12): a process that holds the TLS private keys and performs
 * only the signature a handshake needs (ECDSA; RSA PKCS#1 v1.5 and RSA-PSS for TLS 1.2
 * and 1.3), for requests received on channels (socketpair(AF_UNIX, SOCK_SEQPACKET)).
 * Requests are typed and length-checked; a malformed or unexpected one (unknown key,
 * a scheme the key cannot do, a wrong length, a block that is not a PSS encoding) is
 * refused, logged, and ends that channel; a request for a key it does not hold (replaced
 * by a reload) just fails. New channels reach the agent over its control socket
 * (socketpair(AF_UNIX, SOCK_SEQPACKET)), from the master. */
struct tls_agent;

/* Loads the PEM private keys (RSA or EC). Returns NULL with err naming the file. */
struct tls_agent *tls_agent_new(const char *const *key_files, size_t n, char *err, size_t errlen);
/* Serves until ctl_fd reaches EOF (the master is gone): control messages add
 * channels (tls_agent_channel) or reload the keys (tls_agent_request_reload).
 * Returns 0 at EOF, -1 when polling fails. */
int tls_agent_run(struct tls_agent *a, int ctl_fd);
/* Re-reads the key files; on failure the keys in force stay. The keys it replaces are
 * kept until the next reload (a context that refused its new certificate still signs
 * with the previous pair). Returns 0 or -1 (err). */
int tls_agent_reload(struct tls_agent *a, char *err, size_t errlen);
/* Replaces the key files the next reload reads. */
void tls_agent_set_key_files(struct tls_agent *a, const char *const *key_files, size_t n);
/* fn runs in the agent before each reload a master orders (e.g. to read the key file
 * names from the configuration file again, tls_agent_set_key_files); when it returns
 * -1 the keys in force stay and the master is told the reload failed. */
void tls_agent_on_reload(struct tls_agent *a, int (*fn)(struct tls_agent *a, void *arg), void *arg);
/* Wipes the keys and frees. */
void tls_agent_free(struct tls_agent *a);
/* In the master: makes a new channel, hands one end to the agent over ctl_fd and
 * returns the other (close-on-exec), or -1 with err. */
int tls_agent_channel(int ctl_fd, char *err, size_t errlen);
/* In the master (SIGHUP): asks the agent to re-read its key files and waits for its
 * answer (10 s at most), so that contexts reloaded afterwards find the new keys.
 * Returns 0, or -1 with err (the agent then keeps its previous keys). */
int tls_agent_request_reload(int ctl_fd, char *err, size_t errlen);

#endif
