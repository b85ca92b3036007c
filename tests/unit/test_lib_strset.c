/* Unit tests: lib/strset (one copy of each distinct string). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/strset.h"

static void test_same_string_same_copy(void **state)
{
	(void)state;
	struct strset set = {0};
	char a[] = "$Work $Zed", b[] = "$Work $Zed";
	const char *pa = strset_add(&set, a);
	assert_ptr_not_equal(pa, a); /* the set's own copy */
	assert_string_equal(pa, a);
	assert_ptr_equal(strset_add(&set, b), pa);
	assert_ptr_not_equal(strset_add(&set, "$Work"), pa);
	assert_int_equal(set.n, 2);
	strset_free(&set);
	assert_int_equal(set.n, 0);
	assert_null(set.slot);
}

static void test_many_strings_survive_growth(void **state)
{
	(void)state;
	struct strset set = {0};
	const char *got[1000];
	char s[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(s, sizeof(s), "$K%d", i);
		got[i] = strset_add(&set, s);
	}
	assert_int_equal(set.n, 1000);
	for (int i = 0; i < 1000; i++) { /* the pointers given stay valid and unique */
		snprintf(s, sizeof(s), "$K%d", i);
		assert_string_equal(got[i], s);
		assert_ptr_equal(strset_add(&set, s), got[i]);
	}
	assert_int_equal(set.n, 1000);
	strset_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_string_same_copy),
	    cmocka_unit_test(test_many_strings_survive_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
