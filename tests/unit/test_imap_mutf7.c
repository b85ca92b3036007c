/* Unit tests: imapd modified UTF-7 mailbox names (RFC 3501 5.1.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_mutf7.h"
#include "lib/buf.h"

struct pair {
	const char *utf8, *wire;
};

static const struct pair pairs[] = {
    {"INBOX", "INBOX"},
    {"", ""},
    {"a&b", "a&-b"},
    {"&", "&-"},
    {"Documents/Comptes-rendus", "Documents/Comptes-rendus"},
    {"R\xc3\xa9sultats", "R&AOk-sultats"},
    {"Cr\xc3\xa9\xc3\xa9", "Cr&AOkA6Q-"},
    {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
     "~peter/mail/&U,BTFw-/&ZeVnLIqe-"}, /* RFC 3501 5.1.3 example */
    {"\xf0\x9f\x98\x80", "&2D3eAA-"},    /* outside the BMP: a surrogate pair */
    {"a\tb", "a&AAk-b"},                 /* controls are encoded */
};

static const char *const bad_wire[] = {
    "&",                    /* not closed */
    "&AOk",                 /* not closed */
    "&AOk-&AOk-",           /* two adjacent runs must be one */
    "&AGE-",                /* "a" must be written as itself */
    "&ACY-",                /* "&" must be "&-" */
    "&2D0-",                /* lone high surrogate */
    "&3gA-",                /* lone low surrogate */
    "&AOl-",                /* non-zero padding bits */
    "&A-",                  /* too short for one unit */
    "&AO!-",                /* not base64 */
    "caf\xc3\xa9",          /* 8-bit on the wire */
    "a\001b",      "&AAA-", /* NUL */
};

static const char *const bad_utf8[] = {
    "\xff",
    "\xc3",
    "\xc0\xaf",         /* overlong */
    "\xed\xa0\x80",     /* surrogate */
    "\xf4\x90\x80\x80", /* > U+10FFFF */
};

static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct buf b;
		buf_init(&b, BUF_UNLIMITED);
		assert_int_equal(mutf7_encode(pairs[i].utf8, &b), 0);
		if (strcmp(b.data, pairs[i].wire) != 0)
			fail_msg("encode %zu: got [%s] want [%s]", i, b.data, pairs[i].wire);
		buf_reset(&b);
		assert_int_equal(mutf7_decode(pairs[i].wire, &b), 0);
		if (strcmp(b.data, pairs[i].utf8) != 0)
			fail_msg("decode %zu: got [%s]", i, b.data);
		buf_free(&b);
	}
}

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_wire) / sizeof(bad_wire[0]); i++) {
		struct buf b;
		buf_init(&b, BUF_UNLIMITED);
		if (mutf7_decode(bad_wire[i], &b) != -1)
			fail_msg("decode accepted [%s]", bad_wire[i]);
		buf_free(&b);
	}
	for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		struct buf b;
		buf_init(&b, BUF_UNLIMITED);
		if (mutf7_encode(bad_utf8[i], &b) != -1)
			fail_msg("encode accepted case %zu", i);
		buf_free(&b);
	}
}

/* A name that does not fit the buffer is refused, never cut: a code point that would
 * pass the limit was once dropped and the shorter name used (issue 16). */
static void test_limit(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 8);
	assert_int_equal(mutf7_decode("abcdef&2D3eAA-", &b), -1); /* 6 + 4 bytes */
	buf_free(&b);
	buf_init(&b, 8);
	assert_int_equal(mutf7_decode("abcdefghi", &b), -1);
	buf_free(&b);
	buf_init(&b, 10);
	assert_int_equal(mutf7_decode("abcdef&2D3eAA-", &b), 0);
	assert_string_equal(b.data, "abcdef\xf0\x9f\x98\x80");
	buf_free(&b);
	buf_init(&b, 8);
	assert_int_equal(mutf7_encode("abcdef\xf0\x9f\x98\x80", &b), -1);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
