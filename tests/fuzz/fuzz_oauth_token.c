/* fuzz-libs: auth lib */
/* fuzz_oauth_token: the OAuth token parser of auth/oauth_*.c on arbitrary bytes. The
 * first input byte picks what is fed: 0 a token (JWS compact serialization) to
 * oauth_verify against a JWK Set of an RSA and an EC key made at start; 1 a JWK Set to
 * oauth_keys_parse; 2 a claims object to oauth_claims_check (the part a fuzzer cannot
 * reach through a token, whose signature it cannot forge). Besides crashes and leaks,
 * checks that nothing unsigned is ever accepted and that an accepted identity fits. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/oauth.h"
#include "auth/oauth_int.h"

static struct oauth_keys *keys;

static void b64url_bn(EVP_PKEY *k, const char *param, int pad, char *out, size_t outlen)
{
	BIGNUM *bn = NULL;
	unsigned char bin[600];
	int n;

	if (EVP_PKEY_get_bn_param(k, param, &bn) != 1)
		abort();
	n = pad ? BN_bn2binpad(bn, bin, pad) : BN_bn2bin(bn, bin);
	BN_free(bn);
	sodium_bin2base64(out, outlen, bin, (size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char n[800], e[16], x[64], y[64], jwks[2048], err[256];

	(void)argc;
	(void)argv;
	if (rsa == NULL || ec == NULL)
		abort();
	b64url_bn(rsa, OSSL_PKEY_PARAM_RSA_N, 0, n, sizeof(n));
	b64url_bn(rsa, OSSL_PKEY_PARAM_RSA_E, 0, e, sizeof(e));
	b64url_bn(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32, x, sizeof(x));
	b64url_bn(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y, sizeof(y));
	snprintf(jwks, sizeof(jwks),
	         "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"n\":\"%s\",\"e\":\"%s\"},"
	         "{\"kty\":\"EC\",\"kid\":\"ec-1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
	         n, e, x, y);
	keys = oauth_keys_parse(jwks, strlen(jwks), err, sizeof(err));
	if (keys == NULL)
		abort();
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oauth_expect ex = {"https://issuer.test", "mss", "preferred_username", 60, 1700000000};
	char identity[256], err[256];

	if (size == 0)
		return 0;
	if (data[0] % 3 == 0) {
		/* The fuzzer holds no private key: nothing it makes may verify. */
		if (oauth_verify(keys, &ex, (const char *)data + 1, size - 1, identity, sizeof(identity)) ==
		    AUTH_R_OK)
			abort();
	} else if (data[0] % 3 == 1) {
		oauth_keys_free(oauth_keys_parse((const char *)data + 1, size - 1, err, sizeof(err)));
	} else {
		json_t *c = oauth_json_object((const char *)data + 1, size - 1);

		if (c && oauth_claims_check(c, &ex, identity, sizeof(identity)) == AUTH_R_OK &&
		    strnlen(identity, sizeof(identity)) == sizeof(identity))
			abort();
		json_decref(c);
	}
	return 0;
}
