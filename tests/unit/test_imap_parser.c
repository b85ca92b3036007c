/* Unit tests: imap/imap_parser (command syntax into an argument tree, incrementally). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap_parser.h"
#include "lib/buf.h"

/* Renders an argument tree as text: atoms as is, quoted as "..", literals as {n:..},
 * NIL as NIL, lists in parentheses. Makes the tables below readable. */
static void render(const struct imap_arg *a, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			assert_int_equal(buf_append_char(out, ' '), 0);
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
			assert_int_equal(buf_append_str(out, a[i].str), 0);
			break;
		case IMAP_ARG_QUOTED:
			assert_int_equal(buf_printf(out, "\"%s\"", a[i].str), 0);
			break;
		case IMAP_ARG_LITERAL:
			assert_int_equal(buf_printf(out, "{%zu:", a[i].len), 0);
			assert_int_equal(buf_append(out, a[i].str, a[i].len), 0);
			assert_int_equal(buf_append_char(out, '}'), 0);
			break;
		case IMAP_ARG_NIL:
			assert_int_equal(buf_append_str(out, "NIL"), 0);
			break;
		case IMAP_ARG_LIST:
			assert_int_equal(buf_append_char(out, '('), 0);
			render(a[i].list, a[i].count, out);
			assert_int_equal(buf_append_char(out, ')'), 0);
			break;
		}
	}
}

struct good_case {
	const char *in;
	const char *tag, *name, *args;
	size_t extra, args_extra; /* bytes after an embedded NUL in input / expected args */
};

static const struct good_case good[] = {
    {"a1 NOOP", "a1", "NOOP", "", 0, 0},
    {"a1 noop", "a1", "NOOP", "", 0, 0},
    {"A2 LOGIN user \"pa ss\"", "A2", "LOGIN", "user \"pa ss\"", 0, 0},
    {"t LOGIN \"a\\\"b\\\\c\" x", "t", "LOGIN", "\"a\"b\\c\" x", 0, 0},
    {"t LOGIN {4}\r\nuser {3+}\r\npwd", "t", "LOGIN", "{4:user} {3:pwd}", 0, 0},
    {"t APPEND INBOX (\\Seen $Label) {5}\r\nab\0cd", "t", "APPEND", "INBOX (\\Seen $Label) {5:ab\0cd}", 3, 4},
    {"t FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)", "t", "FETCH",
     "1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)", 0, 0},
    {"t uid fetch 1,3:5 (UID)", "t", "UID FETCH", "1,3:5 (UID)", 0, 0},
    {"t SEARCH OR (FROM a) NOT (SEEN) SUBJECT nil", "t", "SEARCH", "OR (FROM a) NOT (SEEN) SUBJECT NIL", 0,
     0},
    {"t LIST \"\" %", "t", "LIST", "\"\" %", 0, 0},
    {"t LIST () \"\" *", "t", "LIST", "() \"\" *", 0, 0},
    {"t STORE 1 +FLAGS.SILENT (\\Deleted)", "t", "STORE", "1 +FLAGS.SILENT (\\Deleted)", 0, 0},
    {"t SELECT \"caf\xc3\xa9\"", "t", "SELECT", "\"caf\xc3\xa9\"", 0, 0},
    {"t ID NIL", "t", "ID", "NIL", 0, 0},
    {"t X ((((a))))", "t", "X", "((((a))))", 0, 0},
    {"t X {0}\r\n", "t", "X", "{0:}", 0, 0},
    /* '[' without ']' is an ATOM-CHAR (issue 14, imaptest "atoms") */
    {"t SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}", "t", "SELECT", "!#$&'+,-.0123456789:;<=>?@^_`|[}", 0, 0},
    {"t FETCH 1 BODY[HEADER", "t", "FETCH", "1 BODY[HEADER", 0, 0},
};

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct good_case *g = &good[i];
		size_t len = strlen(g->in) + g->extra;
		struct imap_parser *p;
		struct imap_command *c;
		char err[128] = "";
		int rc = imap_parse_command(g->in, len, &p, &c, err, sizeof(err));
		if (rc != 0)
			fail_msg("case %zu (%s): %s", i, g->in, err);
		assert_string_equal(c->tag, g->tag);
		assert_string_equal(c->name, g->name);
		struct buf out;
		buf_init(&out, BUF_UNLIMITED);
		render(c->args, c->nargs, &out);
		size_t want = strlen(g->args) + g->args_extra;
		if (out.len != want || memcmp(out.data, g->args, want) != 0)
			fail_msg("case %zu: got [%s] want [%s]", i, out.data, g->args);
		buf_free(&out);
		imap_parser_free(p);
	}
}

struct bad_case {
	const char *in;
	const char *tag; /* the tag reported with the BAD */
};

static const struct bad_case bad[] = {
    {"", "*"},
    {"a1", "a1"},
    {"a1 ", "a1"},
    {"a1  NOOP", "a1"},
    {"a1 NOOP ", "a1"},
    {"a1 LOGIN a  b", "a1"},
    {"a1 LOGIN (a b", "a1"},
    {"a1 LOGIN a b)", "a1"},
    {"a1 LOGIN a b))", "a1"},
    {"a1 LOGIN \"abc", "a1"},
    {"a1 LOGIN \"a\\bc\"", "a1"},
    {"a1 LOGIN {5}\r\nab", "a1"},
    {"a1 LOGIN {5}ab", "a1"},
    {"a1 LOGIN {x}\r\nab", "a1"},
    {"a1 LOGIN {99999999999999999999}\r\nab", "a1"},
    {"a1 LOGIN \xff\xfe", "a1"},
    {"a1 LOGIN \"\xff\xfe\"", "a1"},
    {"\xc3\xa9 NOOP", "*"},
    {"a+b NOOP", "*"},
    {"a1 N0OP", "a1"},
    {"a1 UID", "a1"},
    {"a1 UID  FETCH", "a1"},
    {"a1 X (((((((((((((((((((a)))))))))))))))))))", "a1"},
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_parser *p;
		struct imap_command *c;
		char err[128] = "";
		int rc = imap_parse_command(bad[i].in, strlen(bad[i].in), &p, &c, err, sizeof(err));
		if (rc != -1)
			fail_msg("case %zu (%s) parsed", i, bad[i].in);
		assert_true(err[0] != '\0');
		if (strcmp(c->tag, bad[i].tag) != 0)
			fail_msg("case %zu: tag [%s] want [%s]", i, c->tag, bad[i].tag);
		imap_parser_free(p);
	}
}

static void test_line_literal(void **state)
{
	(void)state;
	uint64_t n;
	bool ns;
	assert_int_equal(imap_line_literal("a LOGIN {5}", 11, &n, &ns), 1);
	assert_int_equal(n, 5);
	assert_false(ns);
	assert_int_equal(imap_line_literal("a LOGIN {12+}", 13, &n, &ns), 1);
	assert_int_equal(n, 12);
	assert_true(ns);
	assert_int_equal(imap_line_literal("a LOGIN x", 9, &n, &ns), 0);
	assert_int_equal(imap_line_literal("a LOGIN }", 9, &n, &ns), 0);
	assert_int_equal(imap_line_literal("a LOGIN {}", 10, &n, &ns), -1);
	assert_int_equal(imap_line_literal("a LOGIN {+}", 11, &n, &ns), -1);
	assert_int_equal(imap_line_literal("a X {99999999999999999999}", 26, &n, &ns), -1);
	assert_int_equal(imap_line_literal("a X {9223372036854775807}", 25, &n, &ns), -1);
	assert_int_equal(imap_line_literal("a X {1++}", 9, &n, &ns), -1);
}

#define LINE(p, s) imap_parser_line(p, s, strlen(s))

/* Fed line by line, as the session does: tag and name after the first line, the
 * arguments before a literal available, the literal streamed elsewhere. */
static void test_incremental(void **state)
{
	(void)state;
	struct imap_parser *p = imap_parser_new();
	imap_parser_reset(p);
	assert_int_equal(LINE(p, "x1 append INBOX (\\Seen) ~{10+}"), IMAP_PARSE_LITERAL);
	const struct imap_command *c = imap_parser_command(p);
	assert_string_equal(c->tag, "x1");
	assert_string_equal(c->name, "APPEND");
	assert_int_equal(c->nargs, 2);
	assert_string_equal(c->args[0].str, "INBOX");
	assert_int_equal(imap_parser_literal_size(p), 10);
	assert_true(imap_parser_literal_nonsync(p));
	assert_true(imap_parser_literal_binary(p));
	assert_int_equal(imap_parser_depth(p), 0);
	imap_parser_literal_streamed(p);
	assert_int_equal(LINE(p, " {3}"), IMAP_PARSE_LITERAL); /* MULTIAPPEND */
	imap_parser_literal_data(p, "abc", 3);
	assert_int_equal(LINE(p, ""), IMAP_PARSE_DONE);
	c = imap_parser_command(p);
	assert_int_equal(c->nargs, 4);
	assert_null(c->args[2].str);
	assert_int_equal(c->args[2].len, 10);
	assert_string_equal(c->args[3].str, "abc");
	/* a literal inside a list (CATENATE), then the list closes on the next line */
	imap_parser_reset(p);
	assert_int_equal(LINE(p, "y APPEND b CATENATE (TEXT {2}"), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_depth(p), 1);
	imap_parser_literal_data(p, "hi", 2);
	assert_int_equal(LINE(p, " URL \"/x\")"), IMAP_PARSE_DONE);
	c = imap_parser_command(p);
	assert_int_equal(c->nargs, 3);
	assert_int_equal(c->args[2].count, 4);
	/* an error keeps the tag; nothing more is parsed until reset */
	imap_parser_reset(p);
	assert_int_equal(LINE(p, "z1 LOGIN (a"), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_command(p)->tag, "z1");
	assert_int_equal(LINE(p, ""), IMAP_PARSE_ERROR);
	char longtag[200];
	memset(longtag, 'a', sizeof(longtag));
	imap_parser_reset(p);
	assert_int_equal(imap_parser_line(p, longtag, sizeof(longtag)), IMAP_PARSE_ERROR);
	imap_parser_free(p);
}

static void test_astring_helpers(void **state)
{
	(void)state;
	struct imap_parser *p;
	struct imap_command *c;
	char err[64];
	const char in[] = "t X a \"b\" {2}\r\nc\0 NIL (d)";
	assert_int_equal(imap_parse_command(in, sizeof(in) - 1, &p, &c, err, sizeof(err)), 0);
	assert_int_equal(c->nargs, 5);
	assert_string_equal(imap_arg_astring(&c->args[0]), "a");
	assert_string_equal(imap_arg_astring(&c->args[1]), "b");
	assert_null(imap_arg_astring(&c->args[2]));                /* holds a NUL */
	assert_string_equal(imap_arg_astring(&c->args[3]), "NIL"); /* NIL is an atom too */
	assert_null(imap_arg_astring(&c->args[4]));
	assert_true(imap_arg_is_atom(&c->args[0], "A"));
	imap_parser_free(p);
}

/* 8-bit octets in atoms: refused, until UTF8=ACCEPT / IMAP4rev2 turns them on for
 * the session (kept across commands). */
static void test_utf8_atoms(void **state)
{
	(void)state;
	struct imap_parser *p = imap_parser_new();
	const char line[] = "t CREATE R\xc3\xa9sultats/Bio";
	assert_int_equal(imap_parser_line(p, line, sizeof(line) - 1), IMAP_PARSE_ERROR);
	assert_string_equal(imap_parser_error(p), "8-bit characters not allowed in atoms");
	imap_parser_reset(p);
	imap_parser_set_utf8(p, true);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_line(p, line, sizeof(line) - 1), IMAP_PARSE_DONE);
	struct imap_command *c = imap_parser_command(p);
	assert_int_equal(c->nargs, 1);
	assert_string_equal(c->args[0].str, "R\xc3\xa9sultats/Bio");
	imap_parser_reset(p);
	const char tag8[] = "\xc3\xa9 NOOP"; /* never in a tag */
	assert_int_equal(imap_parser_line(p, tag8, sizeof(tag8) - 1), IMAP_PARSE_ERROR);
	imap_parser_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_line_literal),
	    cmocka_unit_test(test_incremental),
	    cmocka_unit_test(test_astring_helpers),
	    cmocka_unit_test(test_utf8_atoms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
