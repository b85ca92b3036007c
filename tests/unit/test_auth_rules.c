/* Unit tests: auth/auth_rules: every role against every mechanism and certificate
 * situation, as one table (DESIGN.md "Who connects, and how"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "auth/auth_rules.h"

enum cert { NO_CERT, OWN_CERT, OTHER_CERT };

struct rule_case {
	enum auth_mech mech;
	enum account_role role;
	enum cert cert;
	bool secret_ok;
	bool disabled;
	bool authzid_ok;
	enum auth_reason want;
	enum auth_strength strength;
};

#define PAT ROLE_PATIENT
#define PRO ROLE_PROFESSIONAL
#define ORG ROLE_ORGANISATION
#define PLAIN AUTH_MECH_PLAIN
#define LOGIN AUTH_MECH_LOGIN
#define EXT AUTH_MECH_EXTERNAL
#define XO AUTH_MECH_XOAUTH2
#define OB AUTH_MECH_OAUTHBEARER

static const struct rule_case cases[] = {
    /* patients: by password, whatever certificate comes along; never otherwise */
    {PLAIN, PAT, NO_CERT, true, false, true, AUTH_R_OK, AUTH_STRENGTH_PASSWORD},
    {LOGIN, PAT, OTHER_CERT, true, false, true, AUTH_R_OK, AUTH_STRENGTH_PASSWORD},
    {PLAIN, PAT, NO_CERT, false, false, true, AUTH_R_BAD_CREDENTIALS, AUTH_STRENGTH_NONE},
    {EXT, PAT, OWN_CERT, true, false, true, AUTH_R_ROLE, AUTH_STRENGTH_NONE},
    {XO, PAT, NO_CERT, true, false, true, AUTH_R_ROLE, AUTH_STRENGTH_NONE},
    {OB, PAT, NO_CERT, true, false, true, AUTH_R_ROLE, AUTH_STRENGTH_NONE},
    /* professionals and organisations: a password alone never */
    {PLAIN, PRO, NO_CERT, true, false, true, AUTH_R_NEEDS_CERT, AUTH_STRENGTH_NONE},
    {LOGIN, ORG, NO_CERT, true, false, true, AUTH_R_NEEDS_CERT, AUTH_STRENGTH_NONE},
    {PLAIN, PRO, OTHER_CERT, true, false, true, AUTH_R_CERT_OTHER_ACCOUNT, AUTH_STRENGTH_NONE},
    {PLAIN, PRO, OWN_CERT, true, false, true, AUTH_R_OK, AUTH_STRENGTH_PASSWORD_CERT},
    {LOGIN, ORG, OWN_CERT, true, false, true, AUTH_R_OK, AUTH_STRENGTH_PASSWORD_CERT},
    /* a wrong password says so before anything about certificates */
    {PLAIN, PRO, NO_CERT, false, false, true, AUTH_R_BAD_CREDENTIALS, AUTH_STRENGTH_NONE},
    /* the certificate alone */
    {EXT, PRO, OWN_CERT, true, false, true, AUTH_R_OK, AUTH_STRENGTH_CERTIFICATE},
    {EXT, ORG, OWN_CERT, true, false, true, AUTH_R_OK, AUTH_STRENGTH_CERTIFICATE},
    {EXT, PRO, NO_CERT, true, false, true, AUTH_R_CERT_UNMAPPED, AUTH_STRENGTH_NONE},
    {EXT, PRO, OWN_CERT, true, false, false, AUTH_R_AUTHZID, AUTH_STRENGTH_NONE},
    /* a token, with or without a certificate */
    {XO, PRO, NO_CERT, true, false, true, AUTH_R_OK, AUTH_STRENGTH_TOKEN},
    {OB, ORG, OTHER_CERT, true, false, true, AUTH_R_OK, AUTH_STRENGTH_TOKEN},
    {OB, PRO, NO_CERT, false, false, true, AUTH_R_BAD_CREDENTIALS, AUTH_STRENGTH_NONE},
    /* a disabled account, by any way */
    {PLAIN, PAT, NO_CERT, true, true, true, AUTH_R_DISABLED, AUTH_STRENGTH_NONE},
    {EXT, PRO, OWN_CERT, true, true, true, AUTH_R_DISABLED, AUTH_STRENGTH_NONE},
    {XO, PRO, NO_CERT, true, true, true, AUTH_R_DISABLED, AUTH_STRENGTH_NONE},
    /* no proxy authorisation */
    {PLAIN, PAT, NO_CERT, true, false, false, AUTH_R_AUTHZID, AUTH_STRENGTH_NONE},
};

static void test_rules(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rule_case *c = &cases[i];
		struct auth_facts f = {
		    .mech = c->mech,
		    .account_found = true,
		    .role = c->role,
		    .disabled = c->disabled,
		    .secret_ok = c->secret_ok,
		    .authzid_ok = c->authzid_ok,
		    .has_cert = c->cert != NO_CERT,
		    .cert_is_account = c->cert == OWN_CERT,
		};
		enum auth_strength st;
		enum auth_reason r = auth_rules_decide(&f, &st);

		if (r != c->want || st != c->strength)
			fail_msg("row %zu: reason %s strength %s, expected %s %s", i, auth_reason_name(r),
			         auth_strength_name(st), auth_reason_name(c->want),
			         auth_strength_name(c->strength));
	}
}

/* An unknown account fails like a wrong password, and EXTERNAL without an account
 * like an unmapped certificate. */
static void test_unknown_account(void **state)
{
	struct auth_facts f = {.mech = AUTH_MECH_PLAIN, .account_found = false, .authzid_ok = true};
	enum auth_strength st;

	assert_int_equal(auth_rules_decide(&f, &st), AUTH_R_BAD_CREDENTIALS);
	f.mech = AUTH_MECH_EXTERNAL;
	f.has_cert = true;
	assert_int_equal(auth_rules_decide(&f, &st), AUTH_R_CERT_UNMAPPED);
	assert_int_equal(st, AUTH_STRENGTH_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_unknown_account),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
