/* oauth.h: OAuth 2.0 access tokens (Pro Santé Connect) for professionals, as DESIGN.md
 * "OAuth 2.0 for professionals" says.
 *
 * A token is a JWS in compact serialization (RFC 7515 7.1) signed with RS256, PS256
 * or ES256 (RFC 7518 3.3, 3.5, 3.4) by a key of oauth_jwks_file (a JWK Set, RFC 7517
 * 5). JSON goes through jansson (duplicate members refused, so two "alg" or two "exp"
 * can never be read differently by two readers); signatures through OpenSSL EVP.
 * Everything else is refused: "alg":"none", HS256 (a public key used as an HMAC
 * secret: the key-confusion attack), a "crit" header, an unknown "kid", a key whose
 * type or "alg" does not match. Then the claims (RFC 7519 4.1): "iss" equal to
 * oauth_issuer, "aud" containing oauth_audience, "exp" required and "nbf" when present
 * checked within oauth_clock_skew seconds, and the identity claim
 * (oauth_identity_claim) a string. Tokens are never stored nor logged. */
#ifndef MSS_OAUTH_H
#define MSS_OAUTH_H

#include <stddef.h>
#include <time.h>

#include "auth/auth.h"

struct oauth_keys;

/* Parses a JWK Set. Keys are RSA (at least 2048 bits) and EC P-256, for signatures;
 * keys of other types ("oct", other curves) or for encryption ("use":"enc") are
 * skipped. Refused, with err saying why: not JSON, no "keys" array, a usable key whose
 * members are missing or do not make a valid public key, two keys with one "kid", no
 * usable key at all. Returns the set or NULL. */
struct oauth_keys *oauth_keys_parse(const char *json, size_t len, char *err, size_t errlen);
/* The same from a file; err names the file ("FILE: why"). At most 1 MiB. */
struct oauth_keys *oauth_keys_load(const char *path, char *err, size_t errlen);
void oauth_keys_free(struct oauth_keys *k);
size_t oauth_keys_count(const struct oauth_keys *k);
/* For a reload (SIGHUP): loads path and, only when that succeeds, replaces *keys
 * (freeing the old set). On failure *keys is left as it was. Returns 0 or -1 + err. */
int oauth_keys_reload(struct oauth_keys **keys, const char *path, char *err, size_t errlen);

/* A daemon's SIGHUP: re-reads oauth_jwks_file into *keys (oauth_keys_reload) when
 * OAuth is configured, and logs one oauth.reload line: result=ok with the number of
 * keys, or result=failed with the file and why (the keys in force stay). Nothing when
 * OAuth is not configured. Returns 0, or -1 when the old keys were kept. */
int oauth_keys_sighup(const struct mss_config *cfg, struct oauth_keys **keys);

/* At a daemon's start: *out becomes the keys of oauth_jwks_file, or NULL when it is
 * not set (no XOAUTH2, no OAUTHBEARER). A set oauth_jwks_file needs oauth_issuer and
 * oauth_audience. Returns 0, or -1 with err naming the file (or key) and why: the
 * daemon must not start. */
int oauth_keys_for_config(const struct mss_config *cfg, struct oauth_keys **out, char *err, size_t errlen);

struct oauth_expect {
	const char *issuer;
	const char *audience;
	const char *identity_claim;
	unsigned clock_skew; /* seconds */
	time_t now;
};

/* Verifies token (len octets, not NUL-terminated necessarily). On success copies the
 * identity claim's value into identity and returns AUTH_R_OK; otherwise returns the
 * AUTH_R_TOKEN_* reason. A token over AUTH_TOKEN_MAX is refused before any parsing. */
enum auth_reason oauth_verify(const struct oauth_keys *keys, const struct oauth_expect *e, const char *token,
                              size_t len, char *identity, size_t identitylen);

#endif
