/* Unit tests: lib/buf and lib/str. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/str.h"

static void test_append_keeps_nul(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "hello"), 0);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "hello");
	assert_int_equal(buf_append(&b, "\0x", 2), 0);
	assert_int_equal(b.len, 7);
	assert_int_equal(b.data[7], '\0');
	buf_free(&b);
}

/* The pages mapped ahead hold what realloc kept, and take writes. */
static void test_realloc_prefault_keeps_data(void **state)
{
	(void)state;
	char *p = xrealloc_prefault(NULL, 100);
	memcpy(p, "view", 5);
	p = xrealloc_prefault(p, 3 << 20); /* 3 MB: pages of its own */
	assert_string_equal(p, "view");
	memset(p + 100, 'x', (3 << 20) - 100);
	assert_int_equal(p[(3 << 20) - 1], 'x');
	free(p);
}

static void test_limit_refuses_whole_append(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "12345678"), 0);
	assert_int_equal(buf_append_char(&b, '9'), -1);
	assert_int_equal(b.len, 8);
	buf_reset(&b);
	assert_int_equal(buf_append_str(&b, "123"), 0);
	assert_int_equal(buf_append_str(&b, "456789"), -1);
	assert_string_equal(b.data, "123");
	assert_int_equal(buf_printf(&b, "%s", "abcdefgh"), -1);
	assert_string_equal(b.data, "123");
	buf_free(&b);
}

static void test_grows_large(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(buf_printf(&b, "%05d", i % 100000), 0);
	assert_int_equal(b.len, 500000);
	assert_memory_equal(b.data + 499995, "99999", 5);
	buf_free(&b);
}

static void test_consume_truncate(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 64);
	assert_int_equal(buf_append_str(&b, "abcdef"), 0);
	buf_consume(&b, 2);
	assert_string_equal(b.data, "cdef");
	buf_truncate(&b, 2);
	assert_string_equal(b.data, "cd");
	buf_consume(&b, 10);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void test_refused_is_sticky(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 4);
	assert_false(b.refused);
	assert_int_equal(buf_append_str(&b, "abc"), 0);
	assert_int_equal(buf_append_str(&b, "de"), -1);
	assert_int_equal(buf_append_str(&b, "d"), 0); /* fits: appended, and refused stays */
	assert_true(b.refused);
	buf_reset(&b);
	assert_false(b.refused);
	assert_int_equal(buf_printf(&b, "%s", "abcdef"), -1);
	assert_true(b.refused);
	buf_free(&b);
}

static void test_put_unlimited_only(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	buf_put_str(&b, "ab");
	buf_put_char(&b, 'c');
	buf_put(&b, "de", 2);
	buf_put_printf(&b, "%d", 42);
	assert_string_equal(b.data, "abcde42");
	buf_free(&b);
	/* into a limited buffer: aborts on the first call, even one that would fit */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		buf_init(&b, 100);
		buf_put_str(&b, "x");
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

/* buf_wipe (a reused process's buffers): frees like buf_free, also twice, and the
 * buf may be used again. */
/* A buf_init_wiped buffer moves as it grows (its old storage overwritten, which the
 * reused MX session process's memory test checks: test_smtp_reuse.py): what it held
 * comes along, its NUL and limit hold, and buf_init makes a plain one again. */
static void test_wiped_buffer_grows_and_keeps_its_data(void **state)
{
	struct buf b;

	(void)state;
	buf_init_wiped(&b, 3000000);
	for (int i = 0; i < 200000; i++) /* 1 MB: through the heap, then a mapping moved */
		assert_int_equal(buf_printf(&b, "%05d", i % 100000), 0);
	assert_int_equal(b.len, 1000000);
	assert_memory_equal(b.data, "00000000010000200003", 20);
	assert_memory_equal(b.data + 500000, "00000", 5);
	assert_memory_equal(b.data + b.len - 5, "99999", 5);
	assert_int_equal(b.data[b.len], '\0');
	buf_consume(&b, 5);
	assert_memory_equal(b.data, "00001", 5);
	assert_int_equal(buf_reserve(&b, 3000000), -1);
	buf_free(&b);
	assert_null(b.data);
	buf_init(&b, 64);
	assert_false(b.wiped);
	buf_wipe(&b);
}

static void test_wipe_frees(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append(&b, "secret health data", 18), 0);
	buf_consume(&b, 7);
	buf_wipe(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	buf_wipe(&b);
	buf_init(&b, 64);
	assert_int_equal(buf_append(&b, "next", 4), 0);
	assert_string_equal(b.data, "next");
	buf_wipe(&b);
}

static void test_str_copy_display(void **state)
{
	(void)state;
	char d[8];
	assert_false(str_copy_display(d, sizeof d, "abc"));
	assert_string_equal(d, "abc");
	assert_true(str_copy_display(d, sizeof d, "abcdefghij"));
	assert_string_equal(d, "abcd\xe2\x80\xa6"); /* 4 bytes and the 3-byte ellipsis */
	/* never half a character: "ab" then a 3-byte character cut at byte 4 */
	assert_true(str_copy_display(d, sizeof d, "ab\xe2\x82\xacxyzw"));
	assert_string_equal(d, "ab\xe2\x80\xa6"); /* the euro sign and the ellipsis: 8 bytes */
	char tiny[3];
	assert_true(str_copy_display(tiny, sizeof tiny, "abcdef"));
	assert_string_equal(tiny, "");
}

static void test_str_copy_truncates(void **state)
{
	(void)state;
	char small[4];
	assert_int_equal(str_copy(small, sizeof small, "abc"), 0);
	assert_int_equal(str_copy(small, sizeof small, "abcd"), -1);
	assert_string_equal(small, "abc");
	assert_int_equal(str_format(small, sizeof small, "%d", 12345), -1);
}

static void test_str_numbers(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(str_to_u64("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(str_to_u64("4294967295", UINT32_MAX, &v), 0);
	assert_int_equal(str_to_u64("4294967296", UINT32_MAX, &v), -1);
	assert_int_equal(str_to_u64("", 10, &v), -1);
	assert_int_equal(str_to_u64("1a", 100, &v), -1);
	assert_int_equal(str_to_u64("-1", 100, &v), -1);
	assert_int_equal(str_to_u64("99999999999999999999999", UINT64_MAX, &v), -1);
}

static void test_str_address(void **state)
{
	(void)state;
	assert_true(str_is_address("dr.martin@pro.mss.test"));
	assert_true(str_is_address("146026322000196@patient.mss.test"));
	assert_false(str_is_address("no-at-sign"));
	assert_false(str_is_address("a@b@c"));
	assert_false(str_is_address("@pro.mss.test"));
	assert_false(str_is_address("x@"));
	assert_false(str_is_address("x y@pro.mss.test"));
	assert_false(str_is_address("x@pro..test"));
	assert_false(str_is_address("<x@pro.test>"));
	/* RFC 6531: UTF-8 local parts and domains, well-formed and without C1 controls */
	assert_true(str_is_address("chlo\xc3\xa9@pro.mss.test"));
	assert_true(str_is_address("a@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84"));
	assert_false(str_is_address("chlo\xc3@pro.mss.test"));     /* truncated */
	assert_false(str_is_address("chlo\xc0\xa9@pro.mss.test")); /* overlong */
	assert_false(str_is_address("a\xc2\x85"
	                            "b@pro.mss.test")); /* U+0085, a C1 control */
	assert_false(str_is_address("a\x7f@pro.mss.test"));
	assert_string_equal(str_address_domain("a@B.test"), "B.test");
}

static void test_str_utf8(void **state)
{
	(void)state;
	assert_true(str_is_utf8("abc", 3));
	assert_true(str_is_utf8("\xc3\xa9", 2));          /* é */
	assert_true(str_is_utf8("\xf0\x9f\x98\x80", 4));  /* emoji */
	assert_false(str_is_utf8("\xc3", 1));             /* truncated */
	assert_false(str_is_utf8("\xc0\xaf", 2));         /* overlong */
	assert_false(str_is_utf8("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(str_is_utf8("\xe9t\xe9", 3));        /* latin-1 */
	assert_false(str_is_utf8("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

static void test_str_list_and_case(void **state)
{
	(void)state;
	assert_true(str_list_contains("pro.mss.test, other.test", "OTHER.test"));
	assert_false(str_list_contains("pro.mss.test", "mss.test"));
	assert_false(str_list_contains("", "x"));
	assert_true(str_ieq("EHLO", "ehlo"));
	assert_false(str_ieq("EHLO", "ehl"));
	assert_true(str_iprefix("MAIL FROM:<x>", "mail from:"));
	assert_true(str_secret_eq("abc", "abc", 3));
	assert_false(str_secret_eq("abc", "abd", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_realloc_prefault_keeps_data),
	    cmocka_unit_test(test_append_keeps_nul),
	    cmocka_unit_test(test_limit_refuses_whole_append),
	    cmocka_unit_test(test_grows_large),
	    cmocka_unit_test(test_consume_truncate),
	    cmocka_unit_test(test_str_copy_truncates),
	    cmocka_unit_test(test_str_numbers),
	    cmocka_unit_test(test_str_address),
	    cmocka_unit_test(test_str_utf8),
	    cmocka_unit_test(test_str_list_and_case),
	    cmocka_unit_test(test_put_unlimited_only),
	    cmocka_unit_test(test_refused_is_sticky),
	    cmocka_unit_test(test_str_copy_display),
	    cmocka_unit_test(test_wipe_frees),
	    cmocka_unit_test(test_wiped_buffer_grows_and_keeps_its_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
