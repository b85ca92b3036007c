/* Unit tests: imapd BINARY: the Content-Transfer-Encoding of a part's MIME header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <libetpan/libetpan.h>

#include "imapd/imap_binary.h"

static const struct {
	const char *header;
	int cte;
} cases[] = {
    {"Content-Type: text/plain\r\n\r\n", MAILMIME_MECHANISM_7BIT},
    {"Content-Transfer-Encoding: base64\r\n\r\n", MAILMIME_MECHANISM_BASE64},
    {"content-transfer-encoding:   BASE64  \r\n\r\n", MAILMIME_MECHANISM_BASE64},
    {"Content-Type: text/plain\r\nContent-Transfer-Encoding:\r\n quoted-printable\r\n\r\n",
     MAILMIME_MECHANISM_QUOTED_PRINTABLE},
    {"Content-Transfer-Encoding: 8bit\r\n\r\n", MAILMIME_MECHANISM_7BIT},
    {"Content-Transfer-Encoding: binary\r\n\r\n", MAILMIME_MECHANISM_7BIT},
    {"Content-Transfer-Encoding: x-uuencode\r\n\r\n", -1},
    {"X-Content-Transfer-Encoding: base64\r\n\r\n", MAILMIME_MECHANISM_7BIT},
    {"Content-Transfer-Encoding: base64\nX-A: b\n\n", MAILMIME_MECHANISM_BASE64},
    {"Content-Transfer-Encoding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", -1},
    {"", MAILMIME_MECHANISM_7BIT},
};

static void test_cte(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = imap_binary_cte(cases[i].header, strlen(cases[i].header));
		if (got != cases[i].cte)
			fail_msg("case %zu: got %d want %d", i, got, cases[i].cte);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
