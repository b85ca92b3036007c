/* Unit tests: imapd dates (APPEND date-time, SEARCH date, INTERNALDATE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_date.h"

static void test_date_time(void **state)
{
	(void)state;
	int64_t t;
	assert_int_equal(imap_date_time_parse("17-Jul-1996 02:44:25 -0700", &t), 0);
	assert_int_equal(t, 837596665);
	assert_int_equal(imap_date_time_parse(" 7-Jul-1996 02:44:25 +0000", &t), 0);
	char out[40];
	imap_date_time_format(t, out, sizeof(out));
	assert_string_equal(out, "07-Jul-1996 02:44:25 +0000");
	const char *bad[] = {"",
	                     "17-Jul-1996",
	                     "17-Jux-1996 02:44:25 +0000",
	                     "17-Jul-1996 24:00:00 +0000",
	                     "17-Jul-1996 02:44:25 0000",
	                     "17-Jul-1996 02:44:25 +00000",
	                     "1-Jul-96 02:44:25 +0000",
	                     "x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (imap_date_time_parse(bad[i], &t) != -1)
			fail_msg("accepted [%s]", bad[i]);
}

static void test_date(void **state)
{
	(void)state;
	int64_t t;
	assert_int_equal(imap_date_parse("1-Feb-1994", &t), 0);
	assert_int_equal(t, 760060800);
	assert_int_equal(imap_date_parse("01-feb-1994", &t), 0);
	assert_int_equal(t, 760060800);
	assert_int_equal(imap_date_parse("1-Feb-1994 ", &t), -1);
	assert_int_equal(imap_date_parse("32-Feb-1994x", &t), -1);
	assert_int_equal(imap_date_parse("", &t), -1);
	assert_int_equal(imap_date_parse("1", &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_date_time),
	    cmocka_unit_test(test_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
