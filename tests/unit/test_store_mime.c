/* test_store_mime.c: what the store computes once per message (ENVELOPE,
 * BODYSTRUCTURE, BODY, part tree, dates) and reading sections and searching text of a
 * delivered (encrypted) copy through store_body. The formats themselves are imap/'s
 * (tests/unit/test_imap_*.c). */
#include "test_store_util.h"

#include "imap/imap_msgsearch.h"
#include "imap/imap_section.h"

#define PAT "146026322000196@patient.mss.test"

static const char multi[] = "From: \"Dr Martin\" <dr.martin@pro.mss.test>\r\n"
                            "To: patient <146026322000196@patient.mss.test>, a@b.c\r\n"
                            "Cc: Equipe: x@pro.mss.test, y@pro.mss.test;\r\n"
                            "Subject: =?utf-8?q?R=C3=A9sultats?= \"bilan\"\r\n"
                            "Date: Sun, 29 Nov 2026 10:00:00 +0100\r\n"
                            "Message-ID: <abc@pro.mss.test>\r\n"
                            "MIME-Version: 1.0\r\n"
                            "Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
                            "\r\n"
                            "preamble\r\n"
                            "--XYZ\r\n"
                            "Content-Type: text/plain; charset=utf-8\r\n"
                            "Content-Transfer-Encoding: quoted-printable\r\n"
                            "\r\n"
                            "Bonjour,\r\n"
                            "voici vos r=C3=A9sultats.\r\n"
                            "--XYZ\r\n"
                            "Content-Type: application/pdf; name=\"r.pdf\"\r\n"
                            "Content-ID: <doc1@pro.mss.test>\r\n"
                            "Content-Description: Ordonnance\r\n"
                            "Content-Disposition: attachment; filename=\"r.pdf\"\r\n"
                            "Content-Language: fr\r\n"
                            "Content-Transfer-Encoding: base64\r\n"
                            "\r\n"
                            "JVBERi0xLjQK\r\n"
                            "--XYZ\r\n"
                            "Content-Type: message/rfc822\r\n"
                            "\r\n"
                            "From: x@y.z\r\n"
                            "Subject: inner\r\n"
                            "\r\n"
                            "inner body\r\n"
                            "--XYZ--\r\n"
                            "epilogue\r\n";

static const char *const expected_envelope =
    "(\"Sun, 29 Nov 2026 10:00:00 +0100\" \"=?utf-8?q?R=C3=A9sultats?= \\\"bilan\\\"\" "
    "((\"Dr Martin\" NIL \"dr.martin\" \"pro.mss.test\")) "
    "((\"Dr Martin\" NIL \"dr.martin\" \"pro.mss.test\")) "
    "((\"Dr Martin\" NIL \"dr.martin\" \"pro.mss.test\")) "
    "((\"patient\" NIL \"146026322000196\" \"patient.mss.test\")(NIL NIL \"a\" \"b.c\")) "
    "((NIL NIL \"Equipe\" NIL)(NIL NIL \"x\" \"pro.mss.test\")(NIL NIL \"y\" \"pro.mss.test\")(NIL NIL NIL "
    "NIL)) "
    "NIL NIL \"<abc@pro.mss.test>\")";

static const char *const expected_bodystructure =
    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 35 1 NIL NIL NIL NIL)"
    "(\"application\" \"pdf\" (\"name\" \"r.pdf\") \"<doc1@pro.mss.test>\" \"Ordonnance\" \"base64\" 12 NIL "
    "(\"attachment\" (\"filename\" \"r.pdf\")) (\"fr\") NIL)"
    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 41 "
    "(NIL \"inner\" ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) NIL NIL "
    "NIL NIL NIL) "
    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL) 3 NIL NIL NIL "
    "NIL) "
    "\"mixed\" (\"boundary\" \"XYZ\") NIL NIL NIL)";

static const char *const expected_body =
    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 35 1)"
    "(\"application\" \"pdf\" (\"name\" \"r.pdf\") \"<doc1@pro.mss.test>\" \"Ordonnance\" \"base64\" 12)"
    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 41 "
    "(NIL \"inner\" ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) NIL NIL "
    "NIL NIL NIL) "
    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0) 3) \"mixed\")";

static void test_build_multipart(void **state)
{
	(void)state;
	struct store_mime_info mi;
	store_mime_build(multi, sizeof(multi) - 1, &mi);
	assert_string_equal(mi.envelope, expected_envelope);
	assert_string_equal(mi.bodystructure, expected_bodystructure);
	assert_string_equal(mi.body, expected_body);
	assert_int_equal(mi.sent_date, 1795942800);
	assert_int_equal(mi.sent_local, 1795942800 + 3600); /* 10:00 in its own zone, +0100 */
	assert_int_equal(mi.header_size, strstr(multi, "preamble") - multi);
	assert_true(mi.parts.len > 0);
	store_mime_info_free(&mi);
}

static void test_build_simple_and_8bit(void **state)
{
	(void)state;
	static const char m[] =
	    "Subject: caf\xc3\xa9\r\nFrom: <a@b.c>\r\nReply-To: r@b.c\r\nSender: s@b.c\r\n"
	    "In-Reply-To: <x@y>\r\n\r\nhello\r\n";
	struct store_mime_info mi;
	store_mime_build(m, sizeof(m) - 1, &mi);
	assert_string_equal(mi.envelope,
	                    "(NIL {5}\r\ncaf\xc3\xa9 ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"s\" \"b.c\")) "
	                    "((NIL NIL \"r\" \"b.c\")) NIL NIL NIL \"<x@y>\" NIL)");
	assert_string_equal(
	    mi.bodystructure,
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1 NIL NIL NIL NIL)");
	assert_int_equal(mi.sent_date, 0);
	store_mime_info_free(&mi);
}

static void test_build_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "no header at all",
	    "Content-Type: multipart/mixed; boundary=\"nope\"\r\n\r\nno boundary here\r\n",
	    "Content-Type: multipart/mixed\r\n\r\n--\r\n--\r\n",
	    "Content-Type: message/rfc822\r\n\r\n",
	    "From: <<<@@@>>>\r\nTo: ,,,;;;\r\nDate: yesterday\r\nContent-Type: ///\r\n\r\nx",
	    "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; "
	    "boundary=a\r\n\r\n--a\r\n--a--\r\n",
	    "\r\n\r\n\r\n",
	    "Subject: \x01\x02\xff\r\n\r\n\xff\xfe",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct store_mime_info mi;
		store_mime_build(bad[i], strlen(bad[i]), &mi);
		assert_non_null(mi.envelope);
		assert_true(mi.bodystructure[0] == '(');
		assert_true(mi.body[0] == '(');
		store_mime_info_free(&mi);
	}
}

/* ---- sections, on a delivered (encrypted) copy ---- */

static int setup(void **state)
{
	if (store_fixture_setup(state) != 0)
		return -1;
	struct store_fixture *f = *state;
	return store_user_create(f->st, PAT, f->err, sizeof(f->err));
}

static int to_buf(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n) < 0 ? 1 : 0;
}

/* BODY[spec]<off.len> of (mbox, uid), read from the encrypted blob through the part tree. */
static void check_section(struct store_fixture *f, int64_t mbox, uint32_t uid, const char *spec, uint64_t off,
                          uint64_t len, const char *expected)
{
	struct imap_section sec;
	struct store_body *body;
	struct buf raw, b;
	assert_int_equal(imap_section_parse(spec, strlen(spec), false, &sec), 0);
	assert_int_equal(store_body_open(f->st, mbox, uid, &body, f->err, sizeof(f->err)), 1);
	buf_init(&raw, BUF_UNLIMITED);
	buf_init(&b, BUF_UNLIMITED);
	uint64_t at = 0, n = 0;
	if (imap_section_range(store_body_parts(body), store_body_size(body), &sec, &at, &n) == 1) {
		assert_int_equal(store_body_read(body, at, n, to_buf, &raw, f->err, sizeof(f->err)), 0);
		assert_int_equal(raw.len, n);
		if (sec.kind == IMAP_SECTION_HEADER_FIELDS || sec.kind == IMAP_SECTION_HEADER_FIELDS_NOT)
			imap_header_fields_filter(raw.data, raw.len, &sec, &b);
		else
			assert_int_equal(buf_append(&b, raw.data, raw.len), 0);
	}
	size_t from = off < b.len ? (size_t)off : b.len,
	       take = b.len - from < len ? b.len - from : (size_t)len;
	if (take != strlen(expected) || memcmp(b.data + from, expected, take) != 0)
		fail_msg("section [%s]: got [%.*s] want [%s]", spec, (int)take, b.data + from, expected);
	imap_section_free(&sec);
	store_body_close(body);
	buf_free(&raw);
	buf_free(&b);
}

static void test_sections(void **state)
{
	struct store_fixture *f = *state;
	store_fixture_deliver(f, PAT, NULL, multi, NULL);
	int64_t inbox = store_fixture_mailbox(f, PAT, "INBOX");
	const char *text = strstr(multi, "preamble");
	char header[1024];
	assert_int_equal(str_copy(header, sizeof(header), multi), 0);
	header[text - multi] = '\0';

	check_section(f, inbox, 1, "", 0, UINT64_MAX, multi);
	check_section(f, inbox, 1, "HEADER", 0, UINT64_MAX, header);
	check_section(f, inbox, 1, "TEXT", 0, UINT64_MAX, text);
	check_section(f, inbox, 1, "1", 0, UINT64_MAX, "Bonjour,\r\nvoici vos r=C3=A9sultats.");
	/* a single part inside a multipart is its own "1" (RFC 9051 6.4.5, as Dovecot) */
	check_section(f, inbox, 1, "1.1", 0, UINT64_MAX, "Bonjour,\r\nvoici vos r=C3=A9sultats.");
	check_section(
	    f, inbox, 1, "1.MIME", 0, UINT64_MAX,
	    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
	check_section(f, inbox, 1, "2", 0, UINT64_MAX, "JVBERi0xLjQK");
	check_section(f, inbox, 1, "3", 0, UINT64_MAX, "From: x@y.z\r\nSubject: inner\r\n\r\ninner body");
	check_section(f, inbox, 1, "3.HEADER", 0, UINT64_MAX, "From: x@y.z\r\nSubject: inner\r\n\r\n");
	check_section(f, inbox, 1, "3.TEXT", 0, UINT64_MAX, "inner body");
	check_section(f, inbox, 1, "3.1", 0, UINT64_MAX, "inner body");
	check_section(f, inbox, 1, "3.MIME", 0, UINT64_MAX, "Content-Type: message/rfc822\r\n\r\n");
	check_section(f, inbox, 1, "3.HEADER.FIELDS (SUBJECT)", 0, UINT64_MAX, "Subject: inner\r\n\r\n");
	check_section(f, inbox, 1, "HEADER.FIELDS (subject \"To\")", 0, UINT64_MAX,
	              "To: patient <146026322000196@patient.mss.test>, a@b.c\r\n"
	              "Subject: =?utf-8?q?R=C3=A9sultats?= \"bilan\"\r\n\r\n");
	check_section(f, inbox, 1, "HEADER.FIELDS (X-None)", 0, UINT64_MAX, "\r\n");
	check_section(f, inbox, 1, "HEADER.FIELDS.NOT (From To Cc Subject Date Message-ID Content-Type)", 0,
	              UINT64_MAX, "MIME-Version: 1.0\r\n\r\n");
	/* Non-existent parts and HEADER of a non-message part: no octets. */
	check_section(f, inbox, 1, "4", 0, UINT64_MAX, "");
	check_section(f, inbox, 1, "1.2", 0, UINT64_MAX, "");
	check_section(f, inbox, 1, "1.1.1", 0, UINT64_MAX, "");
	check_section(f, inbox, 1, "2.HEADER", 0, UINT64_MAX, "");
	/* Partial ranges. */
	check_section(f, inbox, 1, "", 0, 4, "From");
	check_section(f, inbox, 1, "1", 10, 5, "voici");
	check_section(f, inbox, 1, "1", 30, 100, "tats.");
	check_section(f, inbox, 1, "1", 35, 10, "");
	check_section(f, inbox, 1, "1", 1000, 10, "");

	struct store_body *body;
	assert_int_equal(store_body_open(f->st, inbox, 42, &body, f->err, sizeof(f->err)), 0);
}

static void test_sections_single(void **state)
{
	struct store_fixture *f = *state;
	static const char m[] = "Subject: s\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n";
	store_fixture_deliver(f, PAT, NULL, m, NULL);
	int64_t inbox = store_fixture_mailbox(f, PAT, "INBOX");
	check_section(f, inbox, 1, "1", 0, UINT64_MAX, "line1\r\nline2\r\n");
	check_section(f, inbox, 1, "1.MIME", 0, UINT64_MAX, "Subject: s\r\nContent-Type: text/plain\r\n\r\n");
	check_section(f, inbox, 1, "TEXT", 0, UINT64_MAX, "line1\r\nline2\r\n");
	check_section(f, inbox, 1, "2", 0, UINT64_MAX, "");
}

enum where { HEADER, BODY, TEXT };

static void test_search(void **state)
{
	struct store_fixture *f = *state;
	store_fixture_deliver(f, PAT, NULL, multi, NULL);
	int64_t inbox = store_fixture_mailbox(f, PAT, "INBOX");
	struct store_body *body;
	struct buf m;
	buf_init(&m, BUF_UNLIMITED);
	assert_int_equal(store_body_open(f->st, inbox, 1, &body, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_body_read_all(body, &m, f->err, sizeof(f->err)), 0);
	const struct imap_part *root = store_body_parts(body);
	struct {
		enum where where;
		const char *field, *needle;
		bool expect;
	} cases[] = {
	    {HEADER, "Subject", "R\xc3\xa9sultats", true},
	    {HEADER, "subject", "BILAN", true},
	    {HEADER, "From", "martin", true},
	    {HEADER, "To", "martin", false},
	    {HEADER, "X-Missing", "", false},
	    {HEADER, "Message-ID", "", true},
	    {BODY, NULL, "r\xc3\xa9sultats", true},
	    {BODY, NULL, "inner body", true},
	    {BODY, NULL, "JVBERi0", false},
	    {BODY, NULL, "Subject", false},
	    {TEXT, NULL, "bilan", true},
	    {TEXT, NULL, "inner", true}, /* an embedded message's header is text too */
	    {TEXT, NULL, "nowhere", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool hit = cases[i].where == HEADER ? imap_msgsearch_header(m.data, (size_t)root->header_size,
		                                                            cases[i].field, cases[i].needle)
		           : cases[i].where == BODY
		               ? imap_msgsearch_body(m.data, m.len, root, cases[i].needle)
		               : imap_msgsearch_text(m.data, m.len, root, cases[i].needle);
		if (hit != cases[i].expect)
			fail_msg("case %zu (%s): got %d", i, cases[i].needle, hit);
	}
	store_body_close(body);
	buf_free(&m);
}

static void test_flags_helpers(void **state)
{
	(void)state;
	assert_int_equal(store_flag_parse("\\SEEN"), STORE_FLAG_SEEN);
	assert_int_equal(store_flag_parse("\\Recent"), 0);
	assert_int_equal(store_flag_parse("Seen"), 0);
	assert_true(store_keyword_valid("$Masked"));
	assert_false(store_keyword_valid("a b"));
	assert_false(store_keyword_valid("\\Seen"));
	assert_false(store_keyword_valid("x]"));
	assert_false(store_keyword_valid(""));
	char out[64];
	assert_int_equal(store_flags_format(0, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(store_flags_format(STORE_FLAG_ALL, "k", out, sizeof(out)), 0);
	assert_string_equal(out, "\\Seen \\Answered \\Flagged \\Deleted \\Draft k");
	assert_int_equal(store_flags_format(STORE_FLAG_ALL, "k", out, 8), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build_multipart),
	    cmocka_unit_test(test_build_simple_and_8bit),
	    cmocka_unit_test(test_build_malformed),
	    cmocka_unit_test_setup_teardown(test_sections, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_sections_single, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_search, setup, store_fixture_teardown),
	    cmocka_unit_test(test_flags_helpers),
	};
	return STORE_RUN_GROUPS("store MIME", tests);
}
