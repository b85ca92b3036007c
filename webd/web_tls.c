/* web_tls.c: mss-webd's certificate and its agent-held key for libmicrohttpd (see
 * web_tls.h). */
#include "webd/web_tls.h"

#include <string.h>

#include <gnutls/x509.h>

#include "lib/str.h"
#include "lib/tls_gnutls_key.h"

/* Certificates in tls_cert: the leaf and its intermediates. GnuTLS refuses a longer
 * chain (GNUTLS_E_SHORT_MEMORY_BUFFER); lib/tls verifies depth 5 for the mail ports. */
#define WEB_TLS_CHAIN_MAX 8

struct web_cred {
	gnutls_pcert_st pcert[WEB_TLS_CHAIN_MAX];
	unsigned n;
	gnutls_privkey_t key;
	struct tls_gagent_key *akey; /* owned by key */
};

static struct web_cred cred; /* the process's (web_tls_retrieve) */

static void cred_free(struct web_cred *c)
{
	for (unsigned i = 0; i < c->n; i++)
		gnutls_pcert_deinit(&c->pcert[i]);
	if (c->key != NULL)
		gnutls_privkey_deinit(c->key);
	memset(c, 0, sizeof(*c));
}

/* The chain, and a key for its leaf signing through agent_fd. Returns 0, or -1 with
 * err. */
static int cred_make(struct web_cred *c, const char *cert_pem, int agent_fd, char *err, size_t errlen)
{
	gnutls_datum_t pem = {.data = (unsigned char *)cert_pem, .size = (unsigned)strlen(cert_pem)};
	gnutls_x509_crt_t leaf = NULL;
	unsigned n = WEB_TLS_CHAIN_MAX;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = gnutls_pcert_list_import_x509_raw(c->pcert, &n, &pem, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0) {
		str_error(err, errlen, "certificate: %s", gnutls_strerror(rc));
		return -1;
	}
	c->n = n;
	rc = gnutls_x509_crt_init(&leaf);
	if (rc == 0)
		rc = gnutls_x509_crt_import(leaf, &pem, GNUTLS_X509_FMT_PEM); /* the first: the leaf */
	if (rc < 0) {
		str_error(err, errlen, "certificate: %s", gnutls_strerror(rc));
		if (leaf != NULL)
			gnutls_x509_crt_deinit(leaf);
		cred_free(c);
		return -1;
	}
	rc = tls_gnutls_agent_privkey(leaf, agent_fd, &c->key, &c->akey, err, errlen);
	gnutls_x509_crt_deinit(leaf);
	if (rc < 0) {
		c->key = NULL;
		cred_free(c);
		return -1;
	}
	return 0;
}

int web_tls_check(const char *cert_pem, const char *cert_file, const char *key_file, int agent_fd, char *err,
                  size_t errlen)
{
	struct web_cred c;
	char why[512];

	if (cred_make(&c, cert_pem, agent_fd, why, sizeof(why)) < 0) {
		str_error(err, errlen, "%s: %s", cert_file, why);
		return -1;
	}
	int rc = tls_gnutls_agent_key_check(c.akey, key_file, cert_file, err, errlen);
	cred_free(&c);
	return rc;
}

int web_tls_load(const char *cert_pem, int agent_fd, char *err, size_t errlen)
{
	cred_free(&cred);
	return cred_make(&cred, cert_pem, agent_fd, err, errlen);
}

int web_tls_retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_dn, int nreqs,
                     const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                     unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	(void)s, (void)req_ca_dn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
	if (cred.n == 0 || cred.key == NULL)
		return -1; /* the handshake fails: web_tls_load did not run */
	*pcert = cred.pcert;
	*pcert_length = cred.n;
	*pkey = cred.key;
	return 0;
}
