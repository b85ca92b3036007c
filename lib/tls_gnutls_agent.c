/* tls_gnutls_agent.c: the key agent's private-key operations on GnuTLS (the loop is
 * tls_agent.c): ECDSA, RSA PKCS#1 v1.5 and RSA-PSS over a digest. The raw RSA
 * operation on a PSS block (what OpenSSL's handshake side asks) is not offered:
 * GnuTLS's handshake side never needs it. */
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "lib/tls_agent_msg.h"
#include "lib/tls_gnutls_int.h"

struct tls_held_key {
	gnutls_privkey_t pk;
	gnutls_pk_algorithm_t type; /* GNUTLS_PK_RSA or GNUTLS_PK_ECDSA */
};

static int key_id(gnutls_privkey_t pk, uint8_t id[32])
{
	gnutls_pubkey_t pub;
	int rc = gnutls_pubkey_init(&pub);

	if (rc < 0)
		return -1;
	rc = gnutls_pubkey_import_privkey(pub, pk, 0, 0);
	if (rc == 0)
		rc = tls_gnutls_spki_id(pub, id);
	gnutls_pubkey_deinit(pub);
	return rc < 0 ? -1 : 0;
}

struct tls_held_key *tls_held_key_load(const char *path, uint8_t id[32], char *err, size_t errlen)
{
	struct tls_held_key *k = xcalloc(1, sizeof(*k));
	struct buf pem;
	gnutls_datum_t d;
	int rc;

	buf_init(&pem, TLS_CERT_MAX_BYTES);
	if (tls_file_read(path, "key file", TLS_CERT_MAX_BYTES, &pem, NULL, err, errlen) < 0) {
		tls_secret_free(&pem);
		free(k);
		return NULL;
	}
	d = (gnutls_datum_t){.data = (unsigned char *)pem.data, .size = (unsigned)pem.len};
	rc = gnutls_privkey_init(&k->pk);
	if (rc == 0)
		rc = gnutls_privkey_import_x509_raw(k->pk, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
	tls_secret_free(&pem);
	if (rc == 0)
		k->type = (gnutls_pk_algorithm_t)gnutls_privkey_get_pk_algorithm(k->pk, NULL);
	if (rc < 0 || (k->type != GNUTLS_PK_RSA && k->type != GNUTLS_PK_ECDSA) || key_id(k->pk, id) < 0) {
		if (rc < 0)
			(void)tls_errf(err, errlen, "no usable private key in key file %s: %s", path,
			               tls_gnutls_reason(rc));
		else
			(void)tls_errf(err, errlen, "key file %s: not an RSA or EC key", path);
		tls_held_key_free(k);
		return NULL;
	}
	return k;
}

void tls_held_key_free(struct tls_held_key *k)
{
	if (!k)
		return;
	if (k->pk)
		gnutls_privkey_deinit(k->pk); /* GnuTLS clears the key's parameters */
	free(k);
}

static gnutls_sign_algorithm_t algo_of(const struct tls_agent_req *r)
{
	static const gnutls_sign_algorithm_t table[][3] = {
	    [TLS_AGENT_ECDSA] = {GNUTLS_SIGN_ECDSA_SHA256, GNUTLS_SIGN_ECDSA_SHA384,
	                         GNUTLS_SIGN_ECDSA_SHA512},
	    [TLS_AGENT_RSA_PKCS1] = {GNUTLS_SIGN_RSA_SHA256, GNUTLS_SIGN_RSA_SHA384, GNUTLS_SIGN_RSA_SHA512},
	    [TLS_AGENT_RSA_PSS] = {GNUTLS_SIGN_RSA_PSS_RSAE_SHA256, GNUTLS_SIGN_RSA_PSS_RSAE_SHA384,
	                           GNUTLS_SIGN_RSA_PSS_RSAE_SHA512},
	};

	if (r->scheme > TLS_AGENT_RSA_PSS || r->hash < TLS_AGENT_SHA256 || r->hash > TLS_AGENT_SHA512)
		return GNUTLS_SIGN_UNKNOWN;
	return table[r->scheme][r->hash - TLS_AGENT_SHA256];
}

int tls_held_key_sign(struct tls_held_key *k, const struct tls_agent_req *r, uint8_t *sig, size_t sigmax,
                      size_t *siglen, char *err, size_t errlen)
{
	gnutls_sign_algorithm_t algo = algo_of(r);
	gnutls_datum_t hash = {.data = (unsigned char *)r->data, .size = (unsigned)r->data_len},
	               out = {NULL, 0};
	bool rsa = k->type == GNUTLS_PK_RSA;
	int rc;

	if (r->scheme == TLS_AGENT_RSA_PSS_BLOCK)
		return tls_errf(err, errlen, "raw RSA is not served by this agent");
	if (algo == GNUTLS_SIGN_UNKNOWN || (r->scheme == TLS_AGENT_ECDSA) == rsa)
		return tls_errf(err, errlen, "scheme %u for a%s key", r->scheme, rsa ? "n RSA" : "n EC");
	rc = gnutls_privkey_sign_hash2(k->pk, algo, 0, &hash, &out);
	if (rc < 0 || out.size > sigmax) {
		gnutls_free(out.data);
		(void)tls_errf(err, errlen, "%s", rc < 0 ? tls_gnutls_reason(rc) : "signature too long");
		return -2;
	}
	memcpy(sig, out.data, out.size);
	*siglen = out.size;
	gnutls_free(out.data);
	return 0;
}
