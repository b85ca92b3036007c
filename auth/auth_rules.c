/* auth_rules.c: who may log in with what (see auth.h for the rules and their reasons). */
#include "auth/auth_rules.h"

static bool is_token(enum auth_mech m)
{
	return m == AUTH_MECH_XOAUTH2 || m == AUTH_MECH_OAUTHBEARER;
}

/* A password is phishable and guessable: for a professional or an organisation it
 * counts only together with the health-PKI certificate of the same account. */
static enum auth_reason password_rule(const struct auth_facts *f, enum auth_strength *strength)
{
	if (f->role == ROLE_PATIENT) {
		*strength = AUTH_STRENGTH_PASSWORD;
		return AUTH_R_OK;
	}
	if (!f->has_cert)
		return AUTH_R_NEEDS_CERT;
	if (!f->cert_is_account)
		return AUTH_R_CERT_OTHER_ACCOUNT;
	*strength = AUTH_STRENGTH_PASSWORD_CERT;
	return AUTH_R_OK;
}

enum auth_reason auth_rules_decide(const struct auth_facts *f, enum auth_strength *strength)
{
	*strength = AUTH_STRENGTH_NONE;
	if (f->mech == AUTH_MECH_EXTERNAL && (!f->account_found || !f->cert_is_account))
		return AUTH_R_CERT_UNMAPPED;
	if (f->mech != AUTH_MECH_EXTERNAL && (!f->account_found || !f->secret_ok))
		return AUTH_R_BAD_CREDENTIALS;
	if (f->disabled)
		return AUTH_R_DISABLED;
	if (!f->authzid_ok)
		return AUTH_R_AUTHZID;
	/* Patients have no health-PKI certificate and no Pro Santé Connect identity. */
	if (f->role == ROLE_PATIENT && (f->mech == AUTH_MECH_EXTERNAL || is_token(f->mech)))
		return AUTH_R_ROLE;
	if (f->mech == AUTH_MECH_EXTERNAL) {
		*strength = AUTH_STRENGTH_CERTIFICATE;
		return AUTH_R_OK;
	}
	if (is_token(f->mech)) {
		*strength = AUTH_STRENGTH_TOKEN; /* DESIGN.md: a token login is strong by itself */
		return AUTH_R_OK;
	}
	return password_rule(f, strength);
}
