/* oauth_int.h: what the OAuth files share (oauth_jwks.c, oauth_jws.c, oauth_claims.c),
 * and the claims check on its own for the unit tests. Not for the daemons. */
#ifndef MSS_OAUTH_INT_H
#define MSS_OAUTH_INT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>

#include "auth/oauth.h"

enum oauth_kty { OAUTH_KTY_RSA = 1, OAUTH_KTY_EC = 2 };

struct oauth_key {
	char kid[128]; /* "" when the JWK has none */
	char alg[8];   /* the JWK's "alg", "" when it names none */
	enum oauth_kty kty;
	EVP_PKEY *pkey;
};

struct oauth_keys {
	struct oauth_key *v;
	size_t n;
};

/* The key for a header's kid (NULL: no kid) and alg: with a kid, the key of that kid,
 * if its type and alg fit; without, the only key that fits. NULL when none. */
const struct oauth_key *oauth_key_find(const struct oauth_keys *k, const char *kid, const char *alg);

/* Parses len octets of JSON into an object (duplicate members refused). NULL if not. */
json_t *oauth_json_object(const char *text, size_t len);

/* Checks the claims of a verified token (see oauth.h). Returns AUTH_R_OK with the
 * identity copied, or the AUTH_R_TOKEN_* reason. */
enum auth_reason oauth_claims_check(const json_t *claims, const struct oauth_expect *e, char *identity,
                                    size_t identitylen);

#endif
