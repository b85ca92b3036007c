/* Unit tests: auth/oauth: the JWK Set loader, and token verification as a table of
 * tokens minted here with OpenSSL (RS256, PS256, ES256; alg none, HS256 key
 * confusion, unknown kid, bad signature, expired, not yet valid, wrong issuer or
 * audience, missing identity, malformed JSON, oversized). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "auth/oauth.h"
#include "auth/oauth_int.h"

#define NOW 1700000000L
#define ISS "https://auth.esante.gouv.fr/auth/realms/esante-wallet"
#define AUD "mss-test"

static EVP_PKEY *rsa, *ec, *rsa2;
static char jwks[8192];
static struct oauth_keys *keys;

static void b64url(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	sodium_bin2base64(out, outlen, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void bn_b64url(const EVP_PKEY *k, const char *param, size_t pad, char *out, size_t outlen)
{
	BIGNUM *bn = NULL;
	unsigned char bin[600];
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
	n = pad ? BN_bn2binpad(bn, bin, (int)pad) : BN_bn2bin(bn, bin);
	BN_free(bn);
	b64url(bin, (size_t)n, out, outlen);
}

static void rsa_jwk(const EVP_PKEY *k, const char *kid, const char *alg, char *out, size_t outlen)
{
	char n[800], e[16];

	bn_b64url(k, OSSL_PKEY_PARAM_RSA_N, 0, n, sizeof(n));
	bn_b64url(k, OSSL_PKEY_PARAM_RSA_E, 0, e, sizeof(e));
	snprintf(out, outlen,
	         "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\"%s%s%s,\"n\":\"%s\",\"e\":\"%s\"}", kid,
	         alg ? ",\"alg\":\"" : "", alg ? alg : "", alg ? "\"" : "", n, e);
}

static void ec_jwk(const EVP_PKEY *k, const char *kid, char *out, size_t outlen)
{
	char x[64], y[64];

	bn_b64url(k, OSSL_PKEY_PARAM_EC_PUB_X, 32, x, sizeof(x));
	bn_b64url(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y, sizeof(y));
	snprintf(out, outlen, "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}",
	         kid, x, y);
}

static int setup(void **state)
{
	char a[1200], b[400], c[1200], err[256];

	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!rsa || !rsa2 || !ec)
		return -1;
	rsa_jwk(rsa, "rsa1", NULL, a, sizeof(a));
	ec_jwk(ec, "ec1", b, sizeof(b));
	rsa_jwk(rsa2, "rs-only", "RS256", c, sizeof(c));
	/* an encryption key and a symmetric key are skipped, not refused */
	snprintf(jwks, sizeof(jwks),
	         "{\"keys\":[%s,%s,%s,{\"kty\":\"oct\",\"kid\":\"hmac\",\"k\":\"c2VjcmV0\"},"
	         "{\"kty\":\"RSA\",\"use\":\"enc\",\"kid\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
	         a, b, c);
	keys = oauth_keys_parse(jwks, strlen(jwks), err, sizeof(err));
	if (keys == NULL) {
		fprintf(stderr, "jwks: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	oauth_keys_free(keys);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(ec);
	return 0;
}

/* ---- minting ---- */

static size_t sign(EVP_PKEY *k, const char *alg, const char *data, unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char der[128];
	size_t n = sizeof(der);

	assert_int_equal(EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, k), 1);
	if (strcmp(alg, "PS256") == 0) {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
	}
	if (strcmp(alg, "ES256") != 0) {
		n = siglen;
		assert_int_equal(EVP_DigestSign(md, sig, &n, (const unsigned char *)data, strlen(data)), 1);
	} else {
		const unsigned char *p = der;
		ECDSA_SIG *s;

		assert_int_equal(EVP_DigestSign(md, der, &n, (const unsigned char *)data, strlen(data)), 1);
		s = d2i_ECDSA_SIG(NULL, &p, (long)n);
		BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32);
		BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32);
		ECDSA_SIG_free(s);
		n = 64;
	}
	EVP_MD_CTX_free(md);
	return n;
}

/* header.payload.signature with key k (NULL: empty signature) as alg. */
static char *mint(const char *header, const char *payload, EVP_PKEY *k, const char *alg)
{
	static char token[AUTH_TOKEN_MAX * 2];
	unsigned char sig[512];
	size_t n = 0, used;

	b64url((const unsigned char *)header, strlen(header), token, sizeof(token));
	used = strlen(token);
	token[used++] = '.';
	b64url((const unsigned char *)payload, strlen(payload), token + used, sizeof(token) - used);
	if (k)
		n = sign(k, alg, token, sig, sizeof(sig));
	used = strlen(token);
	token[used++] = '.';
	token[used] = '\0';
	if (n)
		b64url(sig, n, token + used, sizeof(token) - used);
	return token;
}

/* HS256 with the RSA public key (PEM) as the HMAC secret: the key-confusion attack. */
static char *mint_hs256_confusion(const char *payload)
{
	static char token[4096];
	unsigned char mac[32];
	unsigned int maclen = 0;
	char *pem = NULL, *t;
	long pemlen;
	size_t used;
	BIO *bio = BIO_new(BIO_s_mem());

	PEM_write_bio_PUBKEY(bio, rsa);
	pemlen = BIO_get_mem_data(bio, &pem);
	t = mint("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", payload, NULL, "HS256");
	used = strlen(t); /* "header.payload." */
	HMAC(EVP_sha256(), pem, (int)pemlen, (unsigned char *)t, used - 1, mac, &maclen);
	snprintf(token, sizeof(token), "%s", t);
	b64url(mac, maclen, token + used, sizeof(token) - used);
	BIO_free(bio);
	return token;
}

#define CLAIMS(extra)                                                                                        \
	"{\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"],\"exp\":1700000600,\"iat\":1699999000,"        \
	"\"preferred_username\":\"810001234567\"" extra "}"

static enum auth_reason check(const char *token)
{
	struct oauth_expect e = {ISS, AUD, "preferred_username", 60, NOW};
	char identity[256];

	return oauth_verify(keys, &e, token, strlen(token), identity, sizeof(identity));
}

static void test_good_tokens(void **state)
{
	struct oauth_expect e = {ISS, AUD, "preferred_username", 60, NOW};
	char identity[256];
	const char *t;

	t = mint("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"JWT\"}", CLAIMS(""), rsa, "RS256");
	assert_int_equal(oauth_verify(keys, &e, t, strlen(t), identity, sizeof(identity)), AUTH_R_OK);
	assert_string_equal(identity, "810001234567");
	t = mint("{\"alg\":\"PS256\",\"kid\":\"rsa1\"}", CLAIMS(""), rsa, "PS256");
	assert_int_equal(check(t), AUTH_R_OK);
	t = mint("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", CLAIMS(""), ec, "ES256");
	assert_int_equal(check(t), AUTH_R_OK);
	/* no kid: the one EC key is the only one ES256 can mean */
	t = mint("{\"alg\":\"ES256\"}", CLAIMS(""), ec, "ES256");
	assert_int_equal(check(t), AUTH_R_OK);
	/* "aud" as a single string */
	t = mint("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
	         "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
	         "\",\"exp\":1700000600,\"preferred_username\":\"x@y\"}",
	         rsa, "RS256");
	assert_int_equal(check(t), AUTH_R_OK);
	/* within the clock skew: expired 30 s ago, valid from 30 s on */
	t = mint("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
	         "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1699999970,\"nbf\":1700000030,"
	         "\"preferred_username\":\"x@y\"}",
	         rsa, "RS256");
	assert_int_equal(check(t), AUTH_R_OK);
}

struct bad_case {
	const char *name;
	const char *header;
	const char *payload;
	int key; /* 0 none, 1 rsa, 2 ec, 3 rsa2 */
	const char *alg;
	enum auth_reason want;
};

static const struct bad_case bad[] = {
    {"alg none", "{\"alg\":\"none\"}", CLAIMS(""), 0, "none", AUTH_R_TOKEN_ALG},
    {"alg missing", "{\"kid\":\"rsa1\"}", CLAIMS(""), 1, "RS256", AUTH_R_TOKEN_ALG},
    {"alg RS384", "{\"alg\":\"RS384\",\"kid\":\"rsa1\"}", CLAIMS(""), 1, "RS256", AUTH_R_TOKEN_ALG},
    {"unknown kid", "{\"alg\":\"RS256\",\"kid\":\"nope\"}", CLAIMS(""), 1, "RS256", AUTH_R_TOKEN_KID},
    {"kid of the wrong type", "{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", CLAIMS(""), 2, "ES256",
     AUTH_R_TOKEN_KID},
    {"key alg RS256 only", "{\"alg\":\"PS256\",\"kid\":\"rs-only\"}", CLAIMS(""), 3, "PS256",
     AUTH_R_TOKEN_KID},
    {"no kid, two RSA keys", "{\"alg\":\"RS256\"}", CLAIMS(""), 1, "RS256", AUTH_R_TOKEN_KID},
    {"kid not a string", "{\"alg\":\"RS256\",\"kid\":1}", CLAIMS(""), 1, "RS256", AUTH_R_TOKEN_MALFORMED},
    {"crit", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"x\"],\"x\":1}", CLAIMS(""), 1, "RS256",
     AUTH_R_TOKEN_MALFORMED},
    {"duplicate alg", "{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"rsa1\"}", CLAIMS(""), 1, "RS256",
     AUTH_R_TOKEN_MALFORMED},
    {"header not JSON", "{\"alg\":\"RS256\",", CLAIMS(""), 1, "RS256", AUTH_R_TOKEN_MALFORMED},
    {"header an array", "[\"RS256\"]", CLAIMS(""), 1, "RS256", AUTH_R_TOKEN_MALFORMED},
    {"signed by another key", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", CLAIMS(""), 3, "RS256",
     AUTH_R_TOKEN_SIGNATURE},
    {"PS256 signature as RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", CLAIMS(""), 1, "PS256",
     AUTH_R_TOKEN_SIGNATURE},
    {"empty signature", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", CLAIMS(""), 0, "RS256",
     AUTH_R_TOKEN_SIGNATURE},
    {"payload not JSON", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "{\"iss\":", 1, "RS256",
     AUTH_R_TOKEN_MALFORMED},
    {"wrong issuer", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
     "{\"iss\":\"https://evil\",\"aud\":\"" AUD "\",\"exp\":1700000600,\"preferred_username\":\"x@y\"}", 1,
     "RS256", AUTH_R_TOKEN_ISSUER},
    {"no issuer", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
     "{\"aud\":\"" AUD "\",\"exp\":1700000600,\"preferred_username\":\"x@y\"}", 1, "RS256",
     AUTH_R_TOKEN_ISSUER},
    {"wrong audience", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}",
     "{\"iss\":\"" ISS "\",\"aud\":[\"a\",\"b\"],\"exp\":1700000600,\"preferred_username\":\"x@y\"}", 1,
     "RS256", AUTH_R_TOKEN_AUDIENCE},
    {"expired", "{\"alg\":\"ES256\",\"kid\":\"ec1\"}",
     "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1699999900,\"preferred_username\":\"x@y\"}", 2,
     "ES256", AUTH_R_TOKEN_EXPIRED},
    {"no exp", "{\"alg\":\"ES256\",\"kid\":\"ec1\"}",
     "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"preferred_username\":\"x@y\"}", 2, "ES256",
     AUTH_R_TOKEN_EXPIRED},
    {"exp a string", "{\"alg\":\"ES256\",\"kid\":\"ec1\"}",
     "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":\"1700000600\",\"preferred_username\":\"x@y\"}", 2,
     "ES256", AUTH_R_TOKEN_EXPIRED},
    {"not yet valid", "{\"alg\":\"ES256\",\"kid\":\"ec1\"}",
     "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1700000600,\"nbf\":1700000100,"
     "\"preferred_username\":\"x@y\"}",
     2, "ES256", AUTH_R_TOKEN_NOT_YET},
    {"no identity", "{\"alg\":\"PS256\",\"kid\":\"rsa1\"}",
     "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1700000600}", 1, "PS256", AUTH_R_TOKEN_IDENTITY},
    {"identity not a string", "{\"alg\":\"PS256\",\"kid\":\"rsa1\"}",
     "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1700000600,\"preferred_username\":8100}", 1, "PS256",
     AUTH_R_TOKEN_IDENTITY},
};

static EVP_PKEY *key_of(int k)
{
	return k == 1 ? rsa : k == 2 ? ec : k == 3 ? rsa2 : NULL;
}

static void test_bad_tokens(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad_case *c = &bad[i];
		const char *t = mint(c->header, c->payload, key_of(c->key), c->alg);
		enum auth_reason r = check(t);

		if (r != c->want)
			fail_msg("%s: %s, expected %s", c->name, auth_reason_name(r),
			         auth_reason_name(c->want));
	}
}

static void test_hs256_key_confusion(void **state)
{
	assert_int_equal(check(mint_hs256_confusion(CLAIMS(""))), AUTH_R_TOKEN_ALG);
}

static void test_tampered_and_garbled(void **state)
{
	char *t = mint("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", CLAIMS(""), rsa, "RS256");
	char *dot = strchr(t, '.');
	static char big[AUTH_TOKEN_MAX + 2];

	/* one character of the payload changed */
	dot[1] = dot[1] == 'A' ? 'B' : 'A';
	assert_int_equal(check(t), AUTH_R_TOKEN_SIGNATURE);
	assert_int_equal(check("a.b"), AUTH_R_TOKEN_MALFORMED);
	assert_int_equal(check("a.b.c.d"), AUTH_R_TOKEN_MALFORMED);
	assert_int_equal(check(".b.c"), AUTH_R_TOKEN_MALFORMED);
	assert_int_equal(check("!!.b.c"), AUTH_R_TOKEN_MALFORMED);
	assert_int_equal(check(""), AUTH_R_TOKEN_MALFORMED);
	memset(big, 'A', AUTH_TOKEN_MAX + 1);
	assert_int_equal(check(big), AUTH_R_TOKEN_TOO_LONG);
}

static void test_claims_table(void **state)
{
	struct oauth_expect e = {ISS, AUD, "sub", 0, NOW};
	char id[8];
	static const char claims[] =
	    "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1700000001,\"sub\":\"abc\"}";
	json_t *c = oauth_json_object(claims, strlen(claims));

	/* a claim in another member (oauth_identity_claim), and one too long to copy */
	assert_non_null(c);
	assert_int_equal(oauth_claims_check(c, &e, id, sizeof(id)), AUTH_R_OK);
	assert_string_equal(id, "abc");
	assert_int_equal(oauth_claims_check(c, &e, id, 3), AUTH_R_TOKEN_IDENTITY);
	/* exp is exclusive: at exp exactly, refused */
	e.now = 1700000001;
	assert_int_equal(oauth_claims_check(c, &e, id, sizeof(id)), AUTH_R_TOKEN_EXPIRED);
	json_decref(c);
}

static void test_jwks_refusals(void **state)
{
	static const struct {
		const char *json;
		const char *why;
	} cases[] = {
	    {"", "not a JSON object"},
	    {"[]", "not a JSON object"},
	    {"{\"keys\":{}}", "\"keys\" array"},
	    {"{\"keys\":[]}", "no RSA or EC P-256 signing key"},
	    {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", "no RSA or EC P-256 signing key"},
	    {"{\"keys\":[{\"kid\":\"a\"}]}", "key 1: a key without \"kty\""},
	    {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"e\":\"AQAB\"}]}", "key 1: RSA key without"},
	    {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
	     "shorter than 2048 bits"},
	    {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQ\",\"y\":\"AQ\"}]}",
	     "not on the P-256 curve"},
	    {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQ\"}]}", "EC key without valid"},
	    {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
	     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
	     "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}",
	     "EC "},
	    {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":7}]}", "\"kid\" or \"alg\""},
	};
	char err[256], dup[4096];
	struct oauth_keys *k;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		k = oauth_keys_parse(cases[i].json, strlen(cases[i].json), err, sizeof(err));
		if (k != NULL || strstr(err, cases[i].why) == NULL)
			fail_msg("case %zu: %s, expected \"%s\"", i, k ? "accepted" : err, cases[i].why);
	}
	/* two keys with one kid */
	{
		char a[400];

		ec_jwk(ec, "same", a, sizeof(a));
		snprintf(dup, sizeof(dup), "{\"keys\":[%s,%s]}", a, a);
		assert_null(oauth_keys_parse(dup, strlen(dup), err, sizeof(err)));
		assert_non_null(strstr(err, "same \"kid\""));
	}
	assert_int_equal(oauth_keys_count(keys), 3); /* oct and enc skipped */
}

/* A P-256 key whose x is below 2^248, so that its minimal big-endian form is 31
 * octets (one key in 256). */
static EVP_PKEY *ec_with_short_x(void)
{
	for (int i = 0; i < 100000; i++) {
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		BIGNUM *x = NULL;
		int bytes;

		assert_non_null(k);
		assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
		bytes = BN_num_bytes(x);
		BN_free(x);
		if (bytes < 32)
			return k;
		EVP_PKEY_free(k);
	}
	fail_msg("no key with a short x");
	return NULL;
}

/* Issuers that write the coordinates as minimal integers (PyJWT 2.6) or with a sign
 * octet (Java's BigInteger) make JWKs whose "x" or "y" is not 32 octets (RFC 7518
 * 6.2.1.2 asks for the full size): the value is what counts, and the point is then
 * checked to be on the curve. */
static void test_jwks_ec_coordinate_sizes(void **state)
{
	EVP_PKEY *k = ec_with_short_x();
	char x[64], y[64], doc[512], err[256];
	struct oauth_keys *set;
	struct oauth_expect e = {ISS, AUD, "preferred_username", 60, NOW};
	char identity[256];
	const char *t;
	static const size_t sizes[] = {0, 32, 33};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		bn_b64url(k, OSSL_PKEY_PARAM_EC_PUB_X, sizes[i], x, sizeof(x));
		bn_b64url(k, OSSL_PKEY_PARAM_EC_PUB_Y, sizes[i] ? sizes[i] : 0, y, sizeof(y));
		snprintf(doc, sizeof(doc),
		         "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"s\",\"crv\":\"P-256\",\"x\":\"%s\","
		         "\"y\":\"%s\"}]}",
		         x, y);
		set = oauth_keys_parse(doc, strlen(doc), err, sizeof(err));
		if (set == NULL)
			fail_msg("size %zu: %s", sizes[i], err);
		t = mint("{\"alg\":\"ES256\",\"kid\":\"s\"}", CLAIMS(""), k, "ES256");
		assert_int_equal(oauth_verify(set, &e, t, strlen(t), identity, sizeof(identity)), AUTH_R_OK);
		oauth_keys_free(set);
	}
	/* 33 octets whose first is not zero: a value past the field, refused */
	snprintf(doc, sizeof(doc),
	         "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQ%s\",\"y\":\"%s\"}]}", x + 2, y);
	assert_null(oauth_keys_parse(doc, strlen(doc), err, sizeof(err)));
	EVP_PKEY_free(k);
}

/* A reload that fails keeps the keys in use. */
static void test_reload_keeps_old_keys(void **state)
{
	char err[256], path[] = "/tmp/mss-jwks-XXXXXX";
	int fd = mkstemp(path);
	struct oauth_keys *k = oauth_keys_parse(jwks, strlen(jwks), err, sizeof(err)), *before = k;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"keys\":", 8), 8);
	close(fd);
	assert_int_equal(oauth_keys_reload(&k, path, err, sizeof(err)), -1);
	assert_ptr_equal(k, before);
	assert_non_null(strstr(err, path));
	assert_int_equal(oauth_keys_reload(&k, "/nonexistent/jwks.json", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/jwks.json: No such file"));
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, jwks, strlen(jwks)), (ssize_t)strlen(jwks));
	close(fd);
	assert_int_equal(oauth_keys_reload(&k, path, err, sizeof(err)), 0);
	assert_int_equal(oauth_keys_count(k), 3);
	unlink(path);
	oauth_keys_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_tokens),           cmocka_unit_test(test_bad_tokens),
	    cmocka_unit_test(test_hs256_key_confusion),   cmocka_unit_test(test_tampered_and_garbled),
	    cmocka_unit_test(test_claims_table),          cmocka_unit_test(test_jwks_refusals),
	    cmocka_unit_test(test_reload_keeps_old_keys), cmocka_unit_test(test_jwks_ec_coordinate_sizes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
