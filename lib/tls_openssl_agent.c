/* tls_openssl_agent.c: the key agent's private-key operations on OpenSSL 3 (the loop
 * is tls_agent.c). Only what a handshake signs: ECDSA over a digest, RSA PKCS#1 v1.5
 * over a digest (TLS 1.2), RSA-PSS over a digest, and the raw RSA operation on an
 * EMSA-PSS encoded block (what OpenSSL's RSA method hands over for RSA-PSS, TLS 1.2 and
 * 1.3), which is checked to be one first. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "lib/tls_agent_msg.h"
#include "lib/tls_int.h"
#include "lib/tls_openssl_int.h"

struct tls_held_key {
	EVP_PKEY *pk;
	int type; /* EVP_PKEY_RSA or EVP_PKEY_EC */
};

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

int tls_ossl_spki_id(EVP_PKEY *pk, uint8_t id[32])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pk, &der);
	int ok = n > 0 && EVP_Digest(der, (size_t)n, id, NULL, EVP_sha256(), NULL) == 1;

	OPENSSL_free(der);
	ERR_clear_error();
	return ok ? 0 : -1;
}

struct tls_held_key *tls_held_key_load(const char *path, uint8_t id[32], char *err, size_t errlen)
{
	struct tls_held_key *k = NULL;
	struct buf pem;
	EVP_PKEY *pk = NULL;
	BIO *bio;

	buf_init(&pem, TLS_CERT_MAX_BYTES);
	if (tls_file_read(path, "key file", TLS_CERT_MAX_BYTES, &pem, NULL, err, errlen) == 0) {
		bio = tls_ossl_bio(&pem);
		pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
		if (!pk)
			(void)tls_errf(err, errlen, "no usable private key in key file %s: %s", path,
			               tls_ossl_reason("bad PEM"));
		else if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA && EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC)
			(void)tls_errf(err, errlen, "key file %s: not an RSA or EC key", path);
		else if (tls_ossl_spki_id(pk, id) < 0)
			(void)tls_errf(err, errlen, "key file %s: cannot encode its public key", path);
		else {
			k = xcalloc(1, sizeof(*k));
			k->pk = pk;
			k->type = EVP_PKEY_get_base_id(pk);
			pk = NULL;
		}
	}
	EVP_PKEY_free(pk);
	tls_secret_free(&pem);
	ERR_clear_error();
	return k;
}

void tls_held_key_free(struct tls_held_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pk); /* OpenSSL clears private key material on free */
	free(k);
}

static const EVP_MD *md_of(uint8_t hash)
{
	switch (hash) {
	case TLS_AGENT_SHA256:
		return EVP_sha256();
	case TLS_AGENT_SHA384:
		return EVP_sha384();
	case TLS_AGENT_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* MGF1 (RFC 8017 appendix B.2.1) of seed into out[len]. */
static int mgf1(const EVP_MD *md, const uint8_t *seed, size_t seedlen, uint8_t *out, size_t len)
{
	uint8_t block[EVP_MAX_MD_SIZE];
	size_t hlen = (size_t)EVP_MD_get_size(md);

	for (uint32_t counter = 0; len > 0; counter++) {
		uint8_t c[4] = {(uint8_t)(counter >> 24), (uint8_t)(counter >> 16), (uint8_t)(counter >> 8),
		                (uint8_t)counter};
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
		         EVP_DigestUpdate(ctx, seed, seedlen) == 1 && EVP_DigestUpdate(ctx, c, 4) == 1 &&
		         EVP_DigestFinal_ex(ctx, block, NULL) == 1;
		size_t take = len < hlen ? len : hlen;

		EVP_MD_CTX_free(ctx);
		if (!ok)
			return -1;
		memcpy(out, block, take);
		out += take;
		len -= take;
	}
	return 0;
}

/* EMSA-PSS-VERIFY (RFC 8017 section 9.1.2) steps 4 to 10 for one hash, without the
 * message hash: the structure a PSS encoding has (salt as long as the hash, as TLS
 * uses), which a ciphertext or any other value has with negligible probability. */
static bool pss_shape(const uint8_t *em, size_t emlen, unsigned embits, const EVP_MD *md)
{
	uint8_t db[TLS_AGENT_MAX_DATA];
	size_t hlen = (size_t)EVP_MD_get_size(md), dblen, i;
	unsigned top = (unsigned)(8 * emlen - embits);

	if (emlen < 2 * hlen + 2 || em[emlen - 1] != 0xbc)
		return false;
	dblen = emlen - hlen - 1;
	if ((em[0] & (0xff00 >> top) & 0xff) != 0 || mgf1(md, em + dblen, hlen, db, dblen) < 0)
		return false;
	for (i = 0; i < dblen; i++)
		db[i] ^= em[i];
	db[0] &= (uint8_t)(0xff >> top);
	for (i = 0; i < dblen - hlen - 1; i++)
		if (db[i] != 0)
			return false;
	return db[i] == 0x01;
}

bool tls_ossl_pss_block_ok(const uint8_t *block, size_t k, int modbits)
{
	const EVP_MD *mds[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
	unsigned embits = (unsigned)modbits - 1;
	size_t emlen = (embits + 7) / 8;

	if (modbits < 1024 || k != (size_t)(modbits + 7) / 8 || k > TLS_AGENT_MAX_DATA)
		return false;
	if (emlen < k && *block++ != 0) /* the modulus fills its top byte with one bit */
		return false;
	for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]); i++)
		if (pss_shape(block, emlen, embits, mds[i]))
			return true;
	return false;
}

/* Sets up ctx for the request's scheme. Returns 0, -1 refused (err). */
static int setup(struct tls_held_key *k, EVP_PKEY_CTX *ctx, const struct tls_agent_req *r, char *err,
                 size_t errlen)
{
	const EVP_MD *md = md_of(r->hash);
	bool rsa = k->type == EVP_PKEY_RSA;

	if ((r->scheme == TLS_AGENT_ECDSA) == rsa)
		return tls_errf(err, errlen, "scheme %u for a%s key", r->scheme, rsa ? "n RSA" : "n EC");
	if (EVP_PKEY_sign_init(ctx) != 1)
		return -2;
	switch (r->scheme) {
	case TLS_AGENT_ECDSA:
		return EVP_PKEY_CTX_set_signature_md(ctx, md) == 1 ? 0 : -2;
	case TLS_AGENT_RSA_PKCS1:
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		               EVP_PKEY_CTX_set_signature_md(ctx, md) == 1
		           ? 0
		           : -2;
	case TLS_AGENT_RSA_PSS:
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		               EVP_PKEY_CTX_set_signature_md(ctx, md) == 1 &&
		               EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1 &&
		               EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1
		           ? 0
		           : -2;
	default: /* TLS_AGENT_RSA_PSS_BLOCK */
		if (!tls_ossl_pss_block_ok(r->data, r->data_len, EVP_PKEY_get_bits(k->pk)))
			return tls_errf(err, errlen, "not a PSS-encoded block for this key");
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1 ? 0 : -2;
	}
}

int tls_held_key_sign(struct tls_held_key *k, const struct tls_agent_req *r, uint8_t *sig, size_t sigmax,
                      size_t *siglen, char *err, size_t errlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->pk, NULL);
	int rc = ctx ? setup(k, ctx, r, err, errlen) : -2;

	*siglen = sigmax;
	if (rc == 0 && EVP_PKEY_sign(ctx, sig, siglen, r->data, r->data_len) != 1)
		rc = -2;
	if (rc == -2)
		(void)tls_errf(err, errlen, "%s", tls_ossl_reason("signing failed"));
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}
