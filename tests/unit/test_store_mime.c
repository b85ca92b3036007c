/* test_store_mime.c: ENVELOPE and BODYSTRUCTURE strings, section and partial fetch,
 * section parsing, malformed MIME, text search. */
#include "test_store_util.h"

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
    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 35 2 NIL NIL NIL NIL)"
    "(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") \"<doc1@pro.mss.test>\" \"Ordonnance\" \"BASE64\" 12 NIL "
    "(\"ATTACHMENT\" (\"FILENAME\" \"r.pdf\")) (\"fr\") NIL)"
    "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 41 "
    "(NIL \"inner\" ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) NIL NIL "
    "NIL NIL NIL) "
    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL "
    "NIL) "
    "\"MIXED\" (\"BOUNDARY\" \"XYZ\") NIL NIL NIL)";

static const char *const expected_body =
    "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 35 2)"
    "(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") \"<doc1@pro.mss.test>\" \"Ordonnance\" \"BASE64\" 12)"
    "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 41 "
    "(NIL \"inner\" ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) NIL NIL "
    "NIL NIL NIL) "
    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1) 4) \"MIXED\")";

static void test_build_multipart(void **state)
{
	(void)state;
	struct store_mime_info mi;
	assert_int_equal(store_mime_build(multi, sizeof(multi) - 1, &mi), 0);
	assert_string_equal(mi.envelope, expected_envelope);
	assert_string_equal(mi.bodystructure, expected_bodystructure);
	assert_string_equal(mi.body, expected_body);
	assert_int_equal(mi.sent_date, 1795942800);
	assert_int_equal(mi.header_size, strstr(multi, "preamble") - multi);
	store_mime_info_free(&mi);
}

static void test_build_simple_and_8bit(void **state)
{
	(void)state;
	static const char m[] =
	    "Subject: caf\xc3\xa9\r\nFrom: <a@b.c>\r\nReply-To: r@b.c\r\nSender: s@b.c\r\n"
	    "In-Reply-To: <x@y>\r\n\r\nhello\r\n";
	struct store_mime_info mi;
	assert_int_equal(store_mime_build(m, sizeof(m) - 1, &mi), 0);
	assert_string_equal(mi.envelope,
	                    "(NIL {5}\r\ncaf\xc3\xa9 ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"s\" \"b.c\")) "
	                    "((NIL NIL \"r\" \"b.c\")) NIL NIL NIL \"<x@y>\" NIL)");
	assert_string_equal(
	    mi.bodystructure,
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1 NIL NIL NIL NIL)");
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
		assert_int_equal(store_mime_build(bad[i], strlen(bad[i]), &mi), 0);
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

static void check_section(struct store_fixture *f, int64_t mbox, uint32_t uid, const char *spec, uint64_t off,
                          uint64_t len, const char *expected)
{
	struct store_section sec;
	char *storage;
	struct buf b;
	assert_int_equal(store_section_parse(spec, &sec, &storage), 0);
	sec.offset = off;
	sec.length = len;
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(store_fetch_section(f->st, mbox, uid, &sec, &b, f->err, sizeof(f->err)), 0);
	if (b.len != strlen(expected) || memcmp(b.data, expected, b.len) != 0)
		fail_msg("section [%s]: got [%s] want [%s]", spec, b.data, expected);
	buf_free(&b);
	free(storage);
}

static void test_sections(void **state)
{
	struct store_fixture *f = *state;
	store_fixture_deliver(f, PAT, NULL, multi, NULL);
	int64_t inbox = store_fixture_mailbox(f, PAT, "INBOX");
	const char *text = strstr(multi, "preamble");
	char header[1024];
	str_copy(header, sizeof(header), multi);
	header[text - multi] = '\0';

	check_section(f, inbox, 1, "", 0, UINT64_MAX, multi);
	check_section(f, inbox, 1, "HEADER", 0, UINT64_MAX, header);
	check_section(f, inbox, 1, "TEXT", 0, UINT64_MAX, text);
	check_section(f, inbox, 1, "1", 0, UINT64_MAX, "Bonjour,\r\nvoici vos r=C3=A9sultats.");
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
	check_section(f, inbox, 1, "2.HEADER", 0, UINT64_MAX, "");
	/* Partial ranges. */
	check_section(f, inbox, 1, "", 0, 4, "From");
	check_section(f, inbox, 1, "1", 10, 5, "voici");
	check_section(f, inbox, 1, "1", 30, 100, "tats.");
	check_section(f, inbox, 1, "1", 35, 10, "");
	check_section(f, inbox, 1, "1", 1000, 10, "");

	struct store_section sec = {.kind = STORE_SECTION_ALL, .length = UINT64_MAX};
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(store_fetch_section(f->st, inbox, 42, &sec, &b, f->err, sizeof(f->err)), 1);
	buf_free(&b);
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

static void test_section_parse(void **state)
{
	(void)state;
	struct store_section sec;
	char *storage;
	assert_int_equal(store_section_parse("1.2.3.MIME", &sec, &storage), 0);
	assert_int_equal(sec.depth, 3);
	assert_int_equal(sec.part[2], 3);
	assert_int_equal(sec.kind, STORE_SECTION_MIME);
	assert_int_equal(sec.length, UINT64_MAX);
	free(storage);
	assert_int_equal(store_section_parse("header.fields.not (A \"B C\")", &sec, &storage), 0);
	assert_int_equal(sec.kind, STORE_SECTION_HEADER_FIELDS_NOT);
	assert_int_equal(sec.nfields, 2);
	assert_string_equal(sec.fields[1], "B C");
	free(storage);
	static const char *const bad[] = {
	    "MIME",  "0",    "1..2",        "HEADER.FIELDS",   "HEADER.FIELDS ()",
	    "BOGUS", "1.2.", "99999999999", "HEADER.FIELDS (A"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = store_section_parse(bad[i], &sec, &storage);
		if (rc == 0)
			free(storage);
		if (strcmp(bad[i], "1.2.") != 0)
			assert_int_equal(rc, -1);
	}
}

static void test_search(void **state)
{
	struct store_fixture *f = *state;
	store_fixture_deliver(f, PAT, NULL, multi, NULL);
	int64_t inbox = store_fixture_mailbox(f, PAT, "INBOX");
	struct {
		enum store_text_where where;
		const char *field, *needle;
		int expect;
	} cases[] = {
	    {STORE_TEXT_HEADER, "Subject", "R\xc3\xa9sultats", 1},
	    {STORE_TEXT_HEADER, "subject", "BILAN", 1},
	    {STORE_TEXT_HEADER, "From", "martin", 1},
	    {STORE_TEXT_HEADER, "To", "martin", 0},
	    {STORE_TEXT_HEADER, "X-Missing", "", 0},
	    {STORE_TEXT_HEADER, "Message-ID", "", 1},
	    {STORE_TEXT_BODY, NULL, "r\xc3\xa9sultats", 1},
	    {STORE_TEXT_BODY, NULL, "inner body", 1},
	    {STORE_TEXT_BODY, NULL, "JVBERi0", 0},
	    {STORE_TEXT_BODY, NULL, "Subject", 0},
	    {STORE_TEXT_TEXT, NULL, "bilan", 1},
	    {STORE_TEXT_TEXT, NULL, "nowhere", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = store_search_text(f->st, inbox, 1, cases[i].where, cases[i].field, cases[i].needle,
		                           f->err, sizeof(f->err));
		if (rc != cases[i].expect)
			fail_msg("case %zu (%s): got %d", i, cases[i].needle, rc);
	}
	assert_int_equal(
	    store_search_text(f->st, inbox, 7, STORE_TEXT_BODY, NULL, "x", f->err, sizeof(f->err)), 0);
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
	    cmocka_unit_test(test_section_parse),
	    cmocka_unit_test_setup_teardown(test_search, setup, store_fixture_teardown),
	    cmocka_unit_test(test_flags_helpers),
	};
	return STORE_RUN_GROUPS("store MIME", tests);
}
