/* Unit tests: URLFETCH's arguments (imap/imap_urlfetch.h, RFC 4467 7, RFC 5524 3) and a
 * section with its leaves decoded (imap/imap_bindecode.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_bindecode.h"
#include "imap/imap_bodystructure.h"
#include "imap/imap_parser.h"
#include "imap/imap_urlfetch.h"

struct case_ {
	const char *args; /* after "a URLFETCH " */
	int rc;
	unsigned want[3]; /* of each URL */
};

#define X IMAP_URLFETCH_EXTENDED
static const struct case_ cases[] = {
    {"\"imap://a\"", 0, {IMAP_URLFETCH_BODY}},
    {"imap://a \"imap://b\"", 0, {IMAP_URLFETCH_BODY, IMAP_URLFETCH_BODY}},
    {"(\"imap://a\" BINARY)", 0, {X | IMAP_URLFETCH_BINARY}},
    {"(imap://a bodypartstructure binary)", 0, {X | IMAP_URLFETCH_BINARY | IMAP_URLFETCH_BODYPARTSTRUCTURE}},
    {"(imap://a BODYPARTSTRUCTURE)", 0, {X | IMAP_URLFETCH_BODYPARTSTRUCTURE}},
    {"(imap://a)", 0, {X | IMAP_URLFETCH_BODY}}, /* no item: BODY */
    {"(imap://a BODY) imap://b", 0, {X | IMAP_URLFETCH_BODY, IMAP_URLFETCH_BODY}},
    {"(imap://a BODY BINARY)", -1, {0}}, /* one or the other */
    {"(imap://a ENVELOPE)", -1, {0}},
    {"(imap://a \"BINARY\")", -1, {0}}, /* parameters are atoms */
    {"(imap://a (BINARY))", -1, {0}},
    {"()", -1, {0}},
    {"((imap://a) BINARY)", -1, {0}},
    {"imap://a ()", -1, {0}},
};

static void urlfetch_args(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[256];
		int n = snprintf(line, sizeof(line), "a URLFETCH %s", cases[i].args);
		struct imap_parser *p;
		struct imap_command *c;
		char err[128];
		assert_int_equal(imap_parse_command(line, (size_t)n, &p, &c, err, sizeof(err)), 0);
		struct imap_urlfetch_url u[4];
		const char *e = NULL;
		int rc = imap_urlfetch_parse(c->args, c->nargs, u, &e);
		if (rc != cases[i].rc)
			fail_msg("%s: rc %d", cases[i].args, rc);
		for (size_t k = 0; rc == 0 && k < c->nargs; k++)
			if (u[k].want != cases[i].want[k])
				fail_msg("%s: url %zu wants %#x", cases[i].args, k, u[k].want);
		if (rc < 0)
			assert_non_null(e);
		else
			assert_string_equal(u[0].url, "imap://a");
		imap_parser_free(p);
	}
	const char *e = NULL;
	assert_int_equal(imap_urlfetch_parse(NULL, 0, NULL, &e), -1);
}

/* imaptest's urlauth-binary message (RFC 5524 3): a multipart whose first part is a
 * message/rfc822 holding two base64 text parts. */
static const char msg[] = "From: user@domain.org\r\n"
                          "Mime-Version: 1.0\r\n"
                          "Content-Type: multipart/mixed; boundary=\"foo bar\"\r\n"
                          "\r\n"
                          "Root MIME prologue\r\n"
                          "\r\n"
                          "--foo bar\r\n"
                          "Content-Type: message/rfc822\r\n"
                          "\r\n"
                          "From: sub@domain.org\r\n"
                          "Content-Type: multipart/alternative; boundary=\"sub1\"\r\n"
                          "\r\n"
                          "--sub1\r\n"
                          "Content-Type: text/plain\r\n"
                          "Content-Transfer-Encoding: base64\r\n"
                          "\r\n"
                          "aGVs\r\n"
                          "bG8gd29y\r\n"
                          "bGQ=\r\n"
                          "\r\n"
                          "--sub1\r\n"
                          "Content-Type: text/plain\r\n"
                          "Content-Transfer-Encoding:\r\n"
                          " quoted-printable\r\n"
                          "\r\n"
                          "caf=C3=A9 =00\r\n"
                          "--sub1--\r\n"
                          "\r\n"
                          "--foo bar--\r\n";

static const char sub_decoded[] = "From: sub@domain.org\r\n"
                                  "Content-Type: multipart/alternative; boundary=\"sub1\"\r\n"
                                  "\r\n"
                                  "--sub1\r\n"
                                  "Content-Type: text/plain\r\n"
                                  "Content-Transfer-Encoding: binary\r\n"
                                  "\r\n"
                                  "hello world\r\n"
                                  "--sub1\r\n"
                                  "Content-Type: text/plain\r\n"
                                  "Content-Transfer-Encoding: binary\r\n"
                                  "\r\n"
                                  "caf\xc3\xa9 \0\r\n"
                                  "--sub1--\r\n";

/* Feeds the message in pieces of step octets; returns the tree. */
static struct imap_part *run(uint64_t from, uint64_t to, size_t step, bool sizes, struct buf *out)
{
	struct imap_bindecode *b = imap_bindecode_new(from, to, out);
	for (size_t i = 0; i < sizeof(msg) - 1; i += step)
		imap_bindecode_feed(b, msg + i, i + step < sizeof(msg) - 1 ? step : sizeof(msg) - 1 - i);
	return imap_bindecode_finish(b, sizes);
}

static void bindecode_message_part(void **state)
{
	(void)state;
	const char *start = strstr(msg, "From: sub@"), *end = strstr(msg, "\r\n--foo bar--");
	static const size_t steps[] = {1, 7, 4096};
	for (size_t k = 0; k < 3; k++) {
		struct buf out;
		buf_init(&out, BUF_UNLIMITED);
		struct imap_part *root =
		    run((uint64_t)(start - msg), (uint64_t)(end - msg), steps[k], false, &out);
		assert_int_equal(out.len, sizeof(sub_decoded) - 1);
		assert_memory_equal(out.data, sub_decoded, out.len);
		imap_parts_free(root);
		buf_free(&out);
	}
}

static void bindecode_leaf_and_sizes(void **state)
{
	(void)state;
	/* the first leaf's body alone: its decoded octets, as BINARY[1.1.1] */
	const char *start = strstr(msg, "aGVs"),
	           *end = strstr(msg, "\r\n\r\n--sub1\r\nContent-Type: text/plain\r\n"
	                              "Content-Transfer-Encoding:\r\n");
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	struct imap_part *root = run((uint64_t)(start - msg), (uint64_t)(end - msg) + 2, 5, true, &out);
	assert_int_equal(out.len, 11);
	assert_memory_equal(out.data, "hello world", 11);
	/* the sizes beside BINARY: 11 octets and no line for the first leaf, its message
	 * and multipart shrunk by as much */
	const struct imap_part *rfc822 = root->children, *inner = rfc822->children, *leaf = inner->children;
	assert_int_equal(leaf->body_size, 11);
	assert_int_equal(leaf->body_lines, 0);
	struct imap_part *plain = run(0, 0, 4096, false, &out);
	const struct imap_part *l1 = plain->children->children->children, *l2 = l1->next;
	assert_int_equal(l2->decoded_size, 7); /* "caf\xc3\xa9 \0" */
	assert_int_equal(plain->children->body_size - rfc822->body_size,
	                 l1->body_size - l1->decoded_size + l2->body_size - l2->decoded_size);
	assert_int_equal(plain->children->body_lines - rfc822->body_lines, l1->body_lines + l2->body_lines);
	struct buf bs;
	buf_init(&bs, BUF_UNLIMITED);
	imap_bodystructure_write(&bs, leaf, true);
	assert_non_null(strstr(bs.data, "\"base64\" 11 0")); /* the encoding as declared */
	buf_free(&bs);
	imap_parts_free(plain);
	imap_parts_free(root);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(urlfetch_args),
	    cmocka_unit_test(bindecode_message_part),
	    cmocka_unit_test(bindecode_leaf_and_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
