/* tls_openssl_crl.c: CRLs on OpenSSL (the reload rules are in tls_crl_watch.c).
 *
 * A CRL file is parsed whole and each CRL checked before anything changes: it must be
 * issued by a CA of ca_file and its signature must verify with that CA's key, and it
 * must not be dated in the future. Only then is a new X509_STORE (the CAs and the new
 * CRLs) put in the SSL_CTX: handshakes that start afterwards use it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lib/tls_openssl_int.h"

int tls_ossl_verify_cb(int ok, X509_STORE_CTX *x)
{
	/* CONF.22: past its nextUpdate the CRL in force is still the best revocation
	 * information there is; tls_crl_watch warns about it. Revoked stays revoked. */
	if (!ok && X509_STORE_CTX_get_error(x) == X509_V_ERR_CRL_HAS_EXPIRED) {
		X509_STORE_CTX_set_error(x, X509_V_OK);
		return 1;
	}
	return ok;
}

/* ---- certificates verified against a store --------------------------------------- */

/* Peer certificates a resumption verified against one X509_STORE (its CAs and CRLs),
 * kept in the store itself: a reused process that sees the same operator's ticket again
 * skips X509_verify_cert (its chain walk and signature checks, about 5 % of a new MX
 * connection's CPU). A new CRL or CA file comes as a new store (tls_ossl_store_install),
 * which starts empty, so a certificate revoked since is verified again and refused. */
#define VERIFIED_MAX 16 /* distinct peer certificates kept per store: the oldest replaced */

struct verified {
	unsigned char fp[32];         /* SHA-256 of the certificate's DER */
	time_t not_before, not_after; /* where every certificate of the verified chain is valid */
};

struct verified_memo {
	unsigned n, next;
	struct verified e[VERIFIED_MAX];
};

static void memo_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	free(ptr);
}

static int memo_index(void)
{
	static int idx = -1;
	if (idx < 0)
		idx = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL, memo_free);
	return idx;
}

static bool memo_holds(X509_STORE *st, const unsigned char fp[32], time_t now)
{
	int idx = memo_index();
	struct verified_memo *m = idx >= 0 ? X509_STORE_get_ex_data(st, idx) : NULL;
	if (m == NULL)
		return false;
	for (unsigned i = 0; i < m->n; i++)
		if (memcmp(m->e[i].fp, fp, sizeof m->e[i].fp) == 0)
			return now >= m->e[i].not_before && now < m->e[i].not_after;
	return false;
}

/* The validity window shared by every certificate of chain; false when a date does
 * not convert. */
static bool chain_window(STACK_OF(X509) * chain, time_t *from, time_t *until)
{
	*from = 0;
	*until = (time_t)INT64_MAX;
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		struct tm b, a;
		if (ASN1_TIME_to_tm(X509_get0_notBefore(c), &b) != 1 ||
		    ASN1_TIME_to_tm(X509_get0_notAfter(c), &a) != 1)
			return false;
		time_t tb = timegm(&b), ta = timegm(&a);
		if (tb > *from)
			*from = tb;
		if (ta < *until)
			*until = ta;
	}
	return sk_X509_num(chain) > 0;
}

static void memo_add(X509_STORE *st, const unsigned char fp[32], STACK_OF(X509) * chain)
{
	int idx = memo_index();
	struct verified v;
	if (idx < 0 || !chain_window(chain, &v.not_before, &v.not_after))
		return;
	memcpy(v.fp, fp, sizeof v.fp);
	struct verified_memo *m = X509_STORE_get_ex_data(st, idx);
	if (m == NULL) {
		m = xcalloc(1, sizeof *m);
		if (X509_STORE_set_ex_data(st, idx, m) != 1) {
			free(m);
			return;
		}
	}
	m->e[m->next] = v;
	m->next = (m->next + 1) % VERIFIED_MAX;
	if (m->n < VERIFIED_MAX)
		m->n++;
}

int tls_ossl_reverify(SSL_CTX *c, SSL *ssl, char *err, size_t errlen)
{
	X509 *cert = tls_ossl_peer_cert(ssl);
	X509_STORE *st = SSL_CTX_get_cert_store(c);
	X509_STORE_CTX *x;
	unsigned char fp[32];
	unsigned fplen = 0;
	int rc = -1;

	if (cert == NULL) /* resumed from a session without a client certificate */
		return 0;
	bool has_fp = X509_digest(cert, EVP_sha256(), fp, &fplen) == 1 && fplen == sizeof fp;
	if (has_fp && memo_holds(st, fp, time(NULL)))
		return 0;
	x = X509_STORE_CTX_new();
	if (x == NULL || X509_STORE_CTX_init(x, st, cert, SSL_get_peer_cert_chain(ssl)) != 1) {
		(void)tls_errf(err, errlen, "%s", tls_ossl_reason("cannot verify the resumed certificate"));
	} else {
		/* as the handshake verifies a client: its purpose, depth and callback */
		X509_STORE_CTX_set_default(x, "ssl_client");
		X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(x), TLS_VERIFY_DEPTH);
		X509_STORE_CTX_set_verify_cb(x, tls_ossl_verify_cb);
		if (X509_verify_cert(x) == 1) {
			rc = 0;
			if (has_fp)
				memo_add(st, fp, X509_STORE_CTX_get0_chain(x));
		} else
			(void)tls_errf(err, errlen, "%s",
			               X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
	}
	X509_STORE_CTX_free(x);
	ERR_clear_error();
	return rc;
}

int tls_ossl_store_install(struct tls_ctx *ctx, STACK_OF(X509_CRL) * crls, char *err, size_t errlen)
{
	X509_STORE *st = X509_STORE_new();
	int i, ok = st != NULL;

	for (i = 0; ok && i < sk_X509_num(ctx->cas); i++)
		ok = X509_STORE_add_cert(st, sk_X509_value(ctx->cas, i)) == 1;
	for (i = 0; ok && i < sk_X509_CRL_num(crls); i++)
		ok = X509_STORE_add_crl(st, sk_X509_CRL_value(crls, i)) == 1;
	if (!ok) {
		X509_STORE_free(st);
		return tls_errf(err, errlen, "certificate store: %s", tls_ossl_reason("cannot build"));
	}
	/* CRL_CHECK checks the leaf: peer certificates are issued directly by a CA of
	 * ca_file, and the CRL file must hold that CA's CRL. */
	if (sk_X509_CRL_num(crls) > 0)
		X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
	SSL_CTX_set_cert_store(ctx->ssl_ctx, st); /* frees the previous store */
	return 0;
}

/* PEM: every CRL of the file; else one DER CRL. An empty result is an error. */
static STACK_OF(X509_CRL) * parse_crls(const struct buf *data, const char *path, char *err, size_t errlen)
{
	STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
	BIO *bio = tls_ossl_bio(data);
	X509_CRL *crl;

	while (crls && (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL)
		if (sk_X509_CRL_push(crls, crl) <= 0)
			X509_CRL_free(crl);
	ERR_clear_error(); /* the loop ends on "no start line" */
	BIO_free(bio);
	if (crls && sk_X509_CRL_num(crls) == 0 && !memmem(data->data, data->len, "-----BEGIN", 10)) {
		const unsigned char *p = (const unsigned char *)data->data;

		crl = d2i_X509_CRL(NULL, &p, (long)data->len);
		if (crl && p == (const unsigned char *)data->data + data->len &&
		    sk_X509_CRL_push(crls, crl) > 0)
			crl = NULL;
		X509_CRL_free(crl);
		ERR_clear_error();
	}
	if (crls && sk_X509_CRL_num(crls) > 0)
		return crls;
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	(void)tls_errf(err, errlen, "no CRL in file %s", path);
	return NULL;
}

static X509 *issuer_of(const struct tls_ctx *ctx, const X509_CRL *crl)
{
	for (int i = 0; i < sk_X509_num(ctx->cas); i++) {
		X509 *ca = sk_X509_value(ctx->cas, i);

		if (X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0)
			return ca;
	}
	return NULL;
}

/* Checks one CRL. Returns 0, -1 refused, -2 not valid yet (tried again later). */
static int check_crl(const struct tls_ctx *ctx, X509_CRL *crl, const char *path, time_t *next_update,
                     char *err, size_t errlen)
{
	X509 *ca = issuer_of(ctx, crl);
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	time_t t;

	if (!ca)
		return tls_errf(err, errlen, "CRL file %s: not issued by a CA of %s", path, ctx->ca_file);
	if (X509_CRL_verify(crl, X509_get0_pubkey(ca)) != 1) {
		ERR_clear_error();
		return tls_errf(err, errlen, "CRL file %s: signature does not verify with the CA of %s", path,
		                ctx->ca_file);
	}
	if (X509_cmp_current_time(X509_CRL_get0_lastUpdate(crl)) > 0)
		return (tls_errf(err, errlen, "CRL file %s: not valid yet (thisUpdate in the future)", path),
		        -2);
	if (next) {
		struct tm tm;

		if (ASN1_TIME_to_tm(next, &tm) == 1 && (t = timegm(&tm)) != (time_t)-1 &&
		    (*next_update == 0 || t < *next_update))
			*next_update = t;
	}
	return 0;
}

int tls_ossl_crl_install(void *backend, const char *path, const struct buf *data, time_t *next_update,
                         char *err, size_t errlen)
{
	struct tls_ctx *ctx = backend;
	STACK_OF(X509_CRL) *crls = parse_crls(data, path, err, errlen);
	int i, rc = 0;

	if (!crls)
		return -1;
	*next_update = 0;
	for (i = 0; rc == 0 && i < sk_X509_CRL_num(crls); i++)
		rc = check_crl(ctx, sk_X509_CRL_value(crls, i), path, next_update, err, errlen);
	if (rc == 0)
		rc = tls_ossl_store_install(ctx, crls, err, errlen);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	ERR_clear_error();
	return rc;
}
