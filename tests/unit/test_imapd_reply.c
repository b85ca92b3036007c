/* Unit tests: the IMAP reply table (imapd/imap_reply.h). */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "imapd/imap_reply.h"

/* Every row is filled, its code an atom of upper-case letters, digits, '-' (or the one
 * BADCHARSET with its list), its text one line whose only '%' starts a "%s" slot, at
 * most two of them: a row can never be sent half-formatted or on two lines. */
static void rows_are_well_formed(void **state)
{
	(void)state;
	for (int id = 0; id < IMAP_R_COUNT; id++) {
		const struct imap_reply *r = imap_reply_get((enum imap_reply_id)id);
		assert_non_null(r->text);
		assert_true(r->text[0] != '\0');
		if (r->code != NULL && strncmp(r->code, "BADCHARSET ", 11) != 0)
			for (const char *p = r->code; *p; p++)
				assert_true(isupper((unsigned char)*p) || isdigit((unsigned char)*p) ||
				            *p == '-');
		int slots = 0;
		for (const char *p = r->text; *p; p++) {
			assert_true((unsigned char)*p >= 0x20);
			assert_true(*p != '[' || id == IMAP_R_EXPECTS_APPEND); /* codes live in code */
			if (*p == '%') {
				assert_int_equal(p[1], 's');
				slots++;
			}
		}
		assert_true(slots <= 2);
	}
}

static void format(enum imap_reply_id id, const char *data, const char *a, const char *b, const char *want)
{
	struct buf out;
	buf_init(&out, 4096);
	assert_int_equal(imap_reply_format(&out, id, data, a, b), 0);
	assert_string_equal(out.data, want);
	buf_free(&out);
}

static void format_fills_code_and_slots(void **state)
{
	(void)state;
	format(IMAP_R_SERVERBUG, NULL, NULL, NULL, "[SERVERBUG] Internal error, try again later");
	format(IMAP_R_DONE, NULL, "FETCH", NULL, "FETCH completed");
	format(IMAP_R_COPYUID, "7 1:3 4:6", NULL, NULL, "[COPYUID 7 1:3 4:6] Copy completed");
	format(IMAP_R_LIMIT_SEARCH_TIME, NULL, "SEARCH", "30",
	       "[LIMIT] SEARCH took longer than 30 s: narrow it");
	format(IMAP_R_UNKNOWN_COMMAND, NULL, NULL, NULL, "Unknown command");
	/* a missing slot value gives "", never "(null)" or a read past the arguments */
	format(IMAP_R_CANNOT, NULL, NULL, NULL, "[CANNOT] ");
	/* a "%s" in a value is text, not a format */
	format(IMAP_R_SYNTAX, NULL, "%s%n", NULL, "%s%n");
	assert_string_equal(imap_status_name(imap_reply_get(IMAP_R_TOOBIG_LITERAL_BAD)->status), "BAD");
	assert_string_equal(imap_status_name(imap_reply_get(IMAP_R_TOOBIG_LITERAL)->status), "NO");
	struct imap_num n;
	assert_string_equal(imap_num(4294967295u, &n), "4294967295");
}

static void format_refuses_at_the_limit(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, 8);
	assert_int_equal(imap_reply_format(&out, IMAP_R_SERVERBUG, NULL, NULL, NULL), -1);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rows_are_well_formed),
	    cmocka_unit_test(format_fills_code_and_slots),
	    cmocka_unit_test(format_refuses_at_the_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
