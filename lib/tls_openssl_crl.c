/* tls_openssl_crl.c: CRLs on OpenSSL (the reload rules are in tls_crl_watch.c).
 *
 * A CRL file is parsed whole and each CRL checked before anything changes: it must be
 * issued by a CA of ca_file and its signature must verify with that CA's key, and it
 * must not be dated in the future. Only then is a new X509_STORE (the CAs and the new
 * CRLs) put in the SSL_CTX: handshakes that start afterwards use it. */
#include <string.h>

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

int tls_ossl_reverify(SSL_CTX *c, SSL *ssl, char *err, size_t errlen)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	X509_STORE_CTX *x;
	int rc = -1;

	if (cert == NULL) /* resumed from a session without a client certificate */
		return 0;
	x = X509_STORE_CTX_new();
	if (x == NULL ||
	    X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(c), cert, SSL_get_peer_cert_chain(ssl)) != 1) {
		(void)tls_errf(err, errlen, "%s", tls_ossl_reason("cannot verify the resumed certificate"));
	} else {
		/* as the handshake verifies a client: its purpose, depth and callback */
		X509_STORE_CTX_set_default(x, "ssl_client");
		X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(x), TLS_VERIFY_DEPTH);
		X509_STORE_CTX_set_verify_cb(x, tls_ossl_verify_cb);
		if (X509_verify_cert(x) == 1)
			rc = 0;
		else
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
