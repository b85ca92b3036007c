/* tls_gnutls_key.c: a private key that lives in the key agent, for GnuTLS's
 * handshakes (gnutls_privkey_import_ext4): GnuTLS hands the callback the digest and
 * the signature algorithm, which go to the agent as they are (ECDSA, RSA PKCS#1 v1.5,
 * RSA-PSS with rsaEncryption keys). Built with either TLS backend (tls_gnutls_key.h):
 * so it uses nothing of the GnuTLS backend's own files. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "lib/tls_agent_msg.h"
#include "lib/tls_gnutls_key.h"
#include "lib/tls_int.h"

struct tls_gagent_key {
	int fd;
	uint32_t seq;
	uint8_t id[32];
	gnutls_pk_algorithm_t pk; /* GNUTLS_PK_RSA or GNUTLS_PK_ECDSA */
	unsigned bits;
	gnutls_ecc_curve_t curve;
};

int tls_gnutls_spki_id(gnutls_pubkey_t pub, uint8_t id[32])
{
	gnutls_datum_t der = {NULL, 0};
	int rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);

	if (rc == 0)
		rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, id);
	gnutls_free(der.data);
	return rc < 0 ? -1 : 0;
}

static uint8_t agent_hash(gnutls_digest_algorithm_t d)
{
	return d == GNUTLS_DIG_SHA256   ? TLS_AGENT_SHA256
	       : d == GNUTLS_DIG_SHA384 ? TLS_AGENT_SHA384
	       : d == GNUTLS_DIG_SHA512 ? TLS_AGENT_SHA512
	                                : TLS_AGENT_HASH_NONE;
}

/* The agent's scheme for a signature algorithm this key can make, or 0. */
static uint8_t scheme_of(const struct tls_gagent_key *ak, gnutls_sign_algorithm_t algo)
{
	gnutls_pk_algorithm_t pk = gnutls_sign_get_pk_algorithm(algo);

	if (agent_hash(gnutls_sign_get_hash_algorithm(algo)) == TLS_AGENT_HASH_NONE)
		return 0;
	if (ak->pk == GNUTLS_PK_RSA && pk == GNUTLS_PK_RSA)
		return TLS_AGENT_RSA_PKCS1;
	if (ak->pk == GNUTLS_PK_RSA && pk == GNUTLS_PK_RSA_PSS &&
	    (algo == GNUTLS_SIGN_RSA_PSS_RSAE_SHA256 || algo == GNUTLS_SIGN_RSA_PSS_RSAE_SHA384 ||
	     algo == GNUTLS_SIGN_RSA_PSS_RSAE_SHA512))
		return TLS_AGENT_RSA_PSS;
	if (ak->pk != GNUTLS_PK_ECDSA || pk != GNUTLS_PK_ECDSA)
		return 0;
	/* TLS 1.3's ECDSA algorithms name their curve (RFC 8446 section 4.2.3). */
	if ((algo == GNUTLS_SIGN_ECDSA_SECP256R1_SHA256 && ak->curve != GNUTLS_ECC_CURVE_SECP256R1) ||
	    (algo == GNUTLS_SIGN_ECDSA_SECP384R1_SHA384 && ak->curve != GNUTLS_ECC_CURVE_SECP384R1) ||
	    (algo == GNUTLS_SIGN_ECDSA_SECP521R1_SHA512 && ak->curve != GNUTLS_ECC_CURVE_SECP521R1))
		return 0;
	return TLS_AGENT_ECDSA;
}

/* For RSA PKCS#1 v1.5 in TLS 1.2, GnuTLS hands over GNUTLS_SIGN_RSA_RAW and the
 * DigestInfo (RFC 8017 section 9.2, note 1): the digest and its hash are taken out of
 * it, so that the agent still receives a digest with its hash and builds the
 * DigestInfo itself. Any other DigestInfo is refused. */
static bool from_digest_info(struct tls_agent_req *r)
{
	static const uint8_t prefix[][19] = {
	    {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
	     0x00, 0x04, 0x20},
	    {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
	     0x00, 0x04, 0x30},
	    {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
	     0x00, 0x04, 0x40},
	};

	for (uint8_t h = TLS_AGENT_SHA256; h <= TLS_AGENT_SHA512; h++) {
		const uint8_t *p = prefix[h - TLS_AGENT_SHA256];

		if (r->data_len == sizeof(prefix[0]) + tls_agent_hash_len(h) &&
		    memcmp(r->data, p, sizeof(prefix[0])) == 0) {
			r->scheme = TLS_AGENT_RSA_PKCS1;
			r->hash = h;
			r->data += sizeof(prefix[0]);
			r->data_len -= sizeof(prefix[0]);
			return true;
		}
	}
	return false;
}

static int sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata, unsigned flags,
                     const gnutls_datum_t *hash, gnutls_datum_t *sig)
{
	struct tls_gagent_key *ak = userdata;
	struct tls_agent_req r = {.scheme = scheme_of(ak, algo),
	                          .hash = agent_hash(gnutls_sign_get_hash_algorithm(algo)),
	                          .data = hash->data,
	                          .data_len = hash->size};
	uint8_t out[TLS_AGENT_MAX_SIG];
	size_t n = 0;

	(void)key, (void)flags;
	if (algo == GNUTLS_SIGN_RSA_RAW && (ak->pk != GNUTLS_PK_RSA || !from_digest_info(&r)))
		return GNUTLS_E_PK_SIGN_FAILED;
	memcpy(r.key_id, ak->id, sizeof(r.key_id));
	if (r.scheme == 0 || ak->fd < 0 || tls_agent_call(ak->fd, &ak->seq, &r, out, sizeof(out), &n) < 0)
		return GNUTLS_E_PK_SIGN_FAILED;
	sig->data = gnutls_malloc(n);
	if (!sig->data)
		return GNUTLS_E_MEMORY_ERROR;
	memcpy(sig->data, out, n);
	sig->size = (unsigned)n;
	return 0;
}

static int key_info(gnutls_privkey_t key, unsigned flags, void *userdata)
{
	struct tls_gagent_key *ak = userdata;

	(void)key;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return (int)ak->pk;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return (int)ak->bits;
	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO)
		return scheme_of(ak, (gnutls_sign_algorithm_t)GNUTLS_FLAGS_TO_SIGN_ALGO(flags)) != 0;
	return -1;
}

static void key_deinit(gnutls_privkey_t key, void *userdata)
{
	(void)key;
	free(userdata);
}

/* The key's type, size, curve and identity, from the certificate's public key. */
static int describe(gnutls_x509_crt_t cert, struct tls_gagent_key *ak)
{
	gnutls_pubkey_t pub;
	int rc = gnutls_pubkey_init(&pub);

	if (rc < 0)
		return rc;
	rc = gnutls_pubkey_import_x509(pub, cert, 0);
	if (rc == 0) {
		rc = gnutls_pubkey_get_pk_algorithm(pub, &ak->bits);
		ak->pk = rc < 0 ? GNUTLS_PK_UNKNOWN : (gnutls_pk_algorithm_t)rc;
		rc = rc < 0 ? rc : tls_gnutls_spki_id(pub, ak->id) < 0 ? GNUTLS_E_INTERNAL_ERROR : 0;
	}
	if (rc == 0 && ak->pk == GNUTLS_PK_ECDSA)
		rc = gnutls_pubkey_export_ecc_raw(pub, &ak->curve, NULL, NULL);
	else if (rc == 0 && ak->pk != GNUTLS_PK_RSA)
		rc = GNUTLS_E_UNKNOWN_PK_ALGORITHM;
	gnutls_pubkey_deinit(pub);
	return rc;
}

int tls_gnutls_agent_privkey(gnutls_x509_crt_t cert, int fd, gnutls_privkey_t *key_r,
                             struct tls_gagent_key **akey_r, char *err, size_t errlen)
{
	struct tls_gagent_key *ak = xcalloc(1, sizeof(*ak));
	int rc;

	ak->fd = fd;
	rc = describe(cert, ak);
	if (rc == 0)
		rc = gnutls_privkey_init(key_r);
	if (rc == 0 && (rc = gnutls_privkey_import_ext4(*key_r, ak, NULL, sign_hash, NULL, key_deinit,
	                                                key_info, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0)
		gnutls_privkey_deinit(*key_r);
	if (rc < 0) {
		free(ak);
		return tls_errf(err, errlen, "key agent: %s", gnutls_strerror(rc));
	}
	*akey_r = ak;
	return 0;
}

void tls_gnutls_agent_key_set_fd(struct tls_gagent_key *akey, int fd)
{
	akey->fd = fd;
}

int tls_gnutls_agent_key_check(struct tls_gagent_key *akey, const char *key_file, const char *cert_file,
                               char *err, size_t errlen)
{
	return tls_agent_check_held(akey->fd, &akey->seq, akey->id, key_file, cert_file, err, errlen);
}
