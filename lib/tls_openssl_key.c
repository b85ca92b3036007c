/* tls_openssl_key.c: a private key that lives in the key agent, for OpenSSL's
 * handshakes (issue 12: the process that runs handshakes never holds the key).
 *
 * The EVP_PKEY given to the SSL_CTX holds the certificate's public key and an
 * RSA_METHOD / EC_KEY_METHOD whose private operations send a request to the agent
 * (tls_agent_call). OpenSSL treats such a key as "foreign" and runs it through its
 * legacy EVP path, so the certificate match check, the security level and the choice
 * of signature algorithms work as for any key. This is OpenSMTPD's and relayd's
 * approach on OpenSSL 3; the methods are deprecated there (hence
 * OPENSSL_SUPPRESS_DEPRECATED for this file alone). A provider would avoid the
 * deprecated calls but would have to re-implement key management (matching, export,
 * security bits, the EC group) and register "RSA"/"EC" names that could shadow the
 * default provider's: more code on the security path for no gain today.
 *
 * What reaches the agent: ECDSA and RSA PKCS#1 v1.5 as a digest with its hash; RSA-PSS
 * (TLS 1.3, and TLS 1.2 when the peer offers it) as the EMSA-PSS block OpenSSL has
 * already encoded, which the agent checks is one before the raw RSA operation. RSA
 * decryption is never asked (ECDHE only) and always refused here. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "lib/tls_agent_msg.h"
#include "lib/tls_openssl_int.h"

struct tls_agent_key {
	int refs; /* one per RSA / EC_KEY that points at it */
	int fd;
	uint32_t seq;
	uint8_t id[32];
};

static RSA_METHOD *rsa_meth;
static EC_KEY_METHOD *ec_meth;
static int rsa_idx = -1, ec_idx = -1;

static void akey_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tls_agent_key *ak = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ak && --ak->refs == 0)
		free(ak);
}

static int akey_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx, long argl,
                    void *argp)
{
	struct tls_agent_key *ak = *from_d;

	(void)to, (void)from, (void)idx, (void)argl, (void)argp;
	if (ak)
		ak->refs++;
	return 1;
}

static int agent_sign(struct tls_agent_key *ak, uint8_t scheme, uint8_t hash, const uint8_t *data, size_t len,
                      uint8_t *sig, size_t sigmax, size_t *siglen)
{
	struct tls_agent_req r = {.scheme = scheme, .hash = hash, .data = data, .data_len = len};

	if (!ak || ak->fd < 0)
		return -1;
	memcpy(r.key_id, ak->id, sizeof(r.key_id));
	return tls_agent_call(ak->fd, &ak->seq, &r, sig, sigmax, siglen);
}

static uint8_t hash_of_nid(int nid)
{
	return nid == NID_sha256   ? TLS_AGENT_SHA256
	       : nid == NID_sha384 ? TLS_AGENT_SHA384
	       : nid == NID_sha512 ? TLS_AGENT_SHA512
	                           : TLS_AGENT_HASH_NONE;
}

/* RSA PKCS#1 v1.5 over a digest (TLS 1.2 rsa_pkcs1_* signature algorithms). */
static int rsa_sign(int type, const unsigned char *m, unsigned int m_len, unsigned char *sigret,
                    unsigned int *siglen, const RSA *rsa)
{
	uint8_t hash = hash_of_nid(type);
	size_t k = (size_t)RSA_size(rsa), n = 0;

	if (hash == TLS_AGENT_HASH_NONE ||
	    agent_sign(RSA_get_ex_data(rsa, rsa_idx), TLS_AGENT_RSA_PKCS1, hash, m, m_len, sigret, k, &n) <
	        0 ||
	    n != k)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

/* The raw private operation: OpenSSL calls it with an EMSA-PSS encoded block. */
static int rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	size_t k = (size_t)RSA_size(rsa), n = 0;

	if (padding != RSA_NO_PADDING || flen != (int)k ||
	    agent_sign(RSA_get_ex_data(rsa, rsa_idx), TLS_AGENT_RSA_PSS_BLOCK, TLS_AGENT_HASH_NONE, from, k,
	               to, k, &n) < 0 ||
	    n != k)
		return -1;
	return (int)n;
}

static int rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	(void)flen, (void)from, (void)to, (void)rsa, (void)padding;
	return -1; /* ECDHE only: nothing is ever decrypted with the key */
}

/* ECDSA over a digest; the agent answers with the DER signature. */
static int ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig, unsigned int *siglen,
                   const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)
{
	uint8_t hash = tls_agent_hash_of_len((size_t)dlen);
	size_t n = 0;

	(void)type, (void)kinv, (void)r;
	if (hash == TLS_AGENT_HASH_NONE ||
	    agent_sign(EC_KEY_get_ex_data(eckey, ec_idx), TLS_AGENT_ECDSA, hash, dgst, (size_t)dlen, sig,
	               (size_t)ECDSA_size(eckey), &n) < 0)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

static ECDSA_SIG *ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *r,
                              EC_KEY *eckey)
{
	unsigned char der[TLS_AGENT_MAX_SIG];
	const unsigned char *p = der;
	unsigned int n = 0;

	if ((size_t)ECDSA_size(eckey) > sizeof(der) || !ec_sign(0, dgst, dlen, der, &n, kinv, r, eckey))
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, n);
}

static int methods_init(void)
{
	int (*sign_setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;

	if (rsa_meth)
		return 0;
	rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, akey_dup, akey_free);
	ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, akey_dup, akey_free);
	rsa_meth = RSA_meth_dup(RSA_get_default_method());
	ec_meth = EC_KEY_METHOD_new(EC_KEY_get_default_method());
	if (rsa_idx < 0 || ec_idx < 0 || !rsa_meth || !ec_meth)
		return -1;
	RSA_meth_set1_name(rsa_meth, "mss key agent");
	RSA_meth_set_sign(rsa_meth, rsa_sign);
	RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc);
	RSA_meth_set_priv_dec(rsa_meth, rsa_priv_dec);
	EC_KEY_METHOD_get_sign(EC_KEY_get_default_method(), NULL, &sign_setup, NULL);
	EC_KEY_METHOD_set_sign(ec_meth, ec_sign, sign_setup, ec_sign_sig);
	return 0;
}

/* The public key of pub with the agent's methods; the method must be set before the
 * key is assigned, so that OpenSSL sees a foreign key. */
static EVP_PKEY *agent_pkey(EVP_PKEY *pub, struct tls_agent_key *ak)
{
	EVP_PKEY *pk = EVP_PKEY_new();
	RSA *rsa = NULL;
	EC_KEY *ec = NULL;
	int ok = 0;

	if (pk && EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
		rsa = RSAPublicKey_dup(EVP_PKEY_get0_RSA(pub));
		ok = rsa && RSA_set_method(rsa, rsa_meth) == 1 && RSA_set_ex_data(rsa, rsa_idx, ak) == 1;
		ak->refs += ok;
		ok = ok && EVP_PKEY_assign_RSA(pk, rsa) == 1;
		if (!ok)
			RSA_free(rsa);
	} else if (pk && EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
		ec = EC_KEY_dup(EVP_PKEY_get0_EC_KEY(pub));
		ok = ec && EC_KEY_set_method(ec, ec_meth) == 1 && EC_KEY_set_ex_data(ec, ec_idx, ak) == 1;
		ak->refs += ok;
		ok = ok && EVP_PKEY_assign_EC_KEY(pk, ec) == 1;
		if (!ok)
			EC_KEY_free(ec);
	}
	if (!ok) {
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

EVP_PKEY *tls_ossl_agent_pkey(X509 *cert, int fd, struct tls_agent_key **akey_r, char *err, size_t errlen)
{
	EVP_PKEY *pub = cert ? X509_get0_pubkey(cert) : NULL;
	struct tls_agent_key *ak;
	EVP_PKEY *pk;

	if (!pub || methods_init() < 0) {
		(void)tls_errf(err, errlen, "key agent: %s", tls_ossl_reason("no public key"));
		return NULL;
	}
	ak = xcalloc(1, sizeof(*ak));
	ak->refs = 1; /* ours, until the key holds its own */
	ak->fd = fd;
	pk = tls_ossl_spki_id(pub, ak->id) == 0 ? agent_pkey(pub, ak) : NULL;
	if (--ak->refs == 0)
		free(ak);
	if (!pk) {
		(void)tls_errf(err, errlen, "key agent: %s", tls_ossl_reason("not an RSA or EC certificate"));
		return NULL;
	}
	*akey_r = ak;
	return pk;
}

void tls_ossl_agent_key_set_fd(struct tls_agent_key *akey, int fd)
{
	akey->fd = fd;
}

int tls_ossl_agent_key_check(struct tls_agent_key *akey, const char *key_file, const char *cert_file,
                             char *err, size_t errlen)
{
	return tls_agent_check_held(akey->fd, &akey->seq, akey->id, key_file, cert_file, err, errlen);
}
