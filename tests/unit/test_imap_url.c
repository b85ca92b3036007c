/* Unit tests: imap/imap_url (IMAP URLs naming a message part, RFC 5092, for CATENATE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_url.h"

struct good_case {
	const char *in;
	const char *server, *mailbox;
	uint32_t uidvalidity, uid;
	const char *section;
	bool partial;
	uint64_t off, len;
};

static const struct good_case good[] = {
    {"/INBOX/;uid=20", "", "INBOX", 0, 20, "", false, 0, 0},
    {"/INBOX;UIDVALIDITY=785799047/;UID=20/;SECTION=1.2", "", "INBOX", 785799047, 20, "1.2", false, 0, 0},
    {"/Dossiers/Cardio/;uid=3/;section=header", "", "Dossiers/Cardio", 0, 3, "header", false, 0, 0},
    {"/a%20b/;uid=1/;section=HEADER.FIELDS%20(From)", "", "a b", 0, 1, "HEADER.FIELDS (From)", false, 0, 0},
    {"/box/;uid=2/;partial=100000.1", "", "box", 0, 2, "", true, 100000, 1},
    {"/box/;uid=2/;section=text/;partial=5", "", "box", 0, 2, "text", true, 5, 0},
    {"imap://joe@example.com/INBOX/;uid=7", "joe@example.com", "INBOX", 0, 7, "", false, 0, 0},
    {"/R&AOk-sultats/;uid=1", "", "R&AOk-sultats", 0, 1, "", false, 0, 0},
};

static const char *const bad[] = {
    "",
    "INBOX/;uid=1",            /* not absolute */
    "/INBOX",                  /* no UID */
    "/INBOX/;uid=0",           /* UIDs are nz-number */
    "/INBOX/;uid=x",           /* not a number */
    "/INBOX/;uid=99999999999", /* over 32 bits */
    "/;uid=1",                 /* no mailbox */
    "/INBOX;uidvalidity=0/;uid=1",
    "/INBOX/;uid=1/;section=", /* empty section */
    "/INBOX/;uid=1/;partial=1.0",
    "/INBOX/;uid=1/;partial=",
    "/IN BOX/;uid=1",   /* a raw space */
    "/IN%0aBOX/;uid=1", /* a control octet, escaped */
    "/INBOX%2/;uid=1",  /* a short escape */
    "/INBOX/;uid=1/;urlauth=anonymous:internal:0123",
    "/INBOX/;uid=1;expire=2030-01-01T00:00:00Z",
    "imap:///INBOX/;uid=1", /* empty server */
    "imap://host",          /* no path */
};

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct imap_url u;
		const struct good_case *g = &good[i];
		assert_int_equal(imap_url_parse(g->in, strlen(g->in), &u), 0);
		assert_string_equal(u.server, g->server);
		assert_string_equal(u.mailbox, g->mailbox);
		assert_int_equal(u.uidvalidity, g->uidvalidity);
		assert_int_equal(u.uid, g->uid);
		assert_string_equal(u.section, g->section);
		assert_int_equal(u.partial, g->partial);
		assert_int_equal(u.partial_off, g->off);
		assert_int_equal(u.partial_len, g->len);
	}
}

/* URLAUTH (RFC 4467): the rump URL ends with the access identifier. */
static void test_urlauth(void **state)
{
	(void)state;
	struct imap_url u;
	const char rump[] = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=user+fred";
	assert_int_equal(imap_url_parse(rump, strlen(rump), &u), 0);
	assert_string_equal(u.section, "1.2");
	assert_string_equal(u.access, "user+fred");
	assert_int_equal(u.rump_len, strlen(rump));
	assert_string_equal(u.mechanism, "");
	const char full[] = "imap://a@b.test/box/;uid=3;expire=2030-01-01T00:00:00Z;urlauth=user+a@b.test"
	                    ":internal:91354a473744909de610943775f92038";
	assert_int_equal(imap_url_parse(full, strlen(full), &u), 0);
	assert_int_equal(u.uid, 3);
	assert_string_equal(u.expire, "2030-01-01T00:00:00Z");
	assert_string_equal(u.access, "user+a@b.test");
	assert_string_equal(u.mechanism, "internal");
	assert_string_equal(u.token, "91354a473744909de610943775f92038");
	assert_int_equal(u.rump_len, strlen(full) - strlen(":internal:91354a473744909de610943775f92038"));
	static const char *const wrong[] = {
	    "/box/;uid=3;urlauth=",                  /* no access */
	    "/box/;uid=3;urlauth=authuser:internal", /* a mechanism without its token */
	    "/box/;uid=3;urlauth=authuser::x",
	    "/box/;uid=3;expire=;urlauth=authuser",
	};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
		assert_int_equal(imap_url_parse(wrong[i], strlen(wrong[i]), &u), -1);
}

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_url u;
		if (imap_url_parse(bad[i], strlen(bad[i]), &u) != -1)
			fail_msg("accepted: %s", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_urlauth),
	};
	return cmocka_run_group_tests_name("imap url", tests, NULL, NULL);
}
