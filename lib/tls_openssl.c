/* tls_openssl.c: lib/tls.h contexts on OpenSSL 3 (sessions: tls_openssl_sess.c, CRLs:
 * tls_openssl_crl.c, agent-held keys: tls_openssl_key.c).
 *
 * Policy (DESIGN.md "TLS 1.2 and 1.3 only, ECDHE + AEAD suites only"): TLS 1.0/1.1
 * refused, TLS 1.2 limited to ECDHE with AES-GCM or ChaCha20-Poly1305, TLS 1.3 with
 * OpenSSL's default (all AEAD, all (EC)DHE) suites, no compression (CRIME), no
 * renegotiation (a client could otherwise restart the handshake at will), the
 * server's cipher order. No session resumption, but for a server context with
 * ticket_lifetime (tls.h; stateful tickets with session_cache, tls_openssl_scache.c):
 * even then every connection's peer certificate is verified against the CA and CRL in
 * force now (tls_ossl_reverify).
 *
 * Every file is read by tls_file_read and parsed from memory, so errors name the file
 * and the reason; a context is built whole and put in force only when every file
 * loaded (tls_ctx_reload). */

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "lib/str.h"
#include "lib/tls_openssl_int.h"

#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!PSK:!SHA1"
/* Key exchange groups, TLS 1.2 and 1.3: elliptic curves only (OpenSSL 3 would also
 * take the finite-field ffdhe groups in TLS 1.3); the same list as the GnuTLS backend. */
#define TLS_GROUPS "X25519:P-256:P-384:X448:P-521"

const char *tls_backend(void)
{
	return "openssl";
}

const char *tls_ossl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : fallback;
}

BIO *tls_ossl_bio(const struct buf *b)
{
	return BIO_new_mem_buf(b->data, (int)b->len);
}

/* Never prompts for a passphrase (a daemon has no terminal): an encrypted key fails. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static int ctx_policy(SSL_CTX *c, char *err, size_t errlen)
{
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                           SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET |
	                           SSL_OP_IGNORE_UNEXPECTED_EOF |
	                           /* a reused process (lib/master.h) keeps no peer's cleartext */
	                           SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* one read() takes whatever records have arrived, instead of a record's 5-byte
	 * header and then its body: half the reads of a relayed command (tls_pending
	 * therefore asks SSL_has_pending, which sees the bytes read ahead) */
	SSL_CTX_set_read_ahead(c, 1);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c, 0);
	SSL_CTX_set_security_level(c, 2);
	if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1 || SSL_CTX_set1_groups_list(c, TLS_GROUPS) != 1) {
		(void)tls_errf(err, errlen, "TLS policy: %s",
		               tls_ossl_reason("cannot set protocol or ciphers"));
		return -1;
	}
	return 0;
}

/* Loads the leaf and its chain from a PEM file. */
static int load_chain(SSL_CTX *c, const char *file, char *err, size_t errlen)
{
	struct buf pem;
	BIO *bio;
	X509 *x;
	int rc = -1;

	buf_init(&pem, TLS_CERT_MAX_BYTES);
	if (tls_file_read(file, "certificate file", TLS_CERT_MAX_BYTES, &pem, NULL, err, errlen) < 0)
		goto out;
	bio = tls_ossl_bio(&pem);
	x = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL);
	if (!x) {
		(void)tls_errf(err, errlen, "no certificate in certificate file %s: %s", file,
		               tls_ossl_reason("bad PEM"));
	} else if (SSL_CTX_use_certificate(c, x) != 1) {
		(void)tls_errf(err, errlen, "certificate file %s: %s", file, tls_ossl_reason("unusable"));
	} else {
		rc = 0;
		while (rc == 0) {
			X509 *ca = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);

			if (!ca)
				break;
			if (SSL_CTX_add0_chain_cert(c, ca) != 1) {
				X509_free(ca);
				(void)tls_errf(err, errlen, "certificate file %s: %s", file,
				               tls_ossl_reason("bad chain"));
				rc = -1;
			}
		}
		ERR_clear_error(); /* the chain ends on "no start line" */
	}
	X509_free(x);
	BIO_free(bio);
out:
	buf_free(&pem);
	return rc;
}

static int key_mismatch(const char *key, const char *cert, char *err, size_t errlen)
{
	unsigned long e = ERR_peek_last_error();

	if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
		ERR_clear_error();
		(void)tls_errf(err, errlen, "key file %s does not match certificate file %s", key, cert);
	} else {
		(void)tls_errf(err, errlen, "key file %s: %s", key, tls_ossl_reason("unusable key"));
	}
	return -1;
}

/* Reads the key into memory that is wiped afterwards; the EVP_PKEY keeps the key. */
static int load_key_file(SSL_CTX *c, const char *key, const char *cert, char *err, size_t errlen)
{
	struct buf pem;
	EVP_PKEY *pk = NULL;
	BIO *bio;
	int rc = -1;

	buf_init(&pem, TLS_CERT_MAX_BYTES);
	if (tls_file_read(key, "key file", TLS_CERT_MAX_BYTES, &pem, NULL, err, errlen) == 0) {
		bio = tls_ossl_bio(&pem);
		pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
		if (!pk)
			(void)tls_errf(err, errlen, "no usable private key in key file %s: %s", key,
			               tls_ossl_reason("bad PEM"));
		else if (SSL_CTX_use_PrivateKey(c, pk) != 1 || SSL_CTX_check_private_key(c) != 1)
			(void)key_mismatch(key, cert, err, errlen);
		else
			rc = 0;
	}
	EVP_PKEY_free(pk);
	tls_secret_free(&pem);
	return rc;
}

static int load_agent_key(struct tls_ctx *ctx, SSL_CTX *c, struct tls_agent_key **akey_r, char *err,
                          size_t errlen)
{
	EVP_PKEY *pk = tls_ossl_agent_pkey(SSL_CTX_get0_certificate(c), ctx->agent_fd, akey_r, err, errlen);
	int rc = 0;

	if (!pk)
		return -1;
	/* A certificate whose key the agent does not hold is refused now, as a key file
	 * that does not match it is, not at the first handshake. */
	if (tls_ossl_agent_key_check(*akey_r, ctx->key_file, ctx->cert_file, err, errlen) < 0) {
		EVP_PKEY_free(pk);
		*akey_r = NULL;
		return -1;
	}
	if (SSL_CTX_use_PrivateKey(c, pk) != 1) {
		(void)tls_errf(err, errlen, "key agent for certificate file %s: %s", ctx->cert_file,
		               tls_ossl_reason("key not usable"));
		rc = -1;
	}
	EVP_PKEY_free(pk);
	return rc;
}

/* Certificate and key: both, or (client side) neither. */
static int load_cert(struct tls_ctx *ctx, SSL_CTX *c, struct tls_agent_key **akey_r, char *err, size_t errlen)
{
	bool has_key = ctx->use_agent || *ctx->key_file != '\0';

	if (ctx->client && !*ctx->cert_file && !has_key)
		return 0;
	if (!*ctx->cert_file || !has_key)
		return tls_errf(err, errlen, "TLS certificate and key files must be set");
	if (load_chain(c, ctx->cert_file, err, errlen) < 0)
		return -1;
	if (ctx->use_agent)
		return load_agent_key(ctx, c, akey_r, err, errlen);
	return load_key_file(c, ctx->key_file, ctx->cert_file, err, errlen);
}

/* Reads the CAs of ca_file into cas; the server also names them in its
 * CertificateRequest so that clients pick the right certificate. */
static int load_cas(struct tls_ctx *ctx, SSL_CTX *c, STACK_OF(X509) * cas, char *err, size_t errlen)
{
	struct buf pem;
	BIO *bio;
	X509 *x;
	int rc = 0;

	buf_init(&pem, TLS_CA_MAX_BYTES);
	if (tls_file_read(ctx->ca_file, "CA file", TLS_CA_MAX_BYTES, &pem, NULL, err, errlen) < 0) {
		buf_free(&pem);
		return -1;
	}
	bio = tls_ossl_bio(&pem);
	while (rc == 0 && (x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
		if (!ctx->client && SSL_CTX_add_client_CA(c, x) != 1)
			rc = tls_errf(err, errlen, "CA file %s: %s", ctx->ca_file, tls_ossl_reason("bad CA"));
		if (sk_X509_push(cas, x) <= 0)
			X509_free(x);
	}
	ERR_clear_error();
	BIO_free(bio);
	buf_free(&pem);
	if (rc == 0 && sk_X509_num(cas) == 0)
		rc = tls_errf(err, errlen, "no CA certificate in CA file %s", ctx->ca_file);
	return rc;
}

static int verify_mode(const struct tls_ctx *ctx)
{
	if (ctx->client)
		return SSL_VERIFY_PEER;
	if (ctx->client_cert == TLS_CLIENT_CERT_OPTIONAL)
		return SSL_VERIFY_PEER;
	if (ctx->client_cert == TLS_CLIENT_CERT_REQUIRE)
		return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	return SSL_VERIFY_NONE;
}

/* Session tickets (tls.h), one per handshake, resumable for ticket_lifetime. With
 * session_cache they name a session kept in a table shared by the processes forked
 * from the context (tls_openssl_scache.c: a third of the decoding a stateless ticket
 * costs); otherwise (or if the table cannot be made) they are stateless, sealed with
 * the key SSL_CTX_new drew (a new context, a new key). No early data: a resumed
 * connection is answered only after its handshake, whose certificate
 * tls_ossl_reverify checks again. */
static void allow_tickets(struct tls_ctx *ctx)
{
	SSL_CTX_clear_options(ctx->ssl_ctx, SSL_OP_NO_TICKET);
	if (ctx->session_cache > 0)
		(void)tls_ossl_scache_on(ctx->ssl_ctx, ctx->session_cache);
	SSL_CTX_set_num_tickets(ctx->ssl_ctx, 1);
	SSL_CTX_set_timeout(ctx->ssl_ctx, (long)ctx->ticket_lifetime);
	SSL_CTX_set_max_early_data(ctx->ssl_ctx, 0);
	ctx->ticket_since = time(NULL);
}

int tls_ctx_rotate_tickets(struct tls_ctx *ctx)
{
	unsigned char keys[80]; /* name 16, HMAC 32, AES 32: OpenSSL's ticket key layout */

	if (ctx == NULL || ctx->client || ctx->ticket_lifetime == 0 ||
	    time(NULL) - ctx->ticket_since < (time_t)ctx->ticket_lifetime)
		return 0;
	/* the sessions kept are what a ticket key is to stateless tickets */
	if (!tls_ossl_scache_clear(ctx->ssl_ctx)) {
		if (RAND_priv_bytes(keys, sizeof(keys)) != 1 ||
		    SSL_CTX_set_tlsext_ticket_keys(ctx->ssl_ctx, keys, sizeof(keys)) != 1) {
			ERR_clear_error();
			OPENSSL_cleanse(keys, sizeof(keys));
			return 0;
		}
		OPENSSL_cleanse(keys, sizeof(keys));
	}
	ctx->ticket_since = time(NULL);
	return 1;
}

void tls_ctx_set_ticket_lifetime(struct tls_ctx *ctx, unsigned seconds)
{
	if (ctx == NULL || ctx->client || ctx->ticket_lifetime == seconds)
		return;
	ctx->ticket_lifetime = seconds;
	if (seconds > 0) {
		allow_tickets(ctx);
		return;
	}
	/* as ctx_policy: no ticket issued, and with TLS 1.3 no stateful session either */
	tls_ossl_scache_off(ctx->ssl_ctx);
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx->ssl_ctx, 0);
}

/* The chain sent with our certificate, when its file holds none: built here once, from
 * the store of tls_ca, as OpenSSL would otherwise build it at every full handshake (an
 * X509_verify_cert with its signature and CRL checks, about a third of the handshake's
 * certificate checks on the MX port). Same certificates sent; errors ignored as there. */
static void build_chain(SSL_CTX *c)
{
	STACK_OF(X509) *chain = NULL;

	if (SSL_CTX_get0_certificate(c) == NULL || SSL_CTX_get0_chain_certs(c, &chain) != 1 ||
	    sk_X509_num(chain) > 0)
		return;
	(void)SSL_CTX_build_cert_chain(c,
	                               SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR | SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR);
	ERR_clear_error(); /* a chain that cannot be built is left to the handshake, as before */
}

/* Builds ctx->ssl_ctx, cas and the CRL state from the files named in ctx. */
static int ctx_build(struct tls_ctx *ctx, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "mss";
	bool has_ca = *ctx->ca_file != '\0';

	ERR_clear_error();
	if (!ctx->client && ctx->client_cert != TLS_CLIENT_CERT_NONE && !has_ca)
		return tls_errf(err, errlen, "client certificates need a CA file (tls_ca)");
	if (ctx->client && !has_ca)
		return tls_errf(err, errlen, "a TLS client needs a CA file to verify servers");
	ctx->ssl_ctx = SSL_CTX_new(ctx->client ? TLS_client_method() : TLS_server_method());
	ctx->cas = sk_X509_new_null();
	if (!ctx->ssl_ctx || !ctx->cas)
		return tls_errf(err, errlen, "TLS context: %s", tls_ossl_reason("cannot create"));
	SSL_CTX_set_session_id_context(ctx->ssl_ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (ctx_policy(ctx->ssl_ctx, err, errlen) < 0)
		return -1;
	if (!ctx->client && ctx->ticket_lifetime > 0)
		allow_tickets(ctx);
	if (load_cert(ctx, ctx->ssl_ctx, &ctx->akey, err, errlen) < 0)
		return -1;
	if (has_ca && load_cas(ctx, ctx->ssl_ctx, ctx->cas, err, errlen) < 0)
		return -1;
	if (tls_ossl_store_install(ctx, NULL, err, errlen) < 0)
		return -1;
	build_chain(ctx->ssl_ctx);
	if (tls_crl_watch_init(&ctx->crl, ctx->crl_file, tls_ossl_crl_install, ctx, err, errlen) < 0)
		return -1;
	SSL_CTX_set_verify(ctx->ssl_ctx, verify_mode(ctx), tls_ossl_verify_cb);
	SSL_CTX_set_verify_depth(ctx->ssl_ctx, TLS_VERIFY_DEPTH);
	ERR_clear_error();
	return 0;
}

static char *dup_opt(const char *s)
{
	return xstrdup(s ? s : "");
}

/* Frees the material (not the names): the state of a failed build, or the old one. */
static void ctx_material_free(struct tls_ctx *ctx)
{
	SSL_CTX_free(ctx->ssl_ctx);
	sk_X509_pop_free(ctx->cas, X509_free);
	tls_crl_watch_free(&ctx->crl);
	ctx->ssl_ctx = NULL;
	ctx->cas = NULL;
	ctx->akey = NULL; /* owned by the key inside ssl_ctx */
}

static struct tls_ctx *ctx_new(struct tls_ctx *ctx, char *err, size_t errlen)
{
	if (ctx_build(ctx, err, errlen) == 0)
		return ctx;
	ERR_clear_error();
	tls_ctx_free(ctx);
	return NULL;
}

struct tls_ctx *tls_server_ctx_new(const struct tls_server_opts *o, char *err, size_t errlen)
{
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));

	ctx->client_cert = o->client_cert;
	ctx->cert_file = dup_opt(o->cert_file);
	ctx->key_file = dup_opt(o->key_file);
	ctx->ca_file = dup_opt(o->ca_file);
	ctx->crl_file = dup_opt(o->crl_file);
	ctx->use_agent = o->use_key_agent;
	ctx->agent_fd = o->use_key_agent ? o->key_agent_fd : -1;
	ctx->ticket_lifetime = o->ticket_lifetime;
	ctx->session_cache = o->session_cache;
	return ctx_new(ctx, err, errlen);
}

struct tls_ctx *tls_client_ctx_new(const struct tls_client_opts *o, char *err, size_t errlen)
{
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));

	ctx->client = true;
	ctx->cert_file = dup_opt(o->cert_file);
	ctx->key_file = dup_opt(o->key_file);
	ctx->ca_file = dup_opt(o->ca_file);
	ctx->crl_file = dup_opt(o->crl_file);
	ctx->use_agent = o->use_key_agent;
	ctx->agent_fd = o->use_key_agent ? o->key_agent_fd : -1;
	return ctx_new(ctx, err, errlen);
}

int tls_ctx_reload(struct tls_ctx *ctx, const struct tls_files *files, char *err, size_t errlen)
{
	char **names[4] = {&ctx->cert_file, &ctx->key_file, &ctx->ca_file, &ctx->crl_file};
	char *old[4];
	struct tls_ctx next;

	tls_names_swap(names, files, old);
	next = *ctx;
	next.ssl_ctx = NULL;
	next.cas = NULL;
	next.akey = NULL;
	memset(&next.crl, 0, sizeof(next.crl));
	if (ctx_build(&next, err, errlen) < 0) {
		ctx_material_free(&next);
		ERR_clear_error();
		tls_names_settle(names, files, old, false);
		return -1;
	}
	tls_names_settle(names, files, old, true);
	/* Sessions in progress hold their own reference to the old SSL_CTX. */
	SSL_CTX_free(ctx->ssl_ctx);
	sk_X509_pop_free(ctx->cas, X509_free);
	ctx->ssl_ctx = next.ssl_ctx;
	ctx->cas = next.cas;
	ctx->akey = next.akey;
	tls_crl_watch_take(&ctx->crl, &next.crl);
	/* The CRL install callback points at the context it was built for. */
	ctx->crl.backend = ctx;
	return 0;
}

int tls_ctx_reload_crl(struct tls_ctx *ctx, char *err, size_t errlen)
{
	return tls_crl_watch_reload(&ctx->crl, err, errlen);
}

void tls_ctx_check_crl(struct tls_ctx *ctx)
{
	tls_crl_watch_check(&ctx->crl);
}

void tls_ctx_settle_crl(struct tls_ctx *ctx)
{
	tls_crl_watch_settle(&ctx->crl);
}

int tls_ctx_set_key_agent(struct tls_ctx *ctx, int fd)
{
	if (!ctx->use_agent || !ctx->akey)
		return -1;
	ctx->agent_fd = fd;
	tls_ossl_agent_key_set_fd(ctx->akey, fd);
	return 0;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	ctx_material_free(ctx);
	free(ctx->cert_file);
	free(ctx->key_file);
	free(ctx->ca_file);
	free(ctx->crl_file);
	free(ctx);
}

int tls_cert_file_client_ok(const char *file)
{
	FILE *f = fopen(file, "r");
	if (f == NULL)
		return -1;
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		ERR_clear_error();
		return -1;
	}
	/* UINT32_MAX when the certificate has no extended key usage: any purpose */
	uint32_t xku = X509_get_extended_key_usage(x);
	X509_free(x);
	return (xku & (XKU_SSL_CLIENT | XKU_ANYEKU)) != 0;
}
