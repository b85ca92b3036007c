/* test_msg.c: the parsed form of a message (msg/): header fields and the flat MIME
 * tree, table-driven, and the limits past which a message is marked incomplete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "msg/msg.h"

struct hdr_case {
	const char *name;
	const char *msg;
	const char *from0, *from0_name, *sender0, *reply0, *subject, *raw_subject, *message_id;
	unsigned from_fields, nfrom;
	bool fin;
	int64_t date;
};

static const struct hdr_case hdr_cases[] = {
    {"plain",
     "From: Dr Martin <dr.martin@pro.mss.test>\r\nSubject: Bonjour\r\nMessage-ID: <a@b>\r\n"
     "Date: Sun, 29 Nov 2026 09:30:00 +0100\r\n\r\nbody\r\n",
     "dr.martin@pro.mss.test", "Dr Martin", "", "", "Bonjour", "Bonjour", "a@b", 1, 1, false, 1795941000},
    {"encoded subject and name, two From fields",
     "From: =?UTF-8?B?w4lsaXNl?= <e@x.test>, other@x.test\r\nFrom: third@x.test\r\n"
     "Sender: s@x.test\r\nReply-To: grp: a@r.test, b@r.test;\r\n"
     "Subject: =?UTF-8?Q?R=C3=A9sultats?=\r\n\r\nx\r\n",
     "e@x.test", "\xc3\x89lise", "s@x.test", "a@r.test", "R\xc3\xa9sultats", "=?UTF-8?Q?R=C3=A9sultats?=", "",
     2, 3, false, 0},
    {"fin by subject", "From: a@b.test\r\nSubject: [FIN]\r\n\r\n", "a@b.test", "", "", "", "[FIN]", "[FIN]",
     "", 1, 1, true, 0},
    {"fin subject is case-sensitive", "From: a@b.test\r\nSubject: [fin]\r\n\r\n", "a@b.test", "", "", "",
     "[fin]", "[fin]", "", 1, 1, false, 0},
    {"fin by header", "From: a@b.test\r\nX-MSS-MES:  fin \r\n\r\n", "a@b.test", "", "", "", "", "", "", 1, 1,
     true, 0},
    {"folded subject", "From: a@b.test\r\nSubject: XDM/1.0/DDM+CR\r\n de biologie\r\n\r\n", "a@b.test", "",
     "", "", "XDM/1.0/DDM+CR de biologie", "XDM/1.0/DDM+CR de biologie", "", 1, 1, false, 0},
    {"no header at all", "\r\njust a body\r\n", "", "", "", "", "", "", "", 0, 0, false, 0},
};

static void test_header_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof hdr_cases / sizeof hdr_cases[0]; i++) {
		const struct hdr_case *c = &hdr_cases[i];
		struct msg m;
		char err[128];
		print_message("case: %s\n", c->name);
		assert_int_equal(msg_parse(c->msg, strlen(c->msg), NULL, &m, err, sizeof err), 0);
		assert_string_equal(m.h.from.n ? m.h.from.v[0].addr : "", c->from0);
		assert_string_equal(m.h.from.n ? m.h.from.v[0].name : "", c->from0_name);
		assert_string_equal(m.h.sender.n ? m.h.sender.v[0].addr : "", c->sender0);
		assert_string_equal(m.h.reply_to.n ? m.h.reply_to.v[0].addr : "", c->reply0);
		assert_string_equal(m.h.subject, c->subject);
		assert_string_equal(m.h.raw_subject, c->raw_subject);
		assert_string_equal(m.h.message_id, c->message_id);
		assert_int_equal(m.h.from_fields, c->from_fields);
		assert_int_equal(m.h.from.total, c->nfrom);
		assert_int_equal(m.h.fin, c->fin);
		assert_int_equal(m.h.date, c->date);
		assert_true(m.complete);
		msg_free(&m);
	}
}

/* The authors as a mail client may show them: a From or Sender the parse did not read
 * as addresses makes them unreadable (the identity check then refuses the message). */
static void test_authors_unreadable(void **state)
{
	static const struct {
		const char *msg;
		bool unreadable;
	} cases[] = {
	    {"From: a@b.test\r\nSender: s@b.test\r\n\r\nx\r\n", false},
	    {"From: a@b.test\r\nFrom: c@d.test\r\n\r\nx\r\n", false},
	    {"Subject: no author\r\n\r\nx\r\n", false},
	    {"From: <<<not an address>>>\r\n\r\nx\r\n", true},
	    {"From: a@b.test\r\nSender: ;;;\r\n\r\nx\r\n", true},
	    /* a broken line stops the parse: the From after it is still shown by clients */
	    {"Subject: s\r\nbroken line without colon\r\nFrom: dr.durand@pro.test\r\n\r\nx\r\n", true},
	    /* RFC 5322 4.5.3 obsolete syntax (blanks before the colon): read as From */
	    {"FROM : a@b.test\r\n\r\nx\r\n", false},
	    {"From: a@b.test\r\nFrom : <<<x>>>\r\n\r\nx\r\n", true},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct msg m;
		char err[128];
		print_message("case: %zu\n", i);
		assert_int_equal(msg_parse(cases[i].msg, strlen(cases[i].msg), NULL, &m, err, sizeof err), 0);
		assert_int_equal(m.h.authors_unreadable, cases[i].unreadable);
		msg_free(&m);
	}
	static const char fields[] = "From: a\r\n b\r\nsender: c\r\nX-From: d\r\n\r\n";
	assert_int_equal(msg_author_fields(fields, sizeof fields - 1), 2);
}

/* msg_field_text: what a reader shows of a field, comments included, unfolded. */
static void test_field_text(void **state)
{
	(void)state;
	static const struct {
		const char *hdr, *name, *text;
	} cases[] = {
	    {"From: a@b (c@d)\r\n\r\n", "From", "  a@b  c@d "},
	    {"From: a@b (=?utf-8?q?c=40d?=)\r\n\r\n", "From", "a@b c@d "},
	    {"From: Dr <a@b>\r\n (\r\n c@d)\r\nSender: s@t\r\n\r\n", "From", "  Dr <a@b>   c@d "},
	    {"From: Dr <a@b>\r\n (\r\n c@d)\r\nSender: s@t\r\n\r\n", "Sender", "  s@t"},
	    {"From: a@b\r\nfrom : x@y\r\n\r\nFrom: body@z\r\n", "From", "  a@b  x@y"},
	    /* lookalikes of '@' and '.', plain or in an encoded word, read as ASCII */
	    {"From: \"c\xef\xbc\xa0"
	     "d\xef\xbc\x8e"
	     "e\" <a@b>\r\n\r\n",
	     "From", "  \"c@d.e\" <a@b>"},
	    {"From: c\xef\xb9\xab"
	     "d\xe3\x80\x82"
	     "e <a@b>\r\n\r\n",
	     "From", "  c@d.e <a@b>"},
	    {"From: =?utf-8?q?c=EF=BC=A0d?= <a@b>\r\n\r\n", "From", "c@d <a@b>"},
	    {"From: \xe2\x80\xa4\xef\xbd\xa1\xef\xb9\x92 \xef\xbc <a@b>\r\n\r\n", "From",
	     "  ... \xef\xbc <a@b>"},
	    {"X-From: a@b\r\nSubject: (c@d)\r\n\r\n", "From", ""},
	    {"", "From", ""},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = strlen(cases[i].hdr);
		char *t = msg_field_text(cases[i].hdr, msg_header_size(cases[i].hdr, len), cases[i].name);
		assert_string_equal(t, cases[i].text);
		free(t);
	}
}

#define MULTI                                                                                                \
	"From: a@b.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n"                                              \
	"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"                                              \
	"--B\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nBonjour\r\n"                                  \
	"--B\r\nContent-Type: application/pdf; name=\"x.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"      \
	"Content-Disposition: attachment; filename=\"=?UTF-8?Q?r=C3=A9sultat.pdf?=\"\r\n\r\n"                \
	"JVBERi0xLjQK\r\n"                                                                                   \
	"--B\r\nContent-Type: message/rfc822\r\n\r\n"                                                        \
	"From: c@d.test\r\nContent-Type: multipart/mixed; boundary=\"C\"\r\n\r\n"                            \
	"--C\r\nContent-Type: text/plain\r\n\r\ninner\r\n--C\r\nContent-Type: "                              \
	"application/zip\r\n\r\nPK\r\n--C--\r\n"                                                             \
	"--B\r\nContent-Type: text/xml\r\nSubject-ish: x\r\n\r\n<a/>\r\n--B--\r\n"

static void test_tree(void **state)
{
	(void)state;
	struct msg m;
	char err[128];
	struct buf b;
	assert_int_equal(msg_parse(MULTI, strlen(MULTI), NULL, &m, err, sizeof err), 0);
	/* 0 message, 1 multipart, 2 text, 3 pdf, 4 rfc822, 5 inner multipart, 6 inner text,
	 * 7 inner zip, 8 xml */
	assert_int_equal(m.nparts, 9);
	assert_int_equal(m.parts[0].kind, MSG_PART_MESSAGE);
	assert_int_equal(m.parts[1].kind, MSG_PART_MULTIPART);
	assert_true(m.parts[1].whole_body);
	assert_string_equal(m.parts[2].type, "text/plain");
	assert_string_equal(m.parts[2].charset, "utf-8");
	assert_string_equal(m.parts[3].type, "application/pdf");
	assert_string_equal(m.parts[3].filename, "r\xc3\xa9sultat.pdf");
	assert_true(m.parts[3].attachment);
	assert_int_equal(m.parts[3].encoding, MSG_ENC_BASE64);
	assert_int_equal(m.parts[4].kind, MSG_PART_MESSAGE);
	assert_string_equal(m.parts[4].type, "message/rfc822");
	assert_int_equal(m.parts[7].parent, 5);
	assert_true(msg_part_forwarded(&m, 7));
	assert_false(msg_part_forwarded(&m, 3));
	assert_int_equal(msg_part_next_sibling(&m, 4), 8);
	assert_int_equal(msg_part_next_sibling(&m, 1), 9);
	/* each range is the part as sent */
	assert_memory_equal(MULTI + m.parts[3].start, "Content-Type: application/pdf", 29);
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(msg_part_decode(&m, 3, &b), 0);
	assert_int_equal(b.len, 9);
	assert_memory_equal(b.data, "%PDF-1.4\n", 9);
	buf_reset(&b);
	assert_int_equal(msg_part_decode(&m, 8, &b), 0);
	assert_memory_equal(b.data, "<a/>", 4);
	assert_int_equal(msg_part_decode(&m, 1, &b), -1); /* not a leaf */
	buf_free(&b);
	msg_free(&m);
}

static void test_limits(void **state)
{
	(void)state;
	struct msg m;
	struct msg_limits lim = {.max_parts = 4, .max_depth = 16};
	char err[128];
	assert_int_equal(msg_parse(MULTI, strlen(MULTI), &lim, &m, err, sizeof err), 0);
	assert_false(m.complete);
	assert_int_equal(m.nparts, 4);
	msg_free(&m);
	lim.max_parts = 100;
	lim.max_depth = 2; /* the forwarded message's parts are deeper */
	assert_int_equal(msg_parse(MULTI, strlen(MULTI), &lim, &m, err, sizeof err), 0);
	assert_false(m.complete);
	msg_free(&m);
}

static void test_single_body_and_types(void **state)
{
	(void)state;
	const char *s = "From: a@b.test\r\nContent-Type: application/zip\r\n"
	                "Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n";
	struct msg m;
	char err[128];
	assert_int_equal(msg_parse(s, strlen(s), NULL, &m, err, sizeof err), 0);
	assert_int_equal(m.nparts, 2);
	assert_true(m.parts[1].whole_body);
	assert_string_equal(m.parts[1].type, "application/zip");
	assert_int_equal(m.h.size, strlen("From: a@b.test\r\nContent-Type: application/zip\r\n"
	                                  "Content-Transfer-Encoding: base64\r\n\r\n"));
	msg_free(&m);
	assert_true(msg_mime_type_valid("application/pdf"));
	assert_true(msg_mime_type_valid("application/vnd.ms-excel"));
	assert_false(msg_mime_type_valid("text/xml\r\nX-Injected: yes"));
	assert_false(msg_mime_type_valid("text/xml; charset=utf-8"));
	assert_false(msg_mime_type_valid("text"));
	assert_false(msg_mime_type_valid("/xml"));
	assert_false(msg_mime_type_valid("a/b/c"));
}

/* libetpan's quoted-printable decoder reads past a final "=": a body that ends the
 * message, in an exact-size buffer (no NUL after it), must still decode in bounds
 * (the sanitizer build catches an overread; found by fuzz_msg). */
static void test_decode_at_the_end(void **state)
{
	(void)state;
	static const char text[] =
	    "From: a@b.test\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nR=C3=A9s=A";
	size_t n = sizeof text - 1;
	char *exact = malloc(n);
	struct msg m;
	struct buf b;
	char err[128];
	memcpy(exact, text, n);
	assert_int_equal(msg_parse(exact, n, NULL, &m, err, sizeof err), 0);
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(msg_part_decode(&m, 1, &b), 0);
	assert_true(b.len >= 4);
	assert_memory_equal(b.data, "R\xc3\xa9s", 4);
	buf_free(&b);
	msg_free(&m);
	free(exact);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_table),
	    cmocka_unit_test(test_authors_unreadable),
	    cmocka_unit_test(test_field_text),
	    cmocka_unit_test(test_tree),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_single_body_and_types),
	    cmocka_unit_test(test_decode_at_the_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
