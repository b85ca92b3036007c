/* Unit tests: the one HTML escaping helper (lib/html.h), used by mss-webd's pages and the
 * vault's CDA rendering, which escaped apart before (the vault left ' as it was). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "lib/html.h"
#include "vault/vault_cda.h"

static void check(const char *in, const char *want)
{
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(html_escape_str(&b, in), 0);
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
	check("' onmouseover='x", "&#39; onmouseover=&#39;x");
}

static void test_null_and_embedded_nul(void **state)
{
	struct buf b;

	buf_init(&b, 64);
	assert_int_equal(html_escape_str(&b, NULL), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(html_escape(&b, "a\0<", 3), 0);
	assert_string_equal(b.data, "a&lt;");
	buf_free(&b);
}

/* Past the limit nothing of the text is appended: no half entity ("&am") can end a page. */
static void test_limit_all_or_nothing(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(html_escape_str(&b, "ab"), 0);
	assert_int_equal(html_escape_str(&b, "c&d"), -1);
	assert_string_equal(b.data, "ab");
	assert_int_equal(html_escape_str(&b, "cdefgh"), 0);
	assert_string_equal(b.data, "abcdefgh");
	assert_int_equal(html_escape_str(&b, "x"), -1);
	buf_free(&b);
}

#define CDA_HEAD                                                                                             \
	"<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>O'Brien &amp; \"co\"</title>"                     \
	"<component><structuredBody><component><section><title>Allergie à l'iode</title>"                   \
	"<text>Pas d'<content>AINS</content> &lt;script&gt;</text></section></component>"                    \
	"</structuredBody></component></ClinicalDocument>"

/* The CDA rendering escapes as the web pages do, apostrophes included. */
static void test_cda_uses_the_same_escaping(void **state)
{
	struct buf out;
	char err[256];

	buf_init(&out, 1 << 20);
	assert_int_equal(cda_render_html(CDA_HEAD, strlen(CDA_HEAD), &out, err, sizeof err), 0);
	assert_non_null(strstr(out.data, "<title>O&#39;Brien &amp; &quot;co&quot;</title>"));
	assert_non_null(strstr(out.data, "Allergie à l&#39;iode"));
	assert_non_null(strstr(out.data, "Pas d&#39;"));
	assert_non_null(strstr(out.data, "&lt;script&gt;"));
	assert_null(strstr(out.data, "'"));
	buf_free(&out);
}

/* A page that does not fit the caller's buffer is an error, not a cut page. */
static void test_cda_page_over_the_limit(void **state)
{
	struct buf out;
	char err[256];

	buf_init(&out, 64);
	assert_int_equal(cda_render_html(CDA_HEAD, strlen(CDA_HEAD), &out, err, sizeof err), -1);
	assert_non_null(strstr(err, "too large"));
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escapes),
	    cmocka_unit_test(test_null_and_embedded_nul),
	    cmocka_unit_test(test_limit_all_or_nothing),
	    cmocka_unit_test(test_cda_uses_the_same_escaping),
	    cmocka_unit_test(test_cda_page_over_the_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
