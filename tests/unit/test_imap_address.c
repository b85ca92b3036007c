/* Unit tests: imap/ address lists (obsolete syntax, groups, comments as names) and
 * ENVELOPE, against the answers Dovecot gives (imaptest fetch-envelope, issue 14
 * cause 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_address.h"
#include "imap/imap_envelope.h"

static const struct {
	const char *value;
	const char *envelope;
	const char *text;
} cases[] = {
    {"user@domain", "((NIL NIL \"user\" \"domain\"))", "<user@domain>"},
    {"Real Name <user@domain>", "((\"Real Name\" NIL \"user\" \"domain\"))", "Real Name <user@domain>"},
    {"user@domain (Real Name)", "((\"Real Name\" NIL \"user\" \"domain\"))", "Real Name <user@domain>"},
    {"<@route:user@domain>", "((NIL \"@route\" \"user\" \"domain\"))", "<@route:user@domain>"},
    {"<user-from (comment)@ (comment) domain.org>", "((NIL NIL \"user-from\" \"domain.org\"))",
     "<user-from@domain.org>"},
    {"group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;",
     "((NIL NIL \"group\" NIL)(NIL NIL \"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")(NIL NIL NIL NIL)"
     "(NIL NIL \"group2\" NIL)(NIL NIL \"g3\" \"d3.org\")(NIL NIL NIL NIL))",
     "group: <g1@d1.org>, <g2@d2.org>;, group2: <g3@d3.org>;"},
    {"group:;, group2: (foo) ;",
     "((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL))",
     "group: ;, group2: ;"},
    {"\"Doe, John\" <jd@x.test>, a@b.test",
     "((\"Doe, John\" NIL \"jd\" \"x.test\")(NIL NIL \"a\" \"b.test\"))",
     "Doe, John <jd@x.test>, <a@b.test>"},
    {"user", "((NIL NIL \"user\" \"\"))", "<user>"},
    {"", "NIL", ""},
    {"  ,, a@b.test ,", "((NIL NIL \"a\" \"b.test\"))", "<a@b.test>"},
    {"Dr. J. Who <who@tardis.test>", "((\"Dr. J. Who\" NIL \"who\" \"tardis.test\"))",
     "Dr. J. Who <who@tardis.test>"},
    {"<a@b.test", "((NIL NIL \"a\" \"b.test\"))", "<a@b.test>"},
    {"(only a comment)", "NIL", ""},
};

static void test_addresses(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_address_list l = {0};
		struct buf env, text;
		buf_init(&env, BUF_UNLIMITED);
		buf_init(&text, BUF_UNLIMITED);
		imap_address_parse(cases[i].value, strlen(cases[i].value), &l);
		imap_address_write_envelope(&env, &l, false);
		imap_address_write_text(&text, &l);
		if (strcmp(env.data, cases[i].envelope) != 0)
			fail_msg("case %zu (%s): envelope %s, want %s", i, cases[i].value, env.data,
			         cases[i].envelope);
		if (strcmp(text.data, cases[i].text) != 0)
			fail_msg("case %zu (%s): text %s, want %s", i, cases[i].value, text.data,
			         cases[i].text);
		imap_address_list_free(&l);
		buf_free(&env);
		buf_free(&text);
	}
}

static const struct {
	const char *header;
	const char *envelope;
} envelopes[] = {
    {"Message-ID: <msg@id>\r\nIn-Reply-To: <reply@to.id>\r\nDate: Thu, 15 Feb 2007 01:02:03 +0200\r\n"
     "Subject: subject header\r\nFrom: From Real <fromuser@fromdomain.org>\r\nTo: To Real "
     "<touser@todomain.org>\r\n"
     "Cc: Cc Real <ccuser@ccdomain.org>\r\nBcc: Bcc Real <bccuser@bccdomain.org>\r\n"
     "Sender: Sender Real <senderuser@senderdomain.org>\r\n"
     "Reply-To: ReplyTo Real <replytouser@replytodomain.org>\r\n\r\n",
     "(\"Thu, 15 Feb 2007 01:02:03 +0200\" \"subject header\" ((\"From Real\" NIL \"fromuser\" "
     "\"fromdomain.org\")) "
     "((\"Sender Real\" NIL \"senderuser\" \"senderdomain.org\")) ((\"ReplyTo Real\" NIL \"replytouser\" "
     "\"replytodomain.org\")) ((\"To Real\" NIL \"touser\" \"todomain.org\")) ((\"Cc Real\" NIL \"ccuser\" "
     "\"ccdomain.org\")) ((\"Bcc Real\" NIL \"bccuser\" \"bccdomain.org\")) \"<reply@to.id>\" \"<msg@id>\")"},
    /* empty Sender and Reply-To default to From (RFC 9051 7.5.2) */
    {"From: user@domain (Real Name)\r\nSender: \r\nReply-To: \r\n\r\n",
     "(NIL NIL ((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) "
     "((\"Real Name\" NIL \"user\" \"domain\")) NIL NIL NIL NIL NIL)"},
    /* folded subject: white space collapsed for humans; two To fields are one list */
    {"Subject: a\r\n  folded   subject\r\nTo: a@b.test\r\nTo: c@d.test\r\n\r\n",
     "(NIL \"a folded subject\" NIL NIL NIL ((NIL NIL \"a\" \"b.test\")(NIL NIL \"c\" \"d.test\")) NIL NIL "
     "NIL "
     "NIL)"},
    /* 8-bit text is a literal */
    {"Subject: caf\xc3\xa9\r\n\r\n", "(NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL)"},
    {"", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"},
};

static void test_envelopes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(envelopes) / sizeof(envelopes[0]); i++) {
		struct buf b;
		buf_init(&b, BUF_UNLIMITED);
		imap_envelope_write(&b, envelopes[i].header, strlen(envelopes[i].header));
		if (strcmp(b.data, envelopes[i].envelope) != 0)
			fail_msg("case %zu: %s\nwant %s", i, b.data, envelopes[i].envelope);
		buf_free(&b);
	}
}

/* RFC 6858 3: the downgraded ENVELOPE for a client without UTF-8. */
static const struct {
	const char *header, *envelope;
} ascii_envelopes[] = {
    /* ASCII is written as for everyone */
    {"Subject:  a   b\r\nFrom: Dr X <x@y.z>\r\n\r\n",
     "(NIL \"a b\" ((\"Dr X\" NIL \"x\" \"y.z\")) ((\"Dr X\" NIL \"x\" \"y.z\")) ((\"Dr X\" NIL \"x\" "
     "\"y.z\")) NIL NIL NIL NIL NIL)"},
    /* UTF-8 text in encoded words: "café" */
    {"Subject: caf\xc3\xa9\r\n\r\n", "(NIL \"=?utf-8?b?Y2Fmw6k=?=\" NIL NIL NIL NIL NIL NIL NIL NIL)"},
    /* a UTF-8 display name before an ASCII address */
    {"To: Chlo\xc3\xa9 <c@y.z>\r\n\r\n",
     "(NIL NIL NIL NIL NIL ((\"=?utf-8?b?Q2hsb8Op?=\" NIL \"c\" \"y.z\")) NIL NIL NIL NIL)"},
    /* a UTF-8 address: an empty group named after it ("é@y.z") */
    {"To: \xc3\xa9@y.z, a@b.c\r\n\r\n", "(NIL NIL NIL NIL NIL ((NIL NIL \"=?utf-8?b?w6lAeS56?=\" NIL)(NIL "
                                        "NIL NIL NIL)(NIL NIL \"a\" \"b.c\")) NIL "
                                        "NIL NIL NIL)"},
    /* UTF-8 in an obsolete route only: no ASCII form either (found by fuzz_mime) */
    {"To: <@r\xc3\xa9.x:a@b.c>\r\n\r\n",
     "(NIL NIL NIL NIL NIL ((NIL NIL \"=?utf-8?b?YUBiLmM=?=\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)"},
    /* text longer than one word: split on a character boundary, words of 75 octets at most */
    {"Subject: "
     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
     "\xa9"
     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\r\n\r\n",
     "(NIL \"=?utf-8?b?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6k=?= "
     "=?utf-8?b?w6k=?=\" NIL NIL NIL NIL NIL NIL NIL NIL)"},
};

static void test_envelopes_ascii(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ascii_envelopes) / sizeof(ascii_envelopes[0]); i++) {
		struct buf b;
		buf_init(&b, BUF_UNLIMITED);
		imap_envelope_write_ascii(&b, ascii_envelopes[i].header, strlen(ascii_envelopes[i].header));
		if (strcmp(b.data, ascii_envelopes[i].envelope) != 0)
			fail_msg("case %zu: %s\nwant %s", i, b.data, ascii_envelopes[i].envelope);
		for (size_t k = 0; k < b.len; k++)
			assert_true((unsigned char)b.data[k] < 0x80);
		buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_envelopes),
	    cmocka_unit_test(test_envelopes_ascii),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
