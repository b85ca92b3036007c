/* Unit tests: auth_verify on a real store: the throttling counters (per client
 * address and per account, window, lockout, a success clearing only its own account),
 * certificates never locked out, disabled accounts, and the audit records. */
#include "test_store_util.h"

#include "audit/audit.h"
#include "auth/auth.h"
#include "auth/auth_throttle.h"
#include "directory/account.h"
#include "policy/policy.h"
#include "store/store_sql.h"

#define T0 1800000000L
#define PATIENT "146026322000196@patient.mss.test"
#define PATIENT2 "279035121518989@patient.mss.test"
#define PRO "dr.martin@pro.mss.test"
#define PRO_FP "aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11"

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
	f->cfg.auth_max_failures = 5;
	f->cfg.auth_account_max_failures = 8;
	f->cfg.auth_failure_window = 600;
	f->cfg.auth_lockout = 900;
	f->cfg.auth_failure_delay = 100;
	a.role = ROLE_PATIENT;
	assert_int_equal(str_copy(a.address, sizeof(a.address), PATIENT), 0);
	if (account_add(f->st, &a, "right", NULL, err, sizeof(err)) != 0)
		return -1;
	assert_int_equal(str_copy(a.address, sizeof(a.address), PATIENT2), 0);
	if (account_add(f->st, &a, "mine", NULL, err, sizeof(err)) != 0)
		return -1;
	a.role = ROLE_PROFESSIONAL;
	assert_int_equal(str_copy(a.address, sizeof(a.address), PRO), 0);
	return account_add(f->st, &a, "pro-pw", PRO_FP, err, sizeof(err)) == 0 ? 0 : -1;
}

static enum auth_result attempt(struct store_fixture *f, enum auth_mech mech, const char *ip,
                                const char *user, const char *secret, bool cert, time_t now,
                                struct auth_reply *rp)
{
	static struct auth_request rq;
	struct auth_ctx ctx = {f->st, &f->cfg, NULL, false, NULL};

	memset(&rq, 0, sizeof(rq));
	rq.mech = mech;
	assert_int_equal(str_copy(rq.user, sizeof(rq.user), user), 0);
	assert_int_equal(str_copy(rq.secret, sizeof(rq.secret), secret), 0);
	assert_int_equal(str_copy(rq.client_ip, sizeof(rq.client_ip), ip), 0);
	assert_int_equal(str_copy(rq.protocol, sizeof(rq.protocol), "imap"), 0);
	assert_int_equal(str_copy(rq.listener, sizeof(rq.listener), "imaps"), 0);
	if (cert) {
		rq.peer.has_cert = true;
		assert_int_equal(str_copy(rq.peer.sha256, sizeof(rq.peer.sha256), PRO_FP), 0);
		assert_int_equal(str_copy(rq.peer.email, sizeof(rq.peer.email), PRO), 0);
	}
	return auth_verify(&ctx, &rq, rp, now);
}

static enum auth_result password(struct store_fixture *f, const char *ip, const char *user, const char *pw,
                                 time_t now)
{
	struct auth_reply rp;

	return attempt(f, AUTH_MECH_PLAIN, ip, user, pw, false, now, &rp);
}

/* The attack: 4 wrong guesses, then a login to the guesser's own account, again
 * and again. The success clears nothing of the address's count. */
static void test_own_success_does_not_clear_the_address(void **state)
{
	struct store_fixture *f = *state;
	struct auth_reply rp;

	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    attempt(f, AUTH_MECH_PLAIN, "192.0.2.1", PATIENT, "guess", false, T0 + i, &rp),
		    AUTH_FAILED);
		assert_int_equal(rp.delay_ms, 100u * (unsigned)(i + 1)); /* slower at each failure */
	}
	assert_int_equal(password(f, "192.0.2.1", PATIENT2, "mine", T0 + 5), AUTH_OK);
	/* the fifth failure locks the address */
	assert_int_equal(password(f, "192.0.2.1", PATIENT, "guess", T0 + 6), AUTH_LOCKED);
	/* locked: even the right password of another account is refused, unchecked */
	assert_int_equal(attempt(f, AUTH_MECH_PLAIN, "192.0.2.1", PATIENT2, "mine", false, T0 + 7, &rp),
	                 AUTH_LOCKED);
	assert_int_equal(rp.reason, AUTH_R_LOCKED_CLIENT);
	/* another address is not concerned */
	assert_int_equal(password(f, "192.0.2.2", PATIENT, "right", T0 + 8), AUTH_OK);
	/* after auth_lockout, the address may try again */
	assert_int_equal(password(f, "192.0.2.1", PATIENT2, "mine", T0 + 6 + 901), AUTH_OK);
}

/* Guessing one account from many addresses: the account's own counter stops it. */
static void test_account_limit_across_addresses(void **state)
{
	struct store_fixture *f = *state;
	struct auth_reply rp;
	char ip[32];

	for (int i = 0; i < 7; i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		assert_int_equal(password(f, ip, PATIENT, "guess", T0 + i), AUTH_FAILED);
	}
	assert_int_equal(password(f, "198.51.100.99", PATIENT, "guess", T0 + 8), AUTH_LOCKED);
	assert_int_equal(attempt(f, AUTH_MECH_PLAIN, "203.0.113.1", PATIENT, "right", false, T0 + 9, &rp),
	                 AUTH_LOCKED);
	assert_int_equal(rp.reason, AUTH_R_LOCKED_ACCOUNT);
	/* other accounts log in from anywhere */
	assert_int_equal(password(f, "203.0.113.1", PATIENT2, "mine", T0 + 10), AUTH_OK);
}

/* Failures older than auth_failure_window are forgotten; a success forgets its own. */
static void test_window_and_success(void **state)
{
	struct store_fixture *f = *state;
	struct auth_throttle t;
	struct sql *db = store_sql(f->st);

	for (int i = 0; i < 4; i++)
		assert_int_equal(password(f, "192.0.2.7", PATIENT, "guess", T0 + i), AUTH_FAILED);
	/* 601 s later the window has passed: four more failures do not lock */
	for (int i = 0; i < 4; i++)
		assert_int_equal(password(f, "192.0.2.7", PATIENT, "guess", T0 + 604 + i), AUTH_FAILED);
	auth_throttle_keys(&t, "192.0.2.8", PATIENT);
	assert_int_equal(auth_throttle_read(db, &f->cfg, &t, T0 + 610), 0);
	assert_int_equal(t.account_failures, 4);
	assert_int_equal(password(f, "192.0.2.8", PATIENT, "right", T0 + 611), AUTH_OK);
	assert_int_equal(auth_throttle_read(db, &f->cfg, &t, T0 + 612), 0);
	assert_int_equal(t.account_failures, 0);
	/* the address that failed keeps its count */
	auth_throttle_keys(&t, "192.0.2.7", "");
	assert_int_equal(auth_throttle_read(db, &f->cfg, &t, T0 + 612), 0);
	assert_int_equal(t.client_failures, 4);
}

/* An IPv6 client is counted by its /64. */
static void test_ipv6_prefix(void **state)
{
	struct store_fixture *f = *state;
	struct auth_throttle a, b, c;

	auth_throttle_keys(&a, "2001:db8:1:2::1", "");
	auth_throttle_keys(&b, "2001:db8:1:2:ffff::9", "");
	auth_throttle_keys(&c, "2001:db8:1:3::1", "");
	assert_string_equal(a.client, "2001:db8:1:2::/64");
	assert_string_equal(a.client, b.client);
	assert_string_not_equal(a.client, c.client);
	auth_throttle_keys(&a, "::ffff:192.0.2.1", "");
	assert_string_equal(a.client, "::ffff:192.0.2.1");
	for (int i = 0; i < 5; i++)
		password(f, i % 2 ? "2001:db8:1:2::1" : "2001:db8:1:2::2", PATIENT2, "guess", T0 + i);
	assert_int_equal(password(f, "2001:db8:1:2::3", PATIENT2, "mine", T0 + 6), AUTH_LOCKED);
}

/* A locked address or account never stops a certificate login. */
static void test_certificate_never_locked(void **state)
{
	struct store_fixture *f = *state;
	struct auth_reply rp;

	for (int i = 0; i < 8; i++)
		password(f, i < 5 ? "192.0.2.9" : "192.0.2.10", PRO, "guess", T0 + i);
	assert_int_equal(attempt(f, AUTH_MECH_PLAIN, "192.0.2.11", PRO, "pro-pw", true, T0 + 9, &rp),
	                 AUTH_LOCKED);
	assert_int_equal(attempt(f, AUTH_MECH_EXTERNAL, "192.0.2.9", "", "", true, T0 + 10, &rp), AUTH_OK);
	assert_string_equal(rp.account, PRO);
	assert_int_equal(rp.strength, AUTH_STRENGTH_CERTIFICATE);
	/* and EXTERNAL failures are not counted against the address */
	for (int i = 0; i < 10; i++)
		assert_int_equal(attempt(f, AUTH_MECH_EXTERNAL, "192.0.2.12", "", "", false, T0 + 11, &rp),
		                 AUTH_FAILED);
	assert_int_equal(password(f, "192.0.2.12", PATIENT2, "mine", T0 + 12), AUTH_OK);
}

/* A professional: password alone refused, with its own certificate accepted. */
static void test_professional_and_disabled(void **state)
{
	struct store_fixture *f = *state;
	struct auth_reply rp;
	char err[256];

	assert_int_equal(attempt(f, AUTH_MECH_PLAIN, "192.0.2.20", PRO, "pro-pw", false, T0, &rp),
	                 AUTH_FAILED);
	assert_int_equal(rp.reason, AUTH_R_NEEDS_CERT);
	assert_int_equal(attempt(f, AUTH_MECH_LOGIN, "192.0.2.20", PRO, "pro-pw", true, T0, &rp), AUTH_OK);
	assert_int_equal(rp.strength, AUTH_STRENGTH_PASSWORD_CERT);
	assert_int_equal(account_disable(f->st, PRO, err, sizeof(err)), 0);
	assert_int_equal(attempt(f, AUTH_MECH_LOGIN, "192.0.2.21", PRO, "pro-pw", true, T0, &rp),
	                 AUTH_FAILED);
	assert_int_equal(attempt(f, AUTH_MECH_EXTERNAL, "192.0.2.21", "", "", true, T0, &rp), AUTH_FAILED);
	assert_int_equal(rp.reason, AUTH_R_CERT_UNMAPPED);
}

/* Sets PRO's last login, then opens the store afresh (an empty statement cache). */
static void set_last_login(struct store_fixture *f, int64_t when)
{
	char err[256];

	assert_int_equal(sql_exec(store_sql(f->st), "test.last_login",
	                          "UPDATE accounts SET last_login = ?1 WHERE address = ?2",
	                          SQL_ARGS(SQL_INT(when), SQL_TEXT(PRO)), err, sizeof(err)),
	                 1);
	store_close(f->st);
	f->st = store_open(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(f->st);
}

/* Whether the login just made sent the last-login UPDATE: a fresh connection parses a
 * statement the first time it is sent, so a later call parses it only if it was not. */
static bool login_sent_update(struct store_fixture *f, int64_t id)
{
	char err[256];
	unsigned long before = sql_prepare_count(store_sql(f->st));

	assert_int_equal(account_touch_login(f->st, id, 0, err, sizeof(err)), 0); /* changes nothing */
	return sql_prepare_count(store_sql(f->st)) == before;
}

/* The last login is kept to the hour (retention): a login within the hour of the one
 * recorded sends no UPDATE (it would change no row, and still wait for the write lock),
 * a later one records the login. */
static void test_last_login_kept_to_the_hour(void **state)
{
	struct store_fixture *f = *state;
	struct auth_reply rp;
	struct account a;
	int64_t now = (int64_t)time(NULL);

	set_last_login(f, now - 600);
	assert_int_equal(attempt(f, AUTH_MECH_EXTERNAL, "192.0.2.40", "", "", true, T0, &rp), AUTH_OK);
	assert_int_equal(account_get(f->st, PRO, &a), 1);
	assert_int_equal(a.last_login, now - 600);
	assert_false(login_sent_update(f, a.id));

	set_last_login(f, now - ACCOUNT_LOGIN_RESOLUTION - 1);
	assert_int_equal(attempt(f, AUTH_MECH_EXTERNAL, "192.0.2.40", "", "", true, T0, &rp), AUTH_OK);
	assert_int_equal(account_get(f->st, PRO, &a), 1);
	assert_true(a.last_login >= now);
	assert_true(login_sent_update(f, a.id));
}

static int count_rows(struct store *st, const char *where)
{
	char sql[512], err[256];
	int64_t n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_log WHERE %s", where);
	if (sql_one(store_sql(st), "count audit records", sql, SQL_NOARGS, &n, err, sizeof(err)) != 1)
		return -1;
	return (int)n;
}

/* Every attempt is audited with the mechanism and the client address; the secret never. */
static void test_audit_records(void **state)
{
	struct store_fixture *f = *state;
	struct store *db = f->st;
	struct auth_reply rp;

	password(f, "192.0.2.30", PATIENT, "Secret-Guess-1", T0);
	password(f, "192.0.2.30", PATIENT, "right", T0 + 1);
	attempt(f, AUTH_MECH_EXTERNAL, "192.0.2.31", "", "", true, T0 + 2, &rp);
	assert_int_equal(
	    count_rows(db, "action = 'imap.login' AND peer = '192.0.2.30' AND detail LIKE 'mech=PLAIN%' "
	                   "AND result = 'refused: bad-credentials' AND actor = 'anonymous'"),
	    1);
	assert_int_equal(count_rows(db,
	                            "action = 'imap.login' AND actor = '" PATIENT "' AND auth = 'password' "
	                            "AND result = 'ok' AND patient = ''"),
	                 1);
	assert_int_equal(count_rows(db,
	                            "action = 'imap.login' AND actor = '" PRO "' AND auth = 'certificate' "
	                            "AND detail LIKE 'mech=EXTERNAL%'"),
	                 1);
	assert_int_equal(
	    count_rows(db, "actor || auth || action || target || detail || result LIKE '%Secret-Guess%' "
	                   "OR detail LIKE '%right%'"),
	    0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_own_success_does_not_clear_the_address, setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_account_limit_across_addresses, setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_window_and_success, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_prefix, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_certificate_never_locked, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_professional_and_disabled, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_audit_records, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_last_login_kept_to_the_hour, setup, store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
