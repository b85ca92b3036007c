/* Unit tests: imap/ MIME structure, sections, BODYSTRUCTURE, decoding and the stored
 * part tree, on the messages of Dovecot's imaptest (fetch-body-mime,
 * fetch-body-message-rfc822-mime, fetch-bodystructure, fetch-binary-mime-qp) with the
 * answers Dovecot gives (issue 14 causes 4, 5). Messages are written with LF and
 * stored with CRLF, as imaptest APPENDs them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_bodystructure.h"
#include "imap/imap_decode.h"
#include "imap/imap_mime.h"
#include "imap/imap_rfc822.h"
#include "imap/imap_section.h"

static struct buf msg;
static struct imap_part *root;

static void load(const char *lf_text)
{
	buf_free(&msg);
	buf_init(&msg, BUF_UNLIMITED);
	for (const char *p = lf_text; *p; p++) {
		if (*p == '\n')
			assert_int_equal(buf_append_char(&msg, '\r'), 0);
		assert_int_equal(buf_append_char(&msg, *p), 0);
	}
	imap_parts_free(root);
	root = imap_mime_parse_all(msg.data, msg.len);
}

/* The octets of BODY[spec] as LF text (CRLF turned back into LF). */
static char *section(const char *spec)
{
	struct imap_section sec;
	uint64_t off = 0, len = 0;
	assert_int_equal(imap_section_parse(spec, strlen(spec), false, &sec), 0);
	struct buf out, lf;
	buf_init(&out, BUF_UNLIMITED);
	buf_init(&lf, BUF_UNLIMITED);
	if (imap_section_range(root, msg.len, &sec, &off, &len) == 1) {
		assert_true(off + len <= msg.len);
		if (sec.kind == IMAP_SECTION_HEADER_FIELDS || sec.kind == IMAP_SECTION_HEADER_FIELDS_NOT)
			imap_header_fields_filter(msg.data + off, (size_t)len, &sec, &out);
		else
			assert_int_equal(buf_append(&out, msg.data + off, (size_t)len), 0);
	}
	for (size_t i = 0; i < out.len; i++)
		if (!(out.data[i] == '\r' && i + 1 < out.len && out.data[i + 1] == '\n'))
			assert_int_equal(buf_append_char(&lf, out.data[i]), 0);
	imap_section_free(&sec);
	buf_free(&out);
	char *r = buf_strdup(&lf);
	buf_free(&lf);
	return r;
}

static void expect(const char *spec, const char *want)
{
	char *got = section(spec);
	if (strcmp(got, want) != 0)
		fail_msg("BODY[%s] is\n%s|\nwant\n%s|", spec, got, want);
	free(got);
}

static const char mime_msg[] =
    "From: user@domain.org\nDate: Sat, 24 Mar 2007 23:00:00 +0200\nMime-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"foo\n bar\"\n\nRoot MIME prologue\n\n--foo bar\n"
    "Content-Type: text/x-myown; charset=us-ascii\n\nhello\n\n--foo bar\nContent-Type: message/rfc822\n\n"
    "From: sub@domain.org\nDate: Sun, 12 Aug 2012 12:34:56 +0300\nSubject: submsg\n"
    "Content-Type: multipart/alternative; boundary=\"sub1\"\n\nSub MIME prologue\n--sub1\n"
    "Content-Type: text/html\n\n<p>Hello world</p>\n\n--sub1\nContent-Type: text/plain\n\n"
    "Hello another world\n\n--sub1--\nSub MIME epilogue\n\n--foo bar--\nRoot MIME epilogue\n";

static void test_body_mime(void **state)
{
	(void)state;
	load(mime_msg);
	expect("1", "hello\n");
	expect("1.MIME", "Content-Type: text/x-myown; charset=us-ascii\n\n");
	expect("2.MIME", "Content-Type: message/rfc822\n\n");
	expect("2.HEADER", "From: sub@domain.org\nDate: Sun, 12 Aug 2012 12:34:56 +0300\nSubject: submsg\n"
	                   "Content-Type: multipart/alternative; boundary=\"sub1\"\n\n");
	expect("2.HEADER.FIELDS (from subject X-foo)", "From: sub@domain.org\nSubject: submsg\n\n");
	expect("2.HEADER.FIELDS.NOT (from subject X-foo)",
	       "Date: Sun, 12 Aug 2012 12:34:56 +0300\nContent-Type: multipart/alternative; "
	       "boundary=\"sub1\"\n\n");
	expect("2.1", "<p>Hello world</p>\n");
	expect("2.2", "Hello another world\n");
	expect("2.2.MIME", "Content-Type: text/plain\n\n");
	expect("2.TEXT",
	       "Sub MIME prologue\n--sub1\nContent-Type: text/html\n\n<p>Hello world</p>\n\n--sub1\n"
	       "Content-Type: text/plain\n\nHello another world\n\n--sub1--\nSub MIME epilogue\n");
	expect("3", "");
	expect("1.1", "hello\n"); /* a single part is its own "1" (RFC 9051 6.4.5) */
	expect("1.2", "");
	expect("2.3", "");
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	imap_bodystructure_write(&b, root, false);
	const char *want_body = "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 "
	                        "1)(\"message\" \"rfc822\" NIL NIL "
	                        "NIL \"7bit\" ";
	assert_memory_equal(b.data, want_body, strlen(want_body));
	buf_free(&b);
}

static const char digest_msg[] =
    "From: user@domain.org\nDate: Sat, 24 Mar 2007 23:00:00 +0200\nMime-Version: 1.0\n"
    "Content-Type: message/rfc822\n\nFrom: sub@domain.org\nDate: Sun, 12 Aug 2012 12:34:56 +0300\n"
    "Subject: submsg\nContent-Type: multipart/digest; boundary=\"foo\"\n\nprologue\n\n--foo \n\n"
    "From: m1@example.com\nSubject: m1\n\nm1 body\n\n--foo \nX-Mime: m2 header\n\nFrom: m2@example.com\n"
    "Subject: m2\n\nm2 body\n\n--foo--\n\nepilogue\n";

/* A part with an empty MIME header inside a digest is message/rfc822 (cause 4). */
static void test_digest_empty_mime_header(void **state)
{
	(void)state;
	load(digest_msg);
	expect("1.1", "From: m1@example.com\nSubject: m1\n\nm1 body\n");
	expect("1.1.MIME", "\n");
	expect("1.1.HEADER", "From: m1@example.com\nSubject: m1\n\n");
	expect("1.1.TEXT", "m1 body\n");
	expect("1.2.MIME", "X-Mime: m2 header\n\n");
	expect("1.2.HEADER", "From: m2@example.com\nSubject: m2\n\n");
	const struct imap_part *p = imap_part_find(root, (const uint32_t[]){1, 1}, 2);
	assert_non_null(p);
	assert_true(p->flags & IMAP_PART_MESSAGE);
}

static void test_bodystructure_folded_boundary(void **state)
{
	(void)state;
	load("From: user@domain.org\nDate: Sat, 24 Mar 2007 23:00:00 +0200\nMime-Version: 1.0\n"
	     "Content-Type: multipart/mixed; boundary=\"foo\n bar\"\n\n--foo bar\n"
	     "Content-Type: text/x-myown; charset=us-ascii\n\nhello\n\n--foo bar--\n");
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	imap_bodystructure_write(&b, root, false);
	assert_string_equal(
	    b.data, "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1) \"mixed\")");
	buf_reset(&b);
	imap_bodystructure_write(&b, root, true);
	assert_string_equal(b.data,
	                    "((\"text\" \"x-myown\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1 NIL NIL "
	                    "NIL NIL) \"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)");
	buf_free(&b);
}

static const char qp_body[] =
    "hello  \nbar=\n\nfoo\t=\nbar\nfoo\t \t= \n=62\nfoo = \t\nbar\nfoo =\n=62\nfoo  \n"
    "bar=\n\nfoo_bar\n";

/* Quoted-printable as Dovecot decodes it (cause 5): trailing white space dropped,
 * soft line breaks with white space after the '=', CRLF line ends. */
static void test_qp_binary(void **state)
{
	(void)state;
	struct buf in, out;
	buf_init(&in, BUF_UNLIMITED);
	buf_init(&out, BUF_UNLIMITED);
	for (const char *p = qp_body; *p; p++) {
		if (*p == '\n')
			assert_int_equal(buf_append_char(&in, '\r'), 0);
		assert_int_equal(buf_append_char(&in, *p), 0);
	}
	struct imap_decoder d;
	imap_decoder_init(&d, IMAP_CTE_QP);
	for (size_t i = 0; i < in.len; i++) /* one octet at a time: state carried over */
		imap_decoder_feed(&d, in.data + i, 1, &out);
	imap_decoder_finish(&d, &out);
	const char want[] =
	    "hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\nfoo b\r\nfoo\r\nbar\r\nfoo_bar\r\n";
	assert_int_equal(out.len, 65);
	assert_memory_equal(out.data, want, out.len);
	/* the parser counts the same decoded size for BINARY.SIZE */
	struct buf m;
	buf_init(&m, BUF_UNLIMITED);
	assert_int_equal(
	    buf_append_str(&m, "Mime-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
	                       "Content-Transfer-Encoding: quoted-printable\r\n\r\n"),
	    0);
	assert_int_equal(buf_append(&m, in.data, in.len), 0);
	assert_int_equal(buf_append_str(&m, "\r\n--x--\r\n"), 0);
	struct imap_part *r = imap_mime_parse_all(m.data, m.len);
	const struct imap_part *p = imap_part_find(r, (const uint32_t[]){1}, 1);
	assert_non_null(p);
	assert_int_equal(p->decoded_size, 65);
	imap_parts_free(r);
	buf_free(&m);
	buf_free(&in);
	buf_free(&out);
}

static void test_base64(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	struct imap_decoder d;
	imap_decoder_init(&d, IMAP_CTE_BASE64);
	const char in[] = "AC3k\r\nCg0K\r\nCg==\r\nignored";
	imap_decoder_feed(&d, in, 7, &out);
	imap_decoder_feed(&d, in + 7, sizeof(in) - 8, &out);
	imap_decoder_finish(&d, &out);
	assert_int_equal(out.len, 7);
	assert_memory_equal(out.data, "\0-\xe4\n\r\n\n", 7);
	buf_free(&out);
}

/* The stored form gives back the same ranges, and refuses damaged input. */
static void test_serialize(void **state)
{
	(void)state;
	load(mime_msg);
	struct buf s;
	buf_init(&s, BUF_UNLIMITED);
	imap_parts_serialize(root, &s);
	struct imap_part *back = imap_parts_deserialize(s.data, s.len);
	assert_non_null(back);
	struct buf a, b;
	buf_init(&a, BUF_UNLIMITED);
	buf_init(&b, BUF_UNLIMITED);
	imap_parts_serialize(back, &a);
	assert_int_equal(a.len, s.len);
	assert_memory_equal(a.data, s.data, s.len);
	const struct imap_part *p = imap_part_find(back, (const uint32_t[]){2, 2}, 2);
	assert_non_null(p);
	assert_true(p->flags & IMAP_PART_TEXT);
	imap_parts_free(back);
	for (size_t cut = 0; cut < s.len; cut++) /* every truncation is refused */
		assert_null(imap_parts_deserialize(s.data, cut));
	buf_free(&a);
	buf_free(&b);
	buf_free(&s);
}

/* Limits: deep nesting and a broken message still give a structure. */
static void test_limits(void **state)
{
	(void)state;
	struct buf m;
	buf_init(&m, BUF_UNLIMITED);
	for (int i = 0; i < 100; i++)
		assert_int_equal(
		    buf_printf(&m, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i), 0);
	assert_int_equal(buf_append_str(&m, "\r\ntext\r\n"), 0);
	struct imap_part *r = imap_mime_parse_all(m.data, m.len);
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	imap_bodystructure_write(&b, r, true);
	assert_true(b.len > 0);
	imap_parts_free(r);
	r = imap_mime_parse_all("", 0);
	buf_reset(&b);
	imap_bodystructure_write(&b, r, false);
	assert_string_equal(b.data, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
	imap_parts_free(r);
	buf_free(&b);
	buf_free(&m);
}

static int teardown(void **state)
{
	(void)state;
	imap_parts_free(root);
	root = NULL;
	buf_free(&msg);
	return 0;
}

/* A HEADER.FIELDS name longer than any field name is a syntax error, never cut to its
 * first 1024 bytes and matched as those (issue 16). */
static void test_long_field_names(void **state)
{
	(void)state;
	char spec[1200], name[1100];
	memset(name, 'x', 1030);
	name[1030] = '\0';
	struct imap_section sec;
	snprintf(spec, sizeof(spec), "HEADER.FIELDS (%s)", name);
	assert_int_equal(imap_section_parse(spec, strlen(spec), false, &sec), -1);
	snprintf(spec, sizeof(spec), "HEADER.FIELDS (\"%s\")", name);
	assert_int_equal(imap_section_parse(spec, strlen(spec), false, &sec), -1);
	name[1000] = '\0';
	snprintf(spec, sizeof(spec), "HEADER.FIELDS (\"%s\" Subject)", name);
	assert_int_equal(imap_section_parse(spec, strlen(spec), false, &sec), 0);
	assert_int_equal(sec.nfields, 2);
	assert_string_equal(sec.fields[0], name);
	imap_section_free(&sec);
}

/* A parameter name is kept whole or the parameter skipped, never cut (issue 16): the
 * RFC 2231 join once wrote the name into 256 bytes. */
static void test_long_param_names(void **state)
{
	(void)state;
	char text[1400], want[400];
	memset(want, 'n', 300);
	want[300] = '\0';
	snprintf(text, sizeof(text), "; %s*0=a; %s*1=b; x=1", want, want);
	struct rfc822_parser ps;
	struct rfc822_param *v = NULL;
	rfc822_init(&ps, text, strlen(text), NULL);
	size_t n = rfc822_parse_params(&ps, &v, 10);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, want);
	assert_string_equal(v[0].value, "ab");
	rfc822_params_free(v, n);
	/* past the name limit (1024): skipped, the next one read */
	char big[1100];
	memset(big, 'n', 1050);
	big[1050] = '\0';
	snprintf(text, sizeof(text), "; %s=a; x=1", big);
	rfc822_init(&ps, text, strlen(text), NULL);
	n = rfc822_parse_params(&ps, &v, 10);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "x");
	rfc822_params_free(v, n);
}

int main(void)
{
	buf_init(&msg, BUF_UNLIMITED);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_body_mime),
	    cmocka_unit_test(test_digest_empty_mime_header),
	    cmocka_unit_test(test_bodystructure_folded_boundary),
	    cmocka_unit_test(test_qp_binary),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_serialize),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_long_param_names),
	    cmocka_unit_test(test_long_field_names),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
