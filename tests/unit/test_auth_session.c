/* Unit tests: web sessions in a real store (auth_session.h): fresh random tokens, only
 * their hash kept, the idle timeout at its exact edge, logout, malformed tokens, the
 * CSRF comparison. */
#include "test_store_util.h"

#include "auth/auth_session.h"
#include "directory/account.h"
#include "lib/str.h"
#include "policy/policy.h"
#include "store/store_sql.h"

#define T0 1800000000L
#define PATIENT "146026322000196@patient.mss.test"

static int setup(void **state)
{
	struct store_fixture *f;
	struct account a;
	char err[256];

	if (store_fixture_setup(state) < 0)
		return -1;
	f = *state;
	if (policy_schema_migrate(f->st, NULL, err, sizeof(err)) < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.role = ROLE_PATIENT;
	assert_int_equal(str_copy(a.address, sizeof(a.address), PATIENT), 0);
	return account_add(f->st, &a, "right", NULL, err, sizeof(err)) == 0 ? 0 : -1;
}

static int64_t rows(struct store_fixture *f, const char *where_token)
{
	int64_t n = -1;
	char err[256];

	assert_int_equal(sql_one(store_sql(f->st), "count",
	                         "SELECT count(*) FROM web_sessions WHERE token_sha256 = ?1",
	                         SQL_ARGS(SQL_TEXT(where_token)), &n, err, sizeof(err)),
	                 1);
	return n;
}

static void test_create_find_end(void **state)
{
	struct store_fixture *f = *state;
	struct auth_session a, b, found;
	char err[256];

	assert_int_equal(auth_session_create(f->st, PATIENT, "127.0.0.1", T0, 900, &a, err, sizeof(err)), 0);
	assert_int_equal(auth_session_create(f->st, PATIENT, "127.0.0.1", T0, 900, &b, err, sizeof(err)), 0);
	assert_int_equal(strlen(a.token), AUTH_SESSION_TOKEN_LEN);
	assert_string_not_equal(a.token, b.token);
	assert_string_not_equal(a.csrf, b.csrf);
	assert_string_not_equal(a.token, a.csrf);
	assert_int_equal(rows(f, a.token), 0); /* the token itself is never stored */
	assert_int_equal(auth_session_find(f->st, a.token, T0 + 10, 900, &found), 1);
	assert_string_equal(found.account, PATIENT);
	assert_string_equal(found.csrf, a.csrf);
	assert_true(auth_session_csrf_ok(&found, a.csrf));
	assert_false(auth_session_csrf_ok(&found, b.csrf));
	assert_false(auth_session_csrf_ok(&found, NULL));
	assert_false(auth_session_csrf_ok(&found, ""));
	assert_int_equal(auth_session_end(f->st, a.token), 0);
	assert_int_equal(auth_session_find(f->st, a.token, T0 + 11, 900, &found), 0);
	assert_string_equal(found.account, "");
	assert_int_equal(auth_session_find(f->st, b.token, T0 + 11, 900, &found), 1);
}

static void test_idle_edge(void **state)
{
	struct store_fixture *f = *state;
	struct auth_session a, found;
	char err[256];

	assert_int_equal(auth_session_create(f->st, PATIENT, "127.0.0.1", T0, 900, &a, err, sizeof(err)), 0);
	assert_int_equal(auth_session_find(f->st, a.token, T0 + 900, 900, &found), 1); /* touched at T0+900 */
	assert_int_equal(auth_session_find(f->st, a.token, T0 + 1800, 900, &found), 1);
	assert_int_equal(auth_session_find(f->st, a.token, T0 + 2701, 900, &found), 0);
	/* gone for good, even if the clock went back */
	assert_int_equal(auth_session_find(f->st, a.token, T0 + 1801, 900, &found), 0);
}

static void test_malformed_tokens(void **state)
{
	struct store_fixture *f = *state;
	struct auth_session a, found;
	char err[256], upper[AUTH_SESSION_TOKEN_LEN + 1];

	assert_int_equal(auth_session_create(f->st, PATIENT, "127.0.0.1", T0, 900, &a, err, sizeof(err)), 0);
	assert_int_equal(str_copy(upper, sizeof(upper), a.token), 0);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(auth_session_find(f->st, "", T0, 900, &found), 0);
	assert_int_equal(auth_session_find(f->st, "' OR 1=1 --", T0, 900, &found), 0);
	assert_int_equal(auth_session_find(f->st, upper, T0, 900, &found),
	                 strcmp(upper, a.token) == 0 ? 1 : 0);
	a.token[AUTH_SESSION_TOKEN_LEN - 1] = '\0';
	assert_int_equal(auth_session_find(f->st, a.token, T0, 900, &found), 0);
}

static void test_login_prunes_idle_rows(void **state)
{
	struct store_fixture *f = *state;
	struct auth_session a, b;
	char err[256];
	int64_t n = 0;

	assert_int_equal(auth_session_create(f->st, PATIENT, "127.0.0.1", T0, 900, &a, err, sizeof(err)), 0);
	assert_int_equal(
	    auth_session_create(f->st, PATIENT, "127.0.0.1", T0 + 901, 900, &b, err, sizeof(err)), 0);
	assert_int_equal(sql_one(store_sql(f->st), "count", "SELECT count(*) FROM web_sessions", SQL_NOARGS,
	                         &n, err, sizeof(err)),
	                 1);
	assert_int_equal(n, 1);
}

static int64_t all_rows(struct store_fixture *f)
{
	int64_t n = -1;
	char err[256];

	assert_int_equal(sql_one(store_sql(f->st), "count", "SELECT count(*) FROM web_sessions", SQL_NOARGS,
	                         &n, err, sizeof(err)),
	                 1);
	return n;
}

/* A session of an account disabled or deleted since its login is over, and gone. */
static void test_account_disabled_or_deleted(void **state)
{
	struct store_fixture *f = *state;
	struct auth_session a, found;
	char err[256];

	assert_int_equal(auth_session_create(f->st, PATIENT, "127.0.0.1", T0, 900, &a, err, sizeof(err)), 0);
	assert_int_equal(auth_session_find(f->st, a.token, T0 + 1, 900, &found), 1);
	assert_int_equal(account_disable(f->st, PATIENT, err, sizeof(err)), 0);
	assert_int_equal(auth_session_find(f->st, a.token, T0 + 2, 900, &found), 0);
	assert_int_equal(all_rows(f), 0);
	/* a session naming no account at all */
	assert_int_equal(
	    auth_session_create(f->st, "nobody@patient.mss.test", "127.0.0.1", T0, 900, &a, err, sizeof(err)),
	    0);
	assert_int_equal(auth_session_find(f->st, a.token, T0 + 1, 900, &found), 0);
	assert_int_equal(all_rows(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_find_end, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_idle_edge, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_tokens, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_login_prunes_idle_rows, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_account_disabled_or_deleted, setup, store_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
