/* oauth_jws.c: a token's JWS compact serialization (RFC 7515 7.1) and its signature
 * (RFC 7518 3.3 RS256, 3.4 ES256, 3.5 PS256) with OpenSSL EVP. See oauth.h. */
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "auth/oauth_int.h"
#include "auth/sasl.h"

/* The three parts of header.payload.signature, still base64url. */
struct jws_parts {
	const char *p[3];
	size_t n[3];
};

static bool split(const char *token, size_t len, struct jws_parts *j)
{
	const char *end = token + len, *p = token;

	for (int i = 0; i < 3; i++) {
		const char *dot = i < 2 ? memchr(p, '.', (size_t)(end - p)) : end;

		/* An empty signature ("alg":"none") is left for the alg check to refuse. */
		if (dot == NULL || (dot == p && i < 2))
			return false;
		j->p[i] = p;
		j->n[i] = (size_t)(dot - p);
		p = dot + 1;
	}
	return memchr(j->p[2], '.', j->n[2]) == NULL;
}

/* Decodes one part into a fresh buffer (freed by the caller). NULL when not base64url. */
static unsigned char *part(const struct jws_parts *j, int i, size_t *len)
{
	unsigned char *out = malloc(j->n[i] + 1);
	long n = out ? sasl_b64_decode(j->p[i], j->n[i], SASL_B64_URL, out, j->n[i] + 1) : -1;

	if (n < 0) {
		free(out);
		return NULL;
	}
	*len = (size_t)n;
	return out;
}

static json_t *part_json(const struct jws_parts *j, int i)
{
	size_t n;
	unsigned char *raw = part(j, i, &n);
	json_t *o = raw ? oauth_json_object((const char *)raw, n) : NULL;

	free(raw);
	return o;
}

/* JWS carries ES256 signatures as R || S, 32 octets each; OpenSSL wants DER. */
static int ecdsa_der(const unsigned char *sig, unsigned char *der, size_t *derlen)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *p = der;
	int n = -1;

	if (s && r && ss && ECDSA_SIG_set0(s, r, ss) == 1) {
		r = ss = NULL; /* owned by s now */
		if (i2d_ECDSA_SIG(s, NULL) <= 72)
			n = i2d_ECDSA_SIG(s, &p);
	}
	BN_free(r);
	BN_free(ss);
	ECDSA_SIG_free(s);
	if (n <= 0)
		return -1;
	*derlen = (size_t)n;
	return 0;
}

static bool verify_sig(const struct oauth_key *key, const char *alg, const struct jws_parts *j,
                       const unsigned char *sig, size_t slen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char der[80];
	size_t derlen = 0;
	bool ok = false;
	size_t signed_len = j->n[0] + 1 + j->n[1]; /* the ASCII "header.payload" */

	if (strcmp(alg, "ES256") == 0) {
		if (slen != 64 || ecdsa_der(sig, der, &derlen) < 0)
			goto out;
		sig = der;
		slen = derlen;
	}
	if (md == NULL || EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key->pkey) != 1)
		goto out;
	/* RFC 7518 3.5: MGF1 with SHA-256, salt as long as the hash. */
	if (strcmp(alg, "PS256") == 0 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	                                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) <= 0 ||
	                                  EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0))
		goto out;
	ok = EVP_DigestVerify(md, sig, slen, (const unsigned char *)j->p[0], signed_len) == 1;
out:
	EVP_MD_CTX_free(md);
	return ok;
}

/* RS256, PS256 and ES256 only: never "none", never HS256, whose "secret" would be our
 * public key (RFC 8725 2.1, 3.1). */
static bool alg_allowed(const char *alg)
{
	return alg && (strcmp(alg, "RS256") == 0 || strcmp(alg, "PS256") == 0 || strcmp(alg, "ES256") == 0);
}

/* Checks the header and finds the key; AUTH_R_OK with *key set, or why not. */
static enum auth_reason header_key(const struct oauth_keys *keys, const json_t *hdr, const char **alg,
                                   const struct oauth_key **key)
{
	const json_t *kid = json_object_get(hdr, "kid");

	if (hdr == NULL)
		return AUTH_R_TOKEN_MALFORMED;
	*alg = json_string_value(json_object_get(hdr, "alg"));
	if (!alg_allowed(*alg))
		return AUTH_R_TOKEN_ALG;
	/* RFC 7515 4.1.11: an extension we do not understand must not be ignored. */
	if (json_object_get(hdr, "crit") != NULL || (kid != NULL && !json_is_string(kid)))
		return AUTH_R_TOKEN_MALFORMED;
	*key = oauth_key_find(keys, kid ? json_string_value(kid) : NULL, *alg);
	return *key ? AUTH_R_OK : AUTH_R_TOKEN_KID;
}

static enum auth_reason check_signature(const struct oauth_keys *keys, const struct jws_parts *j)
{
	json_t *hdr = part_json(j, 0);
	const char *alg = NULL;
	const struct oauth_key *key = NULL;
	enum auth_reason r = header_key(keys, hdr, &alg, &key);
	unsigned char *sig = NULL;
	size_t slen = 0;

	if (r == AUTH_R_OK) {
		sig = part(j, 2, &slen);
		if (sig == NULL)
			r = AUTH_R_TOKEN_MALFORMED;
		else if (!verify_sig(key, alg, j, sig, slen))
			r = AUTH_R_TOKEN_SIGNATURE;
	}
	free(sig);
	json_decref(hdr);
	return r;
}

enum auth_reason oauth_verify(const struct oauth_keys *keys, const struct oauth_expect *e, const char *token,
                              size_t len, char *identity, size_t identitylen)
{
	struct jws_parts j;
	enum auth_reason r;
	json_t *claims;

	identity[0] = '\0';
	if (len > AUTH_TOKEN_MAX)
		return AUTH_R_TOKEN_TOO_LONG;
	if (keys == NULL)
		return AUTH_R_OAUTH_OFF;
	if (!split(token, len, &j))
		return AUTH_R_TOKEN_MALFORMED;
	/* The signature first: nothing an unsigned payload says is worth reading. */
	r = check_signature(keys, &j);
	if (r != AUTH_R_OK)
		return r;
	claims = part_json(&j, 1);
	if (claims == NULL)
		return AUTH_R_TOKEN_MALFORMED;
	r = oauth_claims_check(claims, e, identity, identitylen);
	json_decref(claims);
	return r;
}
