/* Unit tests: the account a client certificate maps to (account.h account_by_cert), in a
 * real store: its registered fingerprint's first, else its email address's, either
 * looked up without case; nothing for an unknown or missing pair. */
#include "test_store_util.h"

#include <string.h>

#include "directory/account.h"
#include "lib/str.h"
#include "policy/policy.h"

#define PRO "dr.martin@pro.mss.test"
#define PRO2 "dr.durand@pro.mss.test"
#define FP "aa00000000000000000000000000000000000000000000000000000000000001"
#define FP_UPPER "AA00000000000000000000000000000000000000000000000000000000000001"
#define FP_OTHER "bb00000000000000000000000000000000000000000000000000000000000002"

static int add(struct store_fixture *f, const char *address, const char *fp)
{
	struct account a;
	char err[256];

	memset(&a, 0, sizeof(a));
	a.role = ROLE_PROFESSIONAL;
	if (str_copy(a.address, sizeof(a.address), address) != 0)
		return -1;
	int r = account_add(f->st, &a, NULL, fp, err, sizeof(err));
	if (r != 0)
		print_error("account_add %s: %s\n", address, err);
	return r;
}

static int setup(void **state)
{
	if (store_fixture_setup(state) < 0)
		return -1;
	struct store_fixture *f = *state;
	char err[256];
	/* the schemas the daemons run on (accounts among them) */
	if (policy_schema_migrate(f->st, NULL, err, sizeof(err)) < 0)
		return -1;
	return add(f, PRO, FP) == 0 && add(f, PRO2, NULL) == 0 ? 0 : -1;
}

/* The address found for (sha256, email), "" for none. */
static const char *mapped(struct store_fixture *f, const char *sha256, const char *email)
{
	static struct account a;

	memset(&a, 0, sizeof(a));
	int r = account_by_cert(f->st, sha256, email, &a);
	assert_true(r == 0 || r == 1);
	return r == 1 ? a.address : "";
}

static void test_fingerprint_first(void **state)
{
	struct store_fixture *f = *state;

	/* a registered fingerprint names its account, whatever address the certificate holds */
	assert_string_equal(mapped(f, FP, PRO2), PRO);
	assert_string_equal(mapped(f, FP_UPPER, NULL), PRO);
	assert_string_equal(mapped(f, FP, ""), PRO);
}

static void test_else_the_address(void **state)
{
	struct store_fixture *f = *state;
	char longer[300];

	assert_string_equal(mapped(f, FP_OTHER, PRO2), PRO2);
	assert_string_equal(mapped(f, NULL, "Dr.Durand@PRO.mss.test"), PRO2);
	assert_string_equal(mapped(f, "", PRO), PRO);
	/* neither known, or neither given */
	assert_string_equal(mapped(f, FP_OTHER, "nobody@pro.mss.test"), "");
	assert_string_equal(mapped(f, FP_OTHER, NULL), "");
	assert_string_equal(mapped(f, NULL, NULL), "");
	assert_string_equal(mapped(f, "", ""), "");
	/* an address longer than any account's names none (not an error) */
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_string_equal(mapped(f, NULL, longer), "");
	assert_string_equal(mapped(f, FP, longer), PRO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fingerprint_first, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_else_the_address, setup, store_fixture_teardown),
	};
	return STORE_RUN_GROUPS("account_by_cert", tests);
}
