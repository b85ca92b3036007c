/* oauth_jwks.c: the JWK Set of oauth_jwks_file, made into OpenSSL public keys
 * (RFC 7517 4, RFC 7518 6.2.1 for EC and 6.3.1 for RSA). See oauth.h. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/oauth_int.h"
#include "auth/sasl.h"
#include "lib/log.h"
#include "lib/str.h"

#define JWKS_FILE_MAX (1024 * 1024)
#define JWK_BIN_MAX 1024 /* an 8192-bit modulus */
#define RSA_MIN_BITS 2048

json_t *oauth_json_object(const char *text, size_t len)
{
	json_error_t e;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);

	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* A base64url member decoded into out; returns its length or -1. */
static long member_bin(const json_t *jwk, const char *name, unsigned char *out, size_t outlen)
{
	const char *v = json_string_value(json_object_get(jwk, name));

	if (v == NULL || v[0] == '\0')
		return -1;
	return sasl_b64_decode(v, strlen(v), SASL_B64_URL, out, outlen);
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *rsa_key(const json_t *jwk, const char **why)
{
	unsigned char n[JWK_BIN_MAX], e[16];
	long nl = member_bin(jwk, "n", n, sizeof(n)), el = member_bin(jwk, "e", e, sizeof(e));
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn = nl > 0 ? BN_bin2bn(n, (int)nl, NULL) : NULL,
	       *be = el > 0 ? BN_bin2bn(e, (int)el, NULL) : NULL;
	EVP_PKEY *pkey = NULL;

	*why = "RSA key without valid \"n\" and \"e\"";
	if (bld && bn && be && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		pkey = from_params("RSA", bld);
	if (pkey && EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
		*why = "RSA key shorter than 2048 bits";
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	BN_free(bn);
	BN_free(be);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

/* One P-256 coordinate into its 32-octet field (out). RFC 7518 6.2.1.2 asks for exactly
 * 32 octets, but issuers that write it as a minimal integer (PyJWT 2.6: 31 octets for
 * one key in 256) or with a sign octet (Java's BigInteger: a leading zero, 33 octets)
 * are common; the value is what counts, and the point is checked on the curve after. */
static bool ec_coordinate(const json_t *jwk, const char *name, unsigned char *out)
{
	unsigned char v[64];
	long n = member_bin(jwk, name, v, sizeof(v));

	if (n == 33 && v[0] == 0) {
		memcpy(out, v + 1, 32);
		return true;
	}
	if (n < 1 || n > 32)
		return false;
	memset(out, 0, 32 - (size_t)n);
	memcpy(out + 32 - n, v, (size_t)n);
	return true;
}

/* P-256 only (ES256). The point is checked to be on the curve: an invalid-curve point
 * would leak nothing here (we only verify), but a bad key is a bad file. */
static EVP_PKEY *ec_key(const json_t *jwk, const char **why)
{
	unsigned char pub[65];
	OSSL_PARAM_BLD *bld;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *chk;

	*why = "EC key without valid \"x\" and \"y\" (P-256 coordinates)";
	pub[0] = 0x04; /* uncompressed point (SEC 1 2.3.3) */
	if (!ec_coordinate(jwk, "x", pub + 1) || !ec_coordinate(jwk, "y", pub + 33))
		return NULL;
	*why = "EC point not on the P-256 curve";
	bld = OSSL_PARAM_BLD_new();
	if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)))
		pkey = from_params("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	chk = pkey ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
	if (pkey && (chk == NULL || EVP_PKEY_public_check(chk) != 1)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(chk);
	return pkey;
}

/* Copies an optional string member; false when present but not a string or too long. */
static bool opt_string(const json_t *jwk, const char *name, char *out, size_t outlen)
{
	const json_t *v = json_object_get(jwk, name);

	out[0] = '\0';
	if (v == NULL)
		return true;
	return json_is_string(v) && str_copy(out, outlen, json_string_value(v)) == 0;
}

/* 1 when jwk is a signing key we use, 0 when it is to be skipped, -1 when malformed. */
static int usable(const json_t *jwk, enum oauth_kty *kty, const char **why)
{
	const char *t = json_string_value(json_object_get(jwk, "kty"));
	const char *use = json_string_value(json_object_get(jwk, "use"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));

	*why = "a key without \"kty\"";
	if (!json_is_object(jwk) || t == NULL)
		return -1;
	if (use != NULL && strcmp(use, "sig") != 0)
		return 0;
	if (strcmp(t, "RSA") == 0)
		*kty = OAUTH_KTY_RSA;
	else if (strcmp(t, "EC") == 0 && crv != NULL && strcmp(crv, "P-256") == 0)
		*kty = OAUTH_KTY_EC;
	else
		return 0;
	return 1;
}

static int add_key(struct oauth_keys *k, const json_t *jwk, const char **why)
{
	struct oauth_key key;
	int u = usable(jwk, &key.kty, why);

	if (u <= 0)
		return u;
	*why = "\"kid\" or \"alg\" is not a short string";
	if (!opt_string(jwk, "kid", key.kid, sizeof(key.kid)) ||
	    !opt_string(jwk, "alg", key.alg, sizeof(key.alg)))
		return -1;
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->v[i].kid, key.kid) == 0) {
			*why = "two keys with the same \"kid\"";
			return -1;
		}
	key.pkey = key.kty == OAUTH_KTY_RSA ? rsa_key(jwk, why) : ec_key(jwk, why);
	if (key.pkey == NULL)
		return -1;
	k->v = realloc(k->v, (k->n + 1) * sizeof(*k->v));
	if (k->v == NULL)
		abort(); /* out of memory: as lib/buf does */
	k->v[k->n++] = key;
	return 1;
}

struct oauth_keys *oauth_keys_parse(const char *json, size_t len, char *err, size_t errlen)
{
	json_t *doc = oauth_json_object(json, len);
	const json_t *keys = json_object_get(doc, "keys");
	struct oauth_keys *k = calloc(1, sizeof(*k));
	const char *why = "not a JSON object with a \"keys\" array";
	size_t failed = 0; /* 1-based index of the key refused */
	bool bad = doc == NULL || !json_is_array(keys) || k == NULL;

	for (size_t i = 0; !bad && i < json_array_size(keys); i++)
		if (add_key(k, json_array_get(keys, i), &why) < 0) {
			failed = i + 1;
			bad = true;
		}
	if (!bad && k->n == 0) {
		why = "no RSA or EC P-256 signing key";
		bad = true;
	}
	json_decref(doc);
	if (!bad)
		return k;
	if (failed)
		str_error(err, errlen, "key %zu: %s", failed, why);
	else
		str_error(err, errlen, "%s", why);
	oauth_keys_free(k);
	return NULL;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *data;

	if (f == NULL) {
		str_error(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	data = malloc(JWKS_FILE_MAX + 1);
	if (data == NULL)
		abort();
	*len = fread(data, 1, JWKS_FILE_MAX + 1, f);
	if (ferror(f) || *len > JWKS_FILE_MAX) {
		str_error(err, errlen, "%s: %s", path, ferror(f) ? strerror(errno) : "larger than 1 MiB");
		free(data);
		data = NULL;
	}
	fclose(f);
	return data;
}

struct oauth_keys *oauth_keys_load(const char *path, char *err, size_t errlen)
{
	char why[256];
	size_t len = 0;
	char *data = read_file(path, &len, err, errlen);
	struct oauth_keys *k;

	if (data == NULL)
		return NULL;
	k = oauth_keys_parse(data, len, why, sizeof(why));
	free(data);
	if (k == NULL)
		str_error(err, errlen, "%s: %s", path, why);
	return k;
}

void oauth_keys_free(struct oauth_keys *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < k->n; i++)
		EVP_PKEY_free(k->v[i].pkey);
	free(k->v);
	free(k);
}

size_t oauth_keys_count(const struct oauth_keys *k)
{
	return k ? k->n : 0;
}

int oauth_keys_reload(struct oauth_keys **keys, const char *path, char *err, size_t errlen)
{
	struct oauth_keys *fresh = oauth_keys_load(path, err, errlen);

	if (fresh == NULL)
		return -1;
	oauth_keys_free(*keys);
	*keys = fresh;
	return 0;
}

int oauth_keys_sighup(const struct mss_config *cfg, struct oauth_keys **keys)
{
	char err[CONFIG_PATH_MAX + 256], q[sizeof(err) + 8];

	if (*keys == NULL)
		return 0;
	if (oauth_keys_reload(keys, cfg->oauth_jwks_file, err, sizeof(err)) < 0) {
		log_err("oauth.reload", "result=failed error=%s keys_kept=%zu", log_quote(q, sizeof(q), err),
		        oauth_keys_count(*keys));
		return -1;
	}
	log_info("oauth.reload", "result=ok keys=%zu file=%s", oauth_keys_count(*keys),
	         log_quote(q, sizeof(q), cfg->oauth_jwks_file));
	return 0;
}

int oauth_keys_for_config(const struct mss_config *cfg, struct oauth_keys **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!cfg->oauth_jwks_file[0])
		return 0;
	if (!cfg->oauth_issuer[0] || !cfg->oauth_audience[0]) {
		str_error(err, errlen, "%s: oauth_jwks_file needs oauth_issuer and oauth_audience",
		          cfg->path);
		return -1;
	}
	*out = oauth_keys_load(cfg->oauth_jwks_file, err, errlen);
	return *out ? 0 : -1;
}

static bool fits(const struct oauth_key *key, const char *alg)
{
	enum oauth_kty want = strcmp(alg, "ES256") == 0 ? OAUTH_KTY_EC : OAUTH_KTY_RSA;

	return key->kty == want && (key->alg[0] == '\0' || strcmp(key->alg, alg) == 0);
}

const struct oauth_key *oauth_key_find(const struct oauth_keys *k, const char *kid, const char *alg)
{
	const struct oauth_key *found = NULL;

	for (size_t i = 0; k && i < k->n; i++) {
		if (kid != NULL) {
			if (strcmp(k->v[i].kid, kid) == 0)
				return fits(&k->v[i], alg) ? &k->v[i] : NULL;
			continue;
		}
		if (!fits(&k->v[i], alg))
			continue;
		if (found)
			return NULL; /* no kid and two candidates: which one the issuer meant is unknown */
		found = &k->v[i];
	}
	return found;
}
