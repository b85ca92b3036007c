/* Unit tests: imapd sequence sets (RFC 9051 9: sequence-set). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_seqset.h"

struct case_ {
	const char *set;
	uint32_t star;       /* what '*' stands for */
	const char *members; /* "1 2 5": the members among 1..12 and 4294967295 */
};

static const struct case_ good[] = {
    {"1", 10, "1"},
    {"1:3", 10, "1 2 3"},
    {"3:1", 10, "1 2 3"},
    {"2,4:5,9", 10, "2 4 5 9"},
    {"*", 10, "10"},
    {"8:*", 10, "8 9 10"},
    {"*:8", 10, "8 9 10"},
    {"*:*", 10, "10"},
    {"12:*", 10, "10 11 12"}, /* N:* with N > max still names max (RFC 9051 6.4.9) */
    {"1:4294967294", 3, "1 2 3 4 5 6 7 8 9 10 11 12"},
    {"4294967294", 3, ""},
    {"4294967295", 3, ""}, /* the largest nz-number, not '*' */
    {"2:4294967295", 3, "2 3 4 5 6 7 8 9 10 11 12"},
};

static const char *const bad[] = {
    "",    "0",    "0:5",  "5:0", "4294967296", "99999999999999999999",
    "1,",  ",1",   "1::2", "1:",  ":1",         "a",
    "1 2", "1,,2", "-1",   "+1",  "1:*:2",      "$",
    "01",
};

static void members(const struct imap_seqset *s, uint32_t star, char *out, size_t outlen)
{
	out[0] = '\0';
	size_t len = 0;
	for (uint32_t v = 1; v <= 12; v++)
		if (imap_seqset_contains(s, v, star))
			len += (size_t)snprintf(out + len, outlen - len, "%s%u", len ? " " : "", v);
}

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct imap_seqset s;
		if (imap_seqset_parse(good[i].set, &s) != 0)
			fail_msg("%s refused", good[i].set);
		char got[128];
		members(&s, good[i].star, got, sizeof(got));
		if (strcmp(got, good[i].members) != 0)
			fail_msg("%s: got [%s] want [%s]", good[i].set, got, good[i].members);
		/* the normalised form (sorted, merged, '*' resolved) names the same members */
		imap_seqset_normalise(&s, good[i].star);
		char norm[128] = "";
		size_t len = 0;
		for (uint32_t v = 1; v <= 12; v++)
			if (imap_seqset_has(&s, v))
				len += (size_t)snprintf(norm + len, sizeof(norm) - len, "%s%u",
				                        len ? " " : "", v);
		if (strcmp(norm, good[i].members) != 0)
			fail_msg("%s normalised: got [%s]", good[i].set, norm);
		imap_seqset_free(&s);
	}
}

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_seqset s;
		if (imap_seqset_parse(bad[i], &s) != -1)
			fail_msg("[%s] accepted", bad[i]);
		assert_null(s.r);
	}
}

static void test_star_and_max(void **state)
{
	(void)state;
	struct imap_seqset s;
	assert_int_equal(imap_seqset_parse("1:3,7", &s), 0);
	assert_false(imap_seqset_has_star(&s));
	assert_int_equal(imap_seqset_max(&s, 100), 7);
	imap_seqset_free(&s);
	assert_int_equal(imap_seqset_parse("2,5:*", &s), 0);
	assert_true(imap_seqset_has_star(&s));
	assert_int_equal(imap_seqset_max(&s, 100), 100);
	assert_int_equal(imap_seqset_max(&s, 3), 5);
	imap_seqset_free(&s);
}

static void test_normalise_merges(void **state)
{
	(void)state;
	struct imap_seqset s;
	assert_int_equal(imap_seqset_parse("9:10,1:3,4,20:*,2,15:11", &s), 0);
	imap_seqset_normalise(&s, 25);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.r[0].lo, 1);
	assert_int_equal(s.r[0].hi, 4);
	assert_int_equal(s.r[1].lo, 9);
	assert_int_equal(s.r[1].hi, 15);
	assert_int_equal(s.r[2].lo, 20);
	assert_int_equal(s.r[2].hi, 25);
	assert_true(imap_seqset_has(&s, 25));
	assert_false(imap_seqset_has(&s, 26));
	assert_false(imap_seqset_has(&s, 5));
	imap_seqset_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_star_and_max),
	    cmocka_unit_test(test_normalise_merges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
