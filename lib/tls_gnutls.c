/* tls_gnutls.c: lib/tls.h contexts on GnuTLS (./configure --with-tls=gnutls). Sessions:
 * tls_gnutls_sess.c; verification and CRLs: tls_gnutls_crl.c; peer identity:
 * tls_gnutls_peer.c; agent-held keys: tls_gnutls_key.c, tls_gnutls_agent.c.
 *
 * The same policy as the OpenSSL backend, in GnuTLS's priority language: TLS 1.3 and
 * 1.2 only; TLS 1.2 suites ECDHE with AES-GCM or ChaCha20-Poly1305 only; TLS 1.3 AEAD
 * suites; signature algorithms of SHA-256 and up; elliptic-curve groups only, the
 * OpenSSL backend's list (NORMAL would also take ffdhe in TLS 1.3); the server's order.
 * No session cache, and no tickets (GNUTLS_NO_TICKETS) but for a server context with
 * ticket_lifetime (tls.h): even then every connection's peer certificate is verified
 * against the CA and CRL in force now (tls_gnutls_reverify). GnuTLS never renegotiates
 * on its own; a client's request is answered with a no_renegotiation alert (tls_read). */
#include <stdlib.h>
#include <string.h>

#include "lib/tls_gnutls_int.h"

#define TLS_PRIORITY                                                                                         \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:+AES-256-"   \
	"GCM:"                                                                                               \
	"+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-SIGN-ALL:+SIGN-ECDSA-SECP256R1-SHA256:"             \
	"+SIGN-ECDSA-SECP384R1-SHA384:+SIGN-ECDSA-SECP521R1-SHA512:+SIGN-ECDSA-SHA256:+SIGN-ECDSA-SHA384:"   \
	"+SIGN-ECDSA-SHA512:+SIGN-RSA-PSS-RSAE-SHA256:+SIGN-RSA-PSS-RSAE-SHA384:+SIGN-RSA-PSS-RSAE-SHA512:"  \
	"+SIGN-RSA-SHA256:+SIGN-RSA-SHA384:+SIGN-RSA-SHA512:+SIGN-EdDSA-Ed25519:-GROUP-ALL:+GROUP-X25519:"   \
	"+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-X448:+GROUP-SECP521R1:%SERVER_PRECEDENCE"
/* GnuTLS counts the chain's certificates; OpenSSL's depth 5 allows leaf, 5 CAs, root. */
#define TLS_GNUTLS_MAX_DEPTH (TLS_VERIFY_DEPTH + 2)

const char *tls_backend(void)
{
	return "gnutls";
}

const char *tls_gnutls_reason(int rc)
{
	return gnutls_strerror(rc);
}

static gnutls_datum_t datum(const struct buf *b)
{
	return (gnutls_datum_t){.data = (unsigned char *)b->data, .size = (unsigned)b->len};
}

static void ticket_key_free(struct tls_ctx *ctx)
{
	if (ctx->ticket_key.data == NULL)
		return;
	gnutls_memset(ctx->ticket_key.data, 0, ctx->ticket_key.size);
	gnutls_free(ctx->ticket_key.data);
	ctx->ticket_key = (gnutls_datum_t){NULL, 0};
}

/* Puts a new random ticket key in force (tls.h), the previous one wiped. GnuTLS wants
 * its own format (gnutls_session_ticket_key_generate: a master key from which it
 * derives the keys that encrypt and authenticate tickets). Returns 0, or a GnuTLS
 * error with the previous key still in force. */
static int ticket_key_new(struct tls_ctx *ctx)
{
	gnutls_datum_t key = {NULL, 0};
	int rc = gnutls_session_ticket_key_generate(&key);

	if (rc < 0)
		return rc;
	ticket_key_free(ctx);
	ctx->ticket_key = key;
	ctx->ticket_since = time(NULL);
	return 0;
}

void tls_gtrust_unref(struct tls_gtrust *t)
{
	if (!t || --t->refs > 0)
		return;
	gnutls_x509_trust_list_deinit(t->tl, 1);
	for (unsigned i = 0; i < t->ncrl; i++)
		gnutls_free(t->crl_issuers[i].data);
	free(t->crl_issuers);
	free(t);
}

void tls_gen_unref(struct tls_gen *g)
{
	if (!g || --g->refs > 0)
		return;
	if (g->cred)
		gnutls_certificate_free_credentials(g->cred);
	for (unsigned i = 0; i < g->nca; i++) {
		gnutls_free(g->ca_der[i].data);
		gnutls_x509_crt_deinit(g->cas[i]);
	}
	free(g->ca_der);
	free(g->cas);
	tls_gtrust_unref(g->trust);
	free(g);
}

/* Reads a PEM chain, leaf first. */
static int read_chain(const char *file, gnutls_x509_crt_t **crts, unsigned *n, char *err, size_t errlen)
{
	struct buf pem;
	gnutls_datum_t d;
	int rc;

	buf_init(&pem, TLS_CERT_MAX_BYTES);
	if (tls_file_read(file, "certificate file", TLS_CERT_MAX_BYTES, &pem, NULL, err, errlen) < 0) {
		buf_free(&pem);
		return -1;
	}
	d = datum(&pem);
	rc = gnutls_x509_crt_list_import2(crts, n, &d, GNUTLS_X509_FMT_PEM,
	                                  GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	buf_free(&pem);
	if (rc < 0 || *n == 0)
		return tls_errf(err, errlen, "no certificate in certificate file %s: %s", file,
		                rc < 0 ? tls_gnutls_reason(rc) : "empty");
	return 0;
}

static void free_chain(gnutls_x509_crt_t *crts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
}

/* The key from key_file; the PEM buffer is wiped. */
static int read_key(const char *file, gnutls_x509_privkey_t *key, char *err, size_t errlen)
{
	struct buf pem;
	gnutls_datum_t d;
	int rc;

	buf_init(&pem, TLS_CERT_MAX_BYTES);
	if (tls_file_read(file, "key file", TLS_CERT_MAX_BYTES, &pem, NULL, err, errlen) < 0) {
		tls_secret_free(&pem);
		return -1;
	}
	d = datum(&pem);
	rc = gnutls_x509_privkey_init(key);
	if (rc == 0)
		rc = gnutls_x509_privkey_import2(*key, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
	tls_secret_free(&pem);
	if (rc < 0) {
		gnutls_x509_privkey_deinit(*key);
		*key = NULL;
		return tls_errf(err, errlen, "no usable private key in key file %s: %s", file,
		                tls_gnutls_reason(rc));
	}
	return 0;
}

static int set_file_key(struct tls_ctx *ctx, struct tls_gen *g, gnutls_x509_crt_t *crts, unsigned n,
                        char *err, size_t errlen)
{
	gnutls_x509_privkey_t key = NULL;
	int rc;

	if (read_key(ctx->key_file, &key, err, errlen) < 0)
		return -1;
	rc = gnutls_certificate_set_x509_key(g->cred, crts, n, key);
	gnutls_x509_privkey_deinit(key); /* the credentials keep a copy */
	if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
		return tls_errf(err, errlen, "key file %s does not match certificate file %s", ctx->key_file,
		                ctx->cert_file);
	if (rc < 0)
		return tls_errf(err, errlen, "key file %s: %s", ctx->key_file, tls_gnutls_reason(rc));
	return 0;
}

static int set_agent_key(struct tls_ctx *ctx, struct tls_gen *g, gnutls_x509_crt_t *crts, unsigned n,
                         char *err, size_t errlen)
{
	gnutls_pcert_st *pcerts = xcalloc(n, sizeof(*pcerts));
	gnutls_privkey_t key = NULL;
	unsigned got = n;
	int rc = gnutls_pcert_import_x509_list(pcerts, crts, &got, 0);

	if (rc < 0) {
		free(pcerts);
		return tls_errf(err, errlen, "certificate file %s: %s", ctx->cert_file,
		                tls_gnutls_reason(rc));
	}
	rc = tls_gnutls_agent_privkey(crts[0], ctx->agent_fd, &key, &g->akey, err, errlen);
	if (rc == 0 && tls_gnutls_agent_key_check(g->akey, ctx->key_file, ctx->cert_file, err, errlen) < 0) {
		gnutls_privkey_deinit(key); /* releases g->akey too */
		g->akey = NULL;
		rc = -1;
	}
	if (rc < 0) {
		for (unsigned i = 0; i < got; i++)
			gnutls_pcert_deinit(&pcerts[i]);
		free(pcerts);
		return -1;
	}
	/* The credentials take the certificates and the key (and copy the array). */
	rc = gnutls_certificate_set_key(g->cred, NULL, 0, pcerts, (int)got, key);
	free(pcerts);
	if (rc < 0)
		return tls_errf(err, errlen, "key agent for certificate file %s: %s", ctx->cert_file,
		                tls_gnutls_reason(rc));
	return 0;
}

static int load_cert(struct tls_ctx *ctx, struct tls_gen *g, char *err, size_t errlen)
{
	bool has_key = ctx->use_agent || *ctx->key_file != '\0';
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;
	int rc;

	if (ctx->client && !*ctx->cert_file && !has_key)
		return 0;
	if (!*ctx->cert_file || !has_key)
		return tls_errf(err, errlen, "TLS certificate and key files must be set");
	if (read_chain(ctx->cert_file, &crts, &n, err, errlen) < 0)
		return -1;
	rc = ctx->use_agent ? set_agent_key(ctx, g, crts, n, err, errlen)
	                    : set_file_key(ctx, g, crts, n, err, errlen);
	free_chain(crts, n);
	return rc;
}

/* Reads the CAs of ca_file; the server also names them in its CertificateRequest. */
static int load_cas(struct tls_ctx *ctx, struct tls_gen *g, char *err, size_t errlen)
{
	struct buf pem;
	gnutls_datum_t d;
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;
	int rc;

	buf_init(&pem, TLS_CA_MAX_BYTES);
	if (tls_file_read(ctx->ca_file, "CA file", TLS_CA_MAX_BYTES, &pem, NULL, err, errlen) < 0) {
		buf_free(&pem);
		return -1;
	}
	d = datum(&pem);
	rc = gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0);
	buf_free(&pem);
	if (rc < 0 || n == 0)
		return tls_errf(err, errlen, "no CA certificate in CA file %s", ctx->ca_file);
	g->cas = xcalloc(n, sizeof(*g->cas));
	g->ca_der = xcalloc(n, sizeof(*g->ca_der));
	for (unsigned i = 0; i < n; i++) {
		g->cas[i] = crts[i];
		g->nca++;
		rc = gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER, &g->ca_der[i]);
		if (rc < 0) {
			for (unsigned j = i + 1; j < n; j++)
				gnutls_x509_crt_deinit(crts[j]);
			gnutls_free(crts);
			return tls_errf(err, errlen, "CA file %s: %s", ctx->ca_file, tls_gnutls_reason(rc));
		}
	}
	gnutls_free(crts);
	if (!ctx->client && (rc = gnutls_certificate_set_x509_trust(g->cred, g->cas, (int)g->nca)) < 0)
		return tls_errf(err, errlen, "CA file %s: %s", ctx->ca_file, tls_gnutls_reason(rc));
	return 0;
}

static struct tls_gen *gen_build(struct tls_ctx *ctx, char *err, size_t errlen)
{
	struct tls_gen *g = xcalloc(1, sizeof(*g));
	bool has_ca = *ctx->ca_file != '\0';
	int rc;

	g->refs = 1;
	if (!ctx->client && ctx->client_cert != TLS_CLIENT_CERT_NONE && !has_ca)
		rc = tls_errf(err, errlen, "client certificates need a CA file (tls_ca)");
	else if (ctx->client && !has_ca)
		rc = tls_errf(err, errlen, "a TLS client needs a CA file to verify servers");
	else if ((rc = gnutls_certificate_allocate_credentials(&g->cred)) < 0)
		rc = tls_errf(err, errlen, "TLS credentials: %s", tls_gnutls_reason(rc));
	else
		rc = load_cert(ctx, g, err, errlen);
	if (rc == 0 && has_ca)
		rc = load_cas(ctx, g, err, errlen);
	if (rc == 0)
		rc = tls_gnutls_trust_install(g, NULL, 0, err, errlen);
	if (rc < 0) {
		tls_gen_unref(g);
		return NULL;
	}
	gnutls_certificate_set_verify_function(g->cred, tls_gnutls_verify);
	gnutls_certificate_set_verify_limits(g->cred, 16384, TLS_GNUTLS_MAX_DEPTH);
	return g;
}

/* Builds the material and loads the CRL into it; the CRL watch of the context is
 * set up in w (ctx->crl, or a new one for a reload). */
static struct tls_gen *ctx_build(struct tls_ctx *ctx, struct tls_crl_watch *w, char *err, size_t errlen)
{
	struct tls_gen *g = gen_build(ctx, err, errlen);
	struct tls_gen *prev = ctx->gen;

	if (!g)
		return NULL;
	/* The CRL installer works on ctx->gen: point it at the new material meanwhile. */
	ctx->gen = g;
	if (tls_crl_watch_init(w, ctx->crl_file, tls_gnutls_crl_install, ctx, err, errlen) < 0) {
		ctx->gen = prev;
		tls_crl_watch_free(w);
		tls_gen_unref(g);
		return NULL;
	}
	ctx->gen = prev;
	return g;
}

static struct tls_ctx *ctx_new(struct tls_ctx *ctx, char *err, size_t errlen)
{
	const char *where = NULL;
	int rc = gnutls_priority_init(&ctx->prio, TLS_PRIORITY, &where);

	if (rc < 0) {
		(void)tls_errf(err, errlen, "TLS policy: %s (at %s)", tls_gnutls_reason(rc),
		               where ? where : "?");
		tls_ctx_free(ctx);
		return NULL;
	}
	ctx->gen = ctx_build(ctx, &ctx->crl, err, errlen);
	if (!ctx->gen) {
		tls_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

static char *dup_opt(const char *s)
{
	return xstrdup(s ? s : "");
}

struct tls_ctx *tls_server_ctx_new(const struct tls_server_opts *o, char *err, size_t errlen)
{
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	int rc;

	ctx->client_cert = o->client_cert;
	ctx->cert_file = dup_opt(o->cert_file);
	ctx->key_file = dup_opt(o->key_file);
	ctx->ca_file = dup_opt(o->ca_file);
	ctx->crl_file = dup_opt(o->crl_file);
	ctx->use_agent = o->use_key_agent;
	ctx->agent_fd = o->use_key_agent ? o->key_agent_fd : -1;
	ctx->ticket_lifetime = o->ticket_lifetime;
	if (ctx->ticket_lifetime > 0 && (rc = ticket_key_new(ctx)) < 0) {
		(void)tls_errf(err, errlen, "TLS session ticket key: %s", tls_gnutls_reason(rc));
		tls_ctx_free(ctx);
		return NULL;
	}
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
	struct tls_crl_watch w;
	struct tls_gen *g;

	tls_names_swap(names, files, old);
	g = ctx_build(ctx, &w, err, errlen);
	tls_names_settle(names, files, old, g != NULL);
	if (!g)
		return -1;
	tls_gen_unref(ctx->gen); /* sessions in progress hold their own reference */
	ctx->gen = g;
	tls_crl_watch_take(&ctx->crl, &w);
	ctx->crl.backend = ctx;
	/* as OpenSSL's new SSL_CTX draws a new ticket key; if this fails, the old one
	 * stays until tls_ctx_rotate_tickets replaces it */
	if (!ctx->client && ctx->ticket_lifetime > 0)
		(void)ticket_key_new(ctx);
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

int tls_ctx_rotate_tickets(struct tls_ctx *ctx)
{
	if (ctx == NULL || ctx->client || ctx->ticket_lifetime == 0 ||
	    time(NULL) - ctx->ticket_since < (time_t)ctx->ticket_lifetime)
		return 0;
	return ticket_key_new(ctx) == 0 ? 1 : 0;
}

void tls_ctx_set_ticket_lifetime(struct tls_ctx *ctx, unsigned seconds)
{
	if (ctx == NULL || ctx->client || ctx->ticket_lifetime == seconds)
		return;
	ctx->ticket_lifetime = seconds;
	if (seconds == 0)
		ticket_key_free(ctx); /* sessions start with GNUTLS_NO_TICKETS (tls_gnutls_sess.c) */
	else if (ctx->ticket_key.data == NULL)
		(void)ticket_key_new(ctx); /* if this fails, no tickets until it can be made */
}

int tls_ctx_set_key_agent(struct tls_ctx *ctx, int fd)
{
	if (!ctx->use_agent || !ctx->gen->akey)
		return -1;
	ctx->agent_fd = fd;
	tls_gnutls_agent_key_set_fd(ctx->gen->akey, fd);
	return 0;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	tls_gen_unref(ctx->gen);
	tls_crl_watch_free(&ctx->crl);
	ticket_key_free(ctx);
	if (ctx->prio)
		gnutls_priority_deinit(ctx->prio);
	free(ctx->cert_file);
	free(ctx->key_file);
	free(ctx->ca_file);
	free(ctx->crl_file);
	free(ctx);
}

int tls_cert_file_client_ok(const char *file)
{
	gnutls_datum_t pem = {NULL, 0};
	gnutls_x509_crt_t crt;
	if (gnutls_load_file(file, &pem) < 0)
		return -1;
	if (gnutls_x509_crt_init(&crt) < 0) {
		gnutls_free(pem.data);
		return -1;
	}
	int rc = gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM);
	gnutls_free(pem.data);
	int ok = rc < 0 ? -1 : 1; /* no extended key usage: any purpose */
	for (unsigned i = 0; ok >= 0; i++) {
		char oid[128];
		size_t len = sizeof oid;
		rc = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &len, NULL);
		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		ok = 0; /* the certificate lists its purposes: clientAuth must be one */
		if (rc == 0 &&
		    (strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0 || strcmp(oid, GNUTLS_KP_ANY) == 0)) {
			ok = 1;
			break;
		}
		if (rc < 0 && rc != GNUTLS_E_SHORT_MEMORY_BUFFER)
			break; /* unreadable list: not shown to allow clients */
	}
	gnutls_x509_crt_deinit(crt);
	return ok;
}
