/* Unit tests: a connection's certificate mapping read once for its login (auth.h,
 * struct auth_cert_memo), on a real store: an EXTERNAL login takes the account its
 * mapping read, once, for that certificate only; without a memo it reads afresh. */
#include "test_store_util.h"

#include "auth/auth.h"
#include "directory/account.h"
#include "policy/policy.h"

#define T0 1800000000L
#define PRO "dr.martin@pro.mss.test"
#define PRO_FP "aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11"
#define NEW_FP "bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22"

static int setup(void **state)
{
	struct store_fixture *f;
	struct account a = {0};
	char err[256];

	if (store_fixture_setup(state) < 0)
		return -1;
	f = *state;
	if (policy_schema_migrate(f->st, NULL, err, sizeof(err)) < 0)
		return -1;
	a.role = ROLE_PROFESSIONAL;
	assert_int_equal(str_copy(a.address, sizeof(a.address), PRO), 0);
	return account_add(f->st, &a, "pro-pw", PRO_FP, err, sizeof(err)) == 0 ? 0 : -1;
}

static void peer_of(struct auth_peer *p, const char *fp)
{
	memset(p, 0, sizeof(*p));
	p->has_cert = true;
	assert_int_equal(str_copy(p->sha256, sizeof(p->sha256), fp), 0);
	/* an address no account has: only the fingerprint maps */
	assert_int_equal(str_copy(p->email, sizeof(p->email), "someone@elsewhere.test"), 0);
}

static enum auth_result external(struct store_fixture *f, struct auth_cert_memo *memo, const char *fp,
                                 struct auth_reply *rp)
{
	static struct auth_request rq;
	struct auth_ctx ctx = {f->st, &f->cfg, NULL, false, memo};

	memset(&rq, 0, sizeof(rq));
	rq.mech = AUTH_MECH_EXTERNAL;
	peer_of(&rq.peer, fp);
	assert_int_equal(str_copy(rq.client_ip, sizeof(rq.client_ip), "192.0.2.1"), 0);
	assert_int_equal(str_copy(rq.protocol, sizeof(rq.protocol), "smtp"), 0);
	assert_int_equal(str_copy(rq.listener, sizeof(rq.listener), "submission"), 0);
	return auth_verify(&ctx, &rq, rp, T0);
}

static void map(struct store_fixture *f, struct auth_cert_memo *memo, const char *fp)
{
	struct auth_ctx ctx = {f->st, &f->cfg, NULL, false, memo};
	struct auth_peer p;
	struct auth_reply rp;

	memset(&rp, 0, sizeof(rp));
	peer_of(&p, fp);
	assert_int_equal(auth_cert_map(&ctx, &p, &rp), 1);
	assert_string_equal(rp.account, PRO);
}

/* The certificate is taken off the account between the mapping and the login: the
 * login still finds the account as mapped (no second read), with the certificate
 * stamp of then, which the next MAIL compares and refuses (identity.c); the memo is
 * spent, so another login reads afresh and is refused. */
static void test_login_takes_the_mapping_once(void **state)
{
	struct store_fixture *f = *state;
	struct auth_cert_memo memo;
	struct auth_reply rp;
	struct account now;
	char err[256];

	memset(&memo, 0, sizeof(memo));
	map(f, &memo, PRO_FP);
	assert_true(memo.set);
	assert_int_equal(account_set_cert(f->st, PRO, NEW_FP, err, sizeof(err)), 0);
	assert_int_equal(external(f, &memo, PRO_FP, &rp), AUTH_OK);
	assert_string_equal(rp.account, PRO);
	assert_false(memo.set);
	assert_int_equal(account_get(f->st, PRO, &now), 1);
	assert_memory_not_equal(rp.cert_stamp, now.cert_stamp, sizeof(now.cert_stamp));
	assert_int_equal(external(f, &memo, PRO_FP, &rp), AUTH_FAILED);
	assert_int_equal(rp.reason, AUTH_R_CERT_UNMAPPED);
}

/* Without a memo (IMAP, the web, the MX), or for another certificate than the one
 * mapped, the login reads the directory as it is now. */
static void test_other_certificate_or_none_reads_afresh(void **state)
{
	struct store_fixture *f = *state;
	struct auth_cert_memo memo;
	struct auth_reply rp;
	char err[256];

	memset(&memo, 0, sizeof(memo));
	map(f, &memo, PRO_FP);
	assert_int_equal(account_set_cert(f->st, PRO, NEW_FP, err, sizeof(err)), 0);
	assert_int_equal(external(f, NULL, PRO_FP, &rp), AUTH_FAILED);
	assert_int_equal(rp.reason, AUTH_R_CERT_UNMAPPED);
	/* the memo names PRO_FP: a login with NEW_FP reads, and finds the account now */
	assert_int_equal(external(f, &memo, NEW_FP, &rp), AUTH_OK);
	assert_false(memo.set); /* spent all the same: one login per mapping */
	assert_int_equal(external(f, &memo, PRO_FP, &rp), AUTH_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_login_takes_the_mapping_once, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_other_certificate_or_none_reads_afresh, setup,
	                                    store_fixture_teardown),
	};
	return STORE_RUN_GROUPS("auth_cert_memo", tests);
}
