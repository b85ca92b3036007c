/* auth_rules.h: the role rules of auth.h as one pure function over plain facts.
 *
 * auth_verify gathers the facts of an attempt (the account, whether its secret
 * verified, the client certificate) and asks auth_rules_decide, which touches nothing,
 * so that every combination of role, mechanism and certificate is a row of a unit
 * test table. */
#ifndef MSS_AUTH_RULES_H
#define MSS_AUTH_RULES_H

#include <stdbool.h>

#include "auth/auth.h"

struct auth_facts {
	enum auth_mech mech;
	bool account_found; /* the account the attempt names (or the certificate's) exists */
	enum account_role role;
	bool disabled;
	bool secret_ok;       /* the password or the token verified for this account */
	bool authzid_ok;      /* no authorization identity, or the account's own */
	bool has_cert;        /* a verified client certificate was presented */
	bool cert_is_account; /* ... and it maps to this very account */
};

/* AUTH_R_OK with *strength set when the attempt logs in; otherwise why it does not. */
enum auth_reason auth_rules_decide(const struct auth_facts *f, enum auth_strength *strength);

#endif
