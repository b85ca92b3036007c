/* Unit tests: the one HTML escaping helper of mss-webd (web_html.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "webd/web_html.h"

static void check(const char *in, const char *want)
{
	struct buf b;

	buf_init(&b, 4096);
	web_esc(&b, in);
	assert_int_equal(buf_append_char(&b, '\0'), 0);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void test_escapes(void **state)
{
	check("", "");
	check("plain é text", "plain é text");
	check("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;");
	check("\"><img src=x onerror=y>", "&quot;&gt;&lt;img src=x onerror=y&gt;");
	check("a'b&c", "a&#39;b&amp;c");
	check("&amp;", "&amp;amp;");
}

static void test_null_and_embedded_nul(void **state)
{
	struct buf b;

	buf_init(&b, 64);
	web_esc(&b, NULL);
	assert_int_equal(b.len, 0);
	web_esc_n(&b, "a\0<", 3);
	assert_int_equal(buf_append_char(&b, '\0'), 0);
	assert_string_equal(b.data, "a&lt;");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_null_and_embedded_nul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
