/* oauth_claims.c: the registered claims of a verified token (RFC 7519 4.1) against
 * the configuration (see oauth.h). */
#include <string.h>

#include "auth/oauth_int.h"
#include "lib/str.h"

/* RFC 7519 4.1.3: "aud" is one string or an array of strings. */
static bool audience_has(const json_t *aud, const char *want)
{
	size_t i;
	const json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return true;
	}
	return false;
}

/* A NumericDate (RFC 7519 2): a JSON number of seconds. false when absent or not one. */
static bool numeric_date(const json_t *claims, const char *name, double *out)
{
	const json_t *v = json_object_get(claims, name);

	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

static enum auth_reason check_times(const json_t *claims, const struct oauth_expect *e)
{
	double exp, nbf, now = (double)e->now, skew = (double)e->clock_skew;

	/* 4.1.4: not accepted on or after exp; a token without exp would never expire. */
	if (!numeric_date(claims, "exp", &exp) || now >= exp + skew)
		return AUTH_R_TOKEN_EXPIRED;
	if (json_object_get(claims, "nbf") != NULL &&
	    (!numeric_date(claims, "nbf", &nbf) || now + skew < nbf))
		return AUTH_R_TOKEN_NOT_YET;
	return AUTH_R_OK;
}

enum auth_reason oauth_claims_check(const json_t *claims, const struct oauth_expect *e, char *identity,
                                    size_t identitylen)
{
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	const char *id = json_string_value(json_object_get(claims, e->identity_claim));
	enum auth_reason r;

	identity[0] = '\0';
	if (!json_is_object(claims))
		return AUTH_R_TOKEN_MALFORMED;
	if (iss == NULL || strcmp(iss, e->issuer) != 0)
		return AUTH_R_TOKEN_ISSUER;
	if (!audience_has(json_object_get(claims, "aud"), e->audience))
		return AUTH_R_TOKEN_AUDIENCE;
	r = check_times(claims, e);
	if (r != AUTH_R_OK)
		return r;
	if (id == NULL || id[0] == '\0' || str_copy(identity, identitylen, id) < 0) {
		identity[0] = '\0';
		return AUTH_R_TOKEN_IDENTITY;
	}
	return AUTH_R_OK;
}
