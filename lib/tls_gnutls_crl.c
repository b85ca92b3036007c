/* tls_gnutls_crl.c: peer verification and CRLs on GnuTLS (the reload rules are in
 * tls_crl_watch.c).
 *
 * Verification is ours, not GnuTLS's automatic one, so that both backends refuse the
 * same certificates with the same words: the chain is checked against a trust list
 * of the CAs and the CRLs in force (gnutls_x509_trust_list_verify_crt2, with the TLS
 * purpose), the CRL of the leaf's CA must be there when CRLs are configured (OpenSSL's
 * X509_V_FLAG_CRL_CHECK, "unable to get certificate CRL"), and GnuTLS's status bits
 * become OpenSSL's X509_verify_cert_error_string texts. GnuTLS checks revocation with
 * the CRLs of the trust list without looking at their nextUpdate: a CRL past it stays
 * in force (CONF.22), as the OpenSSL backend's verify callback arranges. */
#include <stdlib.h>
#include <string.h>

#include "lib/tls_gnutls_int.h"

#define TLS_MAX_PEER_CERTS 16

/* Copies of the CAs, for a trust list that will own them. Returns 0 or a GnuTLS error. */
static int copy_cas(const struct tls_gen *g, gnutls_x509_crt_t *cas)
{
	int rc = 0;
	unsigned i;

	for (i = 0; i < g->nca; i++) {
		if ((rc = gnutls_x509_crt_init(&cas[i])) < 0)
			break;
		if ((rc = gnutls_x509_crt_import(cas[i], &g->ca_der[i], GNUTLS_X509_FMT_DER)) < 0) {
			gnutls_x509_crt_deinit(cas[i]);
			break;
		}
	}
	if (rc < 0)
		while (i-- > 0)
			gnutls_x509_crt_deinit(cas[i]);
	return rc;
}

static struct tls_gtrust *trust_new(struct tls_gen *g, char *err, size_t errlen)
{
	struct tls_gtrust *t = xcalloc(1, sizeof(*t));
	gnutls_x509_crt_t *cas = xcalloc(g->nca ? g->nca : 1, sizeof(*cas));
	int rc;

	t->refs = 1;
	rc = gnutls_x509_trust_list_init(&t->tl, 0);
	if (rc == 0 && g->nca > 0 && (rc = copy_cas(g, cas)) == 0 &&
	    (rc = gnutls_x509_trust_list_add_cas(t->tl, cas, g->nca, 0)) < 0) {
		for (unsigned i = 0; i < g->nca; i++)
			gnutls_x509_crt_deinit(cas[i]);
	}
	free(cas); /* the list owns the certificates */
	if (rc < 0) {
		if (!t->tl)
			free(t);
		else
			tls_gtrust_unref(t);
		(void)tls_errf(err, errlen, "trust list: %s", tls_gnutls_reason(rc));
		return NULL;
	}
	return t;
}

int tls_gnutls_trust_install(struct tls_gen *g, gnutls_x509_crl_t *crls, unsigned ncrl, char *err,
                             size_t errlen)
{
	struct tls_gtrust *t = trust_new(g, err, errlen);
	int rc = 0;

	if (!t)
		return -1;
	t->crl_issuers = xcalloc(ncrl ? ncrl : 1, sizeof(*t->crl_issuers));
	for (unsigned i = 0; rc >= 0 && i < ncrl; i++)
		if ((rc = gnutls_x509_crl_get_raw_issuer_dn(crls[i], &t->crl_issuers[i])) >= 0)
			t->ncrl++;
	/* Not GNUTLS_TL_VERIFY_CRL: it would drop a CRL past its nextUpdate. Each CRL was
	 * verified against the CAs before (check_crl). */
	if (rc >= 0 && ncrl > 0)
		rc = gnutls_x509_trust_list_add_crls(t->tl, crls, ncrl, 0, 0);
	if (rc < 0) {
		tls_gtrust_unref(t);
		return tls_errf(err, errlen, "trust list: %s", tls_gnutls_reason(rc));
	}
	tls_gtrust_unref(g->trust);
	g->trust = t;
	return 0;
}

/* PEM: every CRL of the file; else one DER CRL. */
static int parse_crls(const struct buf *data, const char *path, gnutls_x509_crl_t **crls, unsigned *n,
                      char *err, size_t errlen)
{
	gnutls_datum_t d = {.data = (unsigned char *)data->data, .size = (unsigned)data->len};
	int rc;

	*n = 0;
	if (memmem(data->data, data->len, "-----BEGIN", 10)) {
		rc = gnutls_x509_crl_list_import2(crls, n, &d, GNUTLS_X509_FMT_PEM, 0);
	} else {
		*crls = gnutls_malloc(sizeof(**crls));
		rc = *crls ? gnutls_x509_crl_init(&(*crls)[0]) : GNUTLS_E_MEMORY_ERROR;
		if (rc == 0 && (rc = gnutls_x509_crl_import((*crls)[0], &d, GNUTLS_X509_FMT_DER)) < 0)
			gnutls_x509_crl_deinit((*crls)[0]);
		*n = rc == 0;
	}
	if (rc < 0 || *n == 0) {
		gnutls_free(*crls);
		*crls = NULL;
		*n = 0;
		return tls_errf(err, errlen, "no CRL in file %s", path);
	}
	return 0;
}

static gnutls_x509_crt_t issuer_of(const struct tls_gen *g, gnutls_x509_crl_t crl)
{
	for (unsigned i = 0; i < g->nca; i++)
		if (gnutls_x509_crl_check_issuer(crl, g->cas[i]))
			return g->cas[i];
	return NULL;
}

/* Checks one CRL. Returns 0, -1 refused, -2 not valid yet (tried again later). */
static int check_crl(const struct tls_ctx *ctx, gnutls_x509_crl_t crl, const char *path, time_t *next_update,
                     char *err, size_t errlen)
{
	gnutls_x509_crt_t ca = issuer_of(ctx->gen, crl);
	unsigned status = 0;
	time_t next;

	if (!ca)
		return tls_errf(err, errlen, "CRL file %s: not issued by a CA of %s", path, ctx->ca_file);
	/* gnutls_x509_crl_verify also reports a CRL past its nextUpdate: only the
	 * signature matters here. */
	if (gnutls_x509_crl_verify(crl, &ca, 1, 0, &status) < 0 ||
	    (status & ~(GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED |
	                GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE)) != 0)
		return tls_errf(err, errlen, "CRL file %s: signature does not verify with the CA of %s", path,
		                ctx->ca_file);
	if (gnutls_x509_crl_get_this_update(crl) > time(NULL))
		return (tls_errf(err, errlen, "CRL file %s: not valid yet (thisUpdate in the future)", path),
		        -2);
	next = gnutls_x509_crl_get_next_update(crl);
	if (next != (time_t)-1 && (*next_update == 0 || next < *next_update))
		*next_update = next;
	return 0;
}

int tls_gnutls_crl_install(void *backend, const char *path, const struct buf *data, time_t *next_update,
                           char *err, size_t errlen)
{
	struct tls_ctx *ctx = backend;
	gnutls_x509_crl_t *crls = NULL;
	unsigned n = 0, i;
	int rc = parse_crls(data, path, &crls, &n, err, errlen);

	*next_update = 0;
	for (i = 0; rc == 0 && i < n; i++)
		rc = check_crl(ctx, crls[i], path, next_update, err, errlen);
	if (rc == 0 && tls_gnutls_trust_install(ctx->gen, crls, n, err, errlen) == 0) {
		gnutls_free(crls); /* the trust list owns the CRLs */
		return 0;
	}
	for (i = 0; i < n; i++)
		gnutls_x509_crl_deinit(crls[i]);
	gnutls_free(crls);
	return rc < 0 ? rc : -1;
}

/* OpenSSL's words for GnuTLS's status bits, in the order OpenSSL checks: the chain,
 * the purpose, the revocation, the signatures and the dates. */
static const char *status_text(unsigned st)
{
	static const struct {
		unsigned bit;
		const char *text;
	} texts[] = {
	    {GNUTLS_CERT_SIGNER_NOT_FOUND, "unable to get local issuer certificate"},
	    {GNUTLS_CERT_SIGNER_NOT_CA, "invalid CA certificate"},
	    {GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "path length constraint exceeded"},
	    {GNUTLS_CERT_PURPOSE_MISMATCH, "unsuitable certificate purpose"},
	    {GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, "unhandled critical extension"},
	    {GNUTLS_CERT_REVOKED, "certificate revoked"},
	    {GNUTLS_CERT_INSECURE_ALGORITHM, "CA signature digest algorithm too weak"},
	    {GNUTLS_CERT_SIGNATURE_FAILURE, "certificate signature failure"},
	    {GNUTLS_CERT_NOT_ACTIVATED, "certificate is not yet valid"},
	    {GNUTLS_CERT_EXPIRED, "certificate has expired"},
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (st & texts[i].bit)
			return texts[i].text;
	return "certificate verify failed";
}

/* OpenSSL's X509_V_FLAG_CRL_CHECK: the leaf's CA must have a CRL in force. */
static bool has_crl_for(const struct tls_gtrust *t, gnutls_x509_crt_t leaf)
{
	gnutls_datum_t dn;
	bool found = false;

	if (gnutls_x509_crt_get_raw_issuer_dn(leaf, &dn) < 0)
		return false;
	for (unsigned i = 0; !found && i < t->ncrl; i++)
		found = t->crl_issuers[i].size == dn.size &&
		        memcmp(t->crl_issuers[i].data, dn.data, dn.size) == 0;
	gnutls_free(dn.data);
	return found;
}

static int verify_chain(struct tls_sess *s, gnutls_x509_crt_t *crts, unsigned n)
{
	gnutls_typed_vdata_st purpose = {
	    .type = GNUTLS_DT_KEY_PURPOSE_OID,
	    .data = (unsigned char *)(s->client ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT)};
	unsigned status = 0;
	int rc = gnutls_x509_trust_list_verify_crt2(s->trust->tl, crts, n, &purpose, 1, 0, &status, NULL);

	if (rc < 0)
		return tls_errf(s->verify_err, sizeof(s->verify_err), "%s", tls_gnutls_reason(rc));
	status &= ~(unsigned)GNUTLS_CERT_INVALID;
	if (status)
		return tls_errf(s->verify_err, sizeof(s->verify_err), "%s", status_text(status));
	if (s->trust->ncrl > 0 && !has_crl_for(s->trust, crts[0]))
		return tls_errf(s->verify_err, sizeof(s->verify_err), "unable to get certificate CRL");
	return 0;
}

int tls_gnutls_verify(gnutls_session_t session)
{
	struct tls_sess *s = gnutls_session_get_ptr(session);
	gnutls_x509_crt_t crts[TLS_MAX_PEER_CERTS];
	unsigned n = 0, i;
	const gnutls_datum_t *peers = gnutls_certificate_get_peers(session, &n);
	int rc = 0;

	if (!peers || n == 0)
		return 0; /* none sent: GNUTLS_CERT_REQUIRE refuses that by itself */
	if (n > TLS_MAX_PEER_CERTS)
		return tls_errf(s->verify_err, sizeof(s->verify_err), "certificate chain too long");
	for (i = 0; i < n; i++) {
		if ((rc = gnutls_x509_crt_init(&crts[i])) < 0)
			break;
		if ((rc = gnutls_x509_crt_import(crts[i], &peers[i], GNUTLS_X509_FMT_DER)) < 0) {
			gnutls_x509_crt_deinit(crts[i]);
			break;
		}
	}
	if (rc < 0) {
		(void)tls_errf(s->verify_err, sizeof(s->verify_err), "bad certificate: %s",
		               tls_gnutls_reason(rc));
		n = i;
	} else {
		rc = verify_chain(s, crts, n);
	}
	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	s->verified = rc == 0;
	return rc == 0 ? 0 : -1;
}

int tls_gnutls_reverify(struct tls_sess *s, char *err, size_t errlen)
{
	if (tls_gnutls_verify(s->s) == 0)
		return 0;
	return tls_errf(err, errlen, "%s", s->verify_err[0] ? s->verify_err : "certificate verify failed");
}
