/* Unit tests: smtpd/smtp_parse (command syntax), table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "smtpd/smtp_parse.h"

static void test_verb(void **state)
{
	static const struct {
		const char *line;
		int rc;
		const char *verb, *args;
	} cases[] = {
	    {"EHLO client.example", 0, "EHLO", "client.example"},
	    {"ehlo   client.example", 0, "EHLO", "client.example"},
	    {"QUIT", 0, "QUIT", ""},
	    {"MaIl FROM:<a@b>", 0, "MAIL", "FROM:<a@b>"},
	    {"STARTTLS", 0, "STARTTLS", ""},
	    {"", -1, NULL, NULL},
	    {" NOOP", -1, NULL, NULL},
	    {"NO0P", -1, NULL, NULL},
	    {"MAIL:FROM", -1, NULL, NULL},
	    {"ABCDEFGHIJKLMNOPQRSTUVWXYZ", -1, NULL, NULL},
	    {"\x80\x81", -1, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_cmdline cl;
		int rc = smtp_parse_verb(cases[i].line, &cl);

		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_string_equal(cl.verb, cases[i].verb);
			assert_string_equal(cl.args, cases[i].args);
		}
	}
}

static void test_mail(void **state)
{
	static const struct {
		const char *args;
		enum smtp_reply_id r;
		const char *addr;
		uint64_t size;
		int body;
	} cases[] = {
	    {"FROM:<Dr.Martin@PRO.mss.test>", RPL_OK, "dr.martin@pro.mss.test", 0, 0},
	    {"from: <a@b.c>", RPL_OK, "a@b.c", 0, 0},
	    {"FROM:<>", RPL_OK, "", 0, 0},
	    {"FROM:<a@b.c> SIZE=1234 BODY=8BITMIME", RPL_OK, "a@b.c", 1234, 8},
	    {"FROM:<a@b.c> body=7bit", RPL_OK, "a@b.c", 0, 7},
	    {"FROM:<a@b.c> AUTH=<>", RPL_OK, "a@b.c", 0, 0},
	    {"FROM:<@relay.example,@r2.example:a@b.c>", RPL_OK, "a@b.c", 0, 0},
	    {"FROM:<\"john doe\"@b.c>", RPL_OK, "\"john doe\"@b.c", 0, 0},
	    {"FROM:<a@[192.0.2.1]>", RPL_OK, "a@[192.0.2.1]", 0, 0},
	    {"FROM:a@b.c", RPL_SYNTAX_MAIL, "", 0, 0},
	    {"FROM:<a@b.c", RPL_SYNTAX_MAIL, "", 0, 0},
	    {"TO:<a@b.c>", RPL_SYNTAX_MAIL, "", 0, 0},
	    {"FROM:<a@b.c>junk", RPL_SYNTAX_MAIL, "", 0, 0},
	    {"FROM:<a b@c.d>", RPL_BAD_SENDER, "", 0, 0},
	    {"FROM:<a@>", RPL_BAD_SENDER, "", 0, 0},
	    {"FROM:<@b.c>", RPL_BAD_SENDER, "", 0, 0},
	    {"FROM:<a..b@c.d>", RPL_BAD_SENDER, "", 0, 0},
	    {"FROM:<a@-b.c>", RPL_BAD_SENDER, "", 0, 0},
	    {"FROM:<a@b-.c>", RPL_BAD_SENDER, "", 0, 0},
	    {"FROM:<a@b..c>", RPL_BAD_SENDER, "", 0, 0},
	    {"FROM:<caf\xc3\xa9@b.c>", RPL_NEED_SMTPUTF8, "", 0, 0},
	    {"FROM:<a@b.c> SIZE=abc", RPL_SYNTAX, "", 0, 0},
	    {"FROM:<a@b.c> SIZE=1 SIZE=2", RPL_SYNTAX, "", 0, 0},
	    {"FROM:<a@b.c> SIZE=99999999999999999999999", RPL_SYNTAX, "", 0, 0},
	    {"FROM:<a@b.c> BODY=BINARYMIME", RPL_BAD_BODY, "", 0, 0},
	    {"FROM:<a@b.c> RET=HDRS", RPL_OK, "a@b.c", 0, 0},
	    {"FROM:<a@b.c> XFOO=1", RPL_PARAM_UNKNOWN, "", 0, 0},
	    {"FROM:<a@b.c> =x", RPL_SYNTAX, "", 0, 0},
	    {"FROM:<a@b.c> SIZE=", RPL_SYNTAX, "", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char addr[SMTP_PATH_MAX];
		struct smtp_mail_params p;
		enum smtp_reply_id r = smtp_parse_mail(cases[i].args, addr, &p);

		if (r != cases[i].r)
			fail_msg("case %zu \"%s\": got %d want %d", i, cases[i].args, r, cases[i].r);
		if (r == RPL_OK) {
			assert_string_equal(addr, cases[i].addr);
			assert_int_equal(p.size, cases[i].size);
			assert_int_equal(p.body, cases[i].body);
		}
	}
}

/* RFC 6531 (SMTPUTF8) and RFC 8689 (REQUIRETLS) on MAIL. */
static void test_mail_utf8_requiretls(void **state)
{
	static const struct {
		const char *args;
		enum smtp_reply_id r;
		const char *addr;
		bool smtputf8, requiretls;
	} cases[] = {
	    {"FROM:<a@b.c> SMTPUTF8", RPL_OK, "a@b.c", true, false},
	    {"FROM:<a@b.c> smtputf8 REQUIRETLS", RPL_OK, "a@b.c", true, true},
	    {"FROM:<a@b.c> REQUIRETLS", RPL_OK, "a@b.c", false, true},
	    {"FROM:<Caf\xc3\xa9@b.c> SMTPUTF8", RPL_OK, "caf\xc3\xa9@b.c", true, false},
	    {"FROM:<\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80."
	     "\xd1\x80\xd1\x84> "
	     "SMTPUTF8",
	     RPL_OK,
	     "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80."
	     "\xd1\x80\xd1\x84",
	     true, false},
	    {"FROM:<\"caf\xc3\xa9 x\"@b.c> SMTPUTF8", RPL_OK, "\"caf\xc3\xa9 x\"@b.c", true, false},
	    {"FROM:<a@caf\xc3\xa9.example> SMTPUTF8", RPL_OK, "a@caf\xc3\xa9.example", true, false},
	    {"FROM:<a@caf\xc3\xa9.example>", RPL_NEED_SMTPUTF8, "", false, false},
	    {"FROM:<\xe2\x82\xac@b.c> REQUIRETLS", RPL_NEED_SMTPUTF8, "", false, false},
	    /* malformed UTF-8: overlong, truncated, surrogate, past U+10FFFF, lone continuation */
	    {"FROM:<\xc0\xaf@b.c> SMTPUTF8", RPL_BAD_SENDER, "", false, false},
	    {"FROM:<\xe0\x80\xaf@b.c> SMTPUTF8", RPL_BAD_SENDER, "", false, false},
	    {"FROM:<a\xc3@b.c> SMTPUTF8", RPL_BAD_SENDER, "", false, false},
	    {"FROM:<\xed\xa0\x80@b.c> SMTPUTF8", RPL_BAD_SENDER, "", false, false},
	    {"FROM:<\xf4\x90\x80\x80@b.c> SMTPUTF8", RPL_BAD_SENDER, "", false, false},
	    {"FROM:<\x80@b.c> SMTPUTF8", RPL_BAD_SENDER, "", false, false},
	    /* C1 controls U+0080 and U+009F, in the local part and the domain */
	    {"FROM:<a\xc2\x80@b.c> SMTPUTF8", RPL_BAD_SENDER, "", false, false},
	    {"FROM:<a@b\xc2\x9f.c> SMTPUTF8", RPL_BAD_SENDER, "", false, false},
	    {"FROM:<a\xc2\xa0@b.c> SMTPUTF8", RPL_OK, "a\xc2\xa0@b.c", true, false},
	    /* duplicates and values */
	    {"FROM:<a@b.c> SMTPUTF8 SMTPUTF8", RPL_SYNTAX, "", false, false},
	    {"FROM:<a@b.c> REQUIRETLS REQUIRETLS", RPL_SYNTAX, "", false, false},
	    {"FROM:<a@b.c> SMTPUTF8=yes", RPL_SYNTAX, "", false, false},
	    {"FROM:<a@b.c> REQUIRETLS=1", RPL_SYNTAX, "", false, false},
	    {"FROM:<a@b.c> SMTPUTF8X", RPL_PARAM_UNKNOWN, "", false, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char addr[SMTP_PATH_MAX];
		struct smtp_mail_params p;
		enum smtp_reply_id r = smtp_parse_mail(cases[i].args, addr, &p);

		if (r != cases[i].r)
			fail_msg("case %zu \"%s\": got %d want %d", i, cases[i].args, r, cases[i].r);
		if (r == RPL_OK) {
			assert_string_equal(addr, cases[i].addr);
			assert_int_equal(p.smtputf8, cases[i].smtputf8);
			assert_int_equal(p.requiretls, cases[i].requiretls);
		}
	}
}

/* The limits stay in octets with UTF-8 (RFC 6531 3.3 keeps RFC 5321 4.5.3.1). */
static void test_mail_utf8_length(void **state)
{
	char args[600], addr[SMTP_PATH_MAX], local[200];
	struct smtp_mail_params p;

	/* 32 two-octet characters: 64 octets pass, 33 (66 octets) do not */
	for (int i = 0; i < 33; i++)
		memcpy(local + 2 * i, "\xc3\xa9", 2);
	local[64] = '\0';
	snprintf(args, sizeof(args), "FROM:<%s@b.c> SMTPUTF8", local);
	assert_int_equal(smtp_parse_mail(args, addr, &p), RPL_OK);
	local[64] = '\xc3';
	local[66] = '\0';
	snprintf(args, sizeof(args), "FROM:<%s@b.c> SMTPUTF8", local);
	assert_int_equal(smtp_parse_mail(args, addr, &p), RPL_BAD_SENDER);
	/* a U-label of 32 characters is 64 octets: too long for a label */
	snprintf(args, sizeof(args), "FROM:<a@%s.c> SMTPUTF8", local + 2);
	assert_int_equal(smtp_parse_mail(args, addr, &p), RPL_BAD_SENDER);
	assert_true(smtp_parse_is_ascii("a@b.c"));
	assert_false(smtp_parse_is_ascii("caf\xc3\xa9@b.c"));
}

static void test_mail_path_length(void **state)
{
	char args[600], addr[SMTP_PATH_MAX];
	struct smtp_mail_params p;
	char local[70];

	/* A 65-octet local part passes RFC 5321 4.5.3.1.1. */
	memset(local, 'x', 65);
	local[65] = '\0';
	snprintf(args, sizeof(args), "FROM:<%s@b.c>", local);
	assert_int_equal(smtp_parse_mail(args, addr, &p), RPL_BAD_SENDER);
	local[64] = '\0';
	snprintf(args, sizeof(args), "FROM:<%s@b.c>", local);
	assert_int_equal(smtp_parse_mail(args, addr, &p), RPL_OK);
	/* A path longer than 256 octets. */
	memset(args, 'a', sizeof(args));
	memcpy(args, "FROM:<x@", 8);
	memcpy(args + 500, ".com>", 6);
	for (int i = 70; i < 500; i += 60)
		args[i] = '.';
	assert_int_equal(smtp_parse_mail(args, addr, &p), RPL_BAD_SENDER);
}

static void test_rcpt(void **state)
{
	static const struct {
		const char *args;
		enum smtp_reply_id r;
		const char *addr;
	} cases[] = {
	    {"TO:<146026322000196@patient.mss.test>", RPL_OK, "146026322000196@patient.mss.test"},
	    {"to:<A@B.C>", RPL_OK, "a@b.c"},
	    {"TO: <a@b.c>  ", RPL_OK, "a@b.c"},
	    {"TO:<>", RPL_BAD_RECIPIENT, ""},
	    {"TO:<postmaster>", RPL_BAD_RECIPIENT, ""},
	    {"TO:a@b.c", RPL_SYNTAX_RCPT, ""},
	    {"FROM:<a@b.c>", RPL_SYNTAX_RCPT, ""},
	    {"TO:<a@b.c> NOTIFY=NEVER", RPL_OK, "a@b.c"},
	    {"TO:<a@b.c> XFOO=1", RPL_PARAM_UNKNOWN, ""},
	    {"TO:<a@b.c> !", RPL_SYNTAX, ""},
	    {"TO:<a@b.c>>", RPL_SYNTAX_RCPT, ""},
	    /* UTF-8 is parsed here; whether the transaction allows it is smtp_txn's check */
	    {"TO:<Jos\xc3\xa9@b.c>", RPL_OK, "jos\xc3\xa9@b.c"},
	    {"TO:<jos\xc3@b.c>", RPL_BAD_RECIPIENT, ""},
	    {"TO:<a\xc2\x85@b.c>", RPL_BAD_RECIPIENT, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char addr[SMTP_PATH_MAX];
		struct dsn_rcpt dsn;
		enum smtp_reply_id r = smtp_parse_rcpt(cases[i].args, addr, &dsn);

		if (r != cases[i].r)
			fail_msg("case %zu \"%s\": got %d want %d", i, cases[i].args, r, cases[i].r);
		if (r == RPL_OK)
			assert_string_equal(addr, cases[i].addr);
	}
}

/* RFC 3461 4.3, 4.4: RET and ENVID on MAIL, each once, named when refused. */
static void test_dsn_mail(void **state)
{
	static const struct {
		const char *args;
		enum smtp_reply_id r;
		enum dsn_ret ret;
		const char *envid;
	} cases[] = {
	    {"FROM:<a@b.c> RET=FULL", RPL_OK, DSN_RET_FULL, ""},
	    {"FROM:<a@b.c> ret=hdrs ENVID=QQ314159", RPL_OK, DSN_RET_HDRS, "QQ314159"},
	    {"FROM:<a@b.c> ENVID=a+2Bb+3Dc+20d", RPL_OK, DSN_RET_NONE, "a+b=c d"},
	    {"FROM:<a@b.c> SIZE=10 ENVID=x RET=HDRS BODY=8BITMIME", RPL_OK, DSN_RET_HDRS, "x"},
	    {"FROM:<a@b.c> RET=HDRS RET=HDRS", RPL_DSN_RET, DSN_RET_NONE, ""},
	    {"FROM:<a@b.c> RET=FULL RET=HDRS", RPL_DSN_RET, DSN_RET_NONE, ""},
	    {"FROM:<a@b.c> RET=BODY", RPL_DSN_RET, DSN_RET_NONE, ""},
	    {"FROM:<a@b.c> RET", RPL_DSN_RET, DSN_RET_NONE, ""},
	    {"FROM:<a@b.c> ENVID=a ENVID=b", RPL_DSN_ENVID, DSN_RET_NONE, ""},
	    {"FROM:<a@b.c> ENVID=", RPL_SYNTAX, DSN_RET_NONE, ""},
	    {"FROM:<a@b.c> ENVID", RPL_DSN_ENVID, DSN_RET_NONE, ""},
	    {"FROM:<a@b.c> ENVID=a=b", RPL_DSN_ENVID, DSN_RET_NONE, ""},
	    {"FROM:<a@b.c> ENVID=a+2", RPL_DSN_ENVID, DSN_RET_NONE, ""},
	    {"FROM:<a@b.c> ENVID=a+2b", RPL_DSN_ENVID, DSN_RET_NONE, ""},     /* hex is upper case */
	    {"FROM:<a@b.c> ENVID=a+0D+0Ab", RPL_DSN_ENVID, DSN_RET_NONE, ""}, /* never a CR LF */
	    {"FROM:<a@b.c> ENVID=+C3+A9", RPL_DSN_ENVID, DSN_RET_NONE, ""},   /* US-ASCII only */
	    {"FROM:<a@b.c> ENVID=123456789012345678901234567890123456789012345678901234567890"
	     "1234567890123456789012345678901234567890",
	     RPL_OK, DSN_RET_NONE,
	     "1234567890123456789012345678901234567890123456789012345678901234567890"
	     "123456789012345678901234567890"},
	    {"FROM:<a@b.c> ENVID=123456789012345678901234567890123456789012345678901234567890"
	     "12345678901234567890123456789012345678901",
	     RPL_DSN_ENVID, DSN_RET_NONE, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char addr[SMTP_PATH_MAX];
		struct smtp_mail_params p;
		enum smtp_reply_id r = smtp_parse_mail(cases[i].args, addr, &p);

		if (r != cases[i].r)
			fail_msg("case %zu \"%s\": got %d want %d", i, cases[i].args, r, cases[i].r);
		if (r == RPL_OK) {
			assert_int_equal(p.dsn.ret, cases[i].ret);
			assert_string_equal(p.dsn.envid, cases[i].envid);
		}
	}
}

/* RFC 3461 4.1, 4.2: NOTIFY and ORCPT on RCPT. */
static void test_dsn_rcpt(void **state)
{
	static const struct {
		const char *args;
		enum smtp_reply_id r;
		unsigned notify;
		const char *orcpt;
	} cases[] = {
	    {"TO:<a@b.c> NOTIFY=SUCCESS", RPL_OK, DSN_NOTIFY_SUCCESS, ""},
	    {"TO:<a@b.c> notify=delay,Failure,SUCCESS", RPL_OK,
	     DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY, ""},
	    {"TO:<a@b.c> NOTIFY=NEVER ORCPT=rfc822;x+2By@b.c", RPL_OK, DSN_NOTIFY_NEVER, "rfc822;x+y@b.c"},
	    {"TO:<a@b.c> ORCPT=RFC822;a@b.c", RPL_OK, 0, "rfc822;a@b.c"},
	    {"TO:<a@b.c> ORCPT=utf-8;d\\x{E9}d@b.c", RPL_OK, 0, "utf-8;d\\x{E9}d@b.c"},
	    {"TO:<a@b.c> NOTIFY=NEVER,SUCCESS", RPL_DSN_NOTIFY, 0, ""},
	    {"TO:<a@b.c> NOTIFY=SUCCESS,SUCCESS", RPL_DSN_NOTIFY, 0, ""},
	    {"TO:<a@b.c> NOTIFY=SUCCESS,", RPL_DSN_NOTIFY, 0, ""},
	    {"TO:<a@b.c> NOTIFY=,SUCCESS", RPL_DSN_NOTIFY, 0, ""},
	    {"TO:<a@b.c> NOTIFY=ALWAYS", RPL_DSN_NOTIFY, 0, ""},
	    {"TO:<a@b.c> NOTIFY", RPL_DSN_NOTIFY, 0, ""},
	    {"TO:<a@b.c> NOTIFY=SUCCESS NOTIFY=FAILURE", RPL_DSN_NOTIFY, 0, ""},
	    {"TO:<a@b.c> ORCPT=a@b.c", RPL_DSN_ORCPT, 0, ""},
	    {"TO:<a@b.c> ORCPT=x400;a@b.c", RPL_DSN_ORCPT, 0, ""},
	    {"TO:<a@b.c> ORCPT=rfc822;", RPL_DSN_ORCPT, 0, ""},
	    {"TO:<a@b.c> ORCPT=rfc822;a+0Ab", RPL_DSN_ORCPT, 0, ""},
	    {"TO:<a@b.c> ORCPT=utf-8;a+b", RPL_DSN_ORCPT, 0, ""},
	    {"TO:<a@b.c> ORCPT=utf-8;a\\x{}b", RPL_DSN_ORCPT, 0, ""},
	    {"TO:<a@b.c> ORCPT=rfc822;a@b.c ORCPT=rfc822;a@b.c", RPL_DSN_ORCPT, 0, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char addr[SMTP_PATH_MAX];
		struct dsn_rcpt dsn;
		enum smtp_reply_id r = smtp_parse_rcpt(cases[i].args, addr, &dsn);

		if (r != cases[i].r)
			fail_msg("case %zu \"%s\": got %d want %d", i, cases[i].args, r, cases[i].r);
		if (r == RPL_OK) {
			assert_int_equal(dsn.notify, cases[i].notify);
			assert_string_equal(dsn.orcpt, cases[i].orcpt);
		}
	}
}

/* ORCPT's whole value is at most 500 characters (RFC 3461 4.2). */
static void test_dsn_orcpt_length(void **state)
{
	char args[700], addr[SMTP_PATH_MAX];
	struct dsn_rcpt dsn;
	size_t n = (size_t)snprintf(args, sizeof(args), "TO:<a@b.c> ORCPT=rfc822;");
	memset(args + n, 'x', 493);
	args[n + 493] = '\0'; /* "rfc822;" and 493: 500 */
	assert_int_equal(smtp_parse_rcpt(args, addr, &dsn), RPL_OK);
	args[n + 493] = 'x';
	args[n + 494] = '\0';
	assert_int_equal(smtp_parse_rcpt(args, addr, &dsn), RPL_DSN_ORCPT);
}

/* The xtext codec both ways (lib/dsn.h), and NOTIFY's defaults. */
static void test_dsn_xtext(void **state)
{
	char out[64];
	assert_int_equal(dsn_xtext_encode("a+b=c d\x7f", out, sizeof(out)), 0);
	assert_string_equal(out, "a+2Bb+3Dc+20d+7F");
	assert_int_equal(dsn_xtext_decode("a+2Bb+3Dc+20d", out, sizeof(out)), 0);
	assert_string_equal(out, "a+b=c d");
	assert_int_equal(dsn_xtext_encode("abcdef", out, 4), -1);
	assert_int_equal(dsn_xtext_decode("abcdef", out, 4), -1);
	assert_true(dsn_notify_wants(0, DSN_NOTIFY_FAILURE));
	assert_true(dsn_notify_wants(0, DSN_NOTIFY_DELAY));
	assert_false(dsn_notify_wants(0, DSN_NOTIFY_SUCCESS));
	assert_false(dsn_notify_wants(DSN_NOTIFY_NEVER, DSN_NOTIFY_FAILURE));
	assert_true(dsn_notify_wants(DSN_NOTIFY_SUCCESS, DSN_NOTIFY_SUCCESS));
	assert_false(dsn_notify_wants(DSN_NOTIFY_SUCCESS, DSN_NOTIFY_FAILURE));
	dsn_notify_format(DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY, out);
	assert_string_equal(out, "SUCCESS,DELAY");
}

static void test_bdat(void **state)
{
	static const char *const bad[] = {
	    "",   "LAST",   "-1", "1x", "1 ", "1  LAST", "1 LASTX", "0x10", "1234567890123456789",
	    " 1", "1\tLAST"};
	uint64_t size;
	bool last;

	assert_int_equal(smtp_parse_bdat("0", &size, &last), 0);
	assert_true(size == 0 && !last);
	assert_int_equal(smtp_parse_bdat("0 LAST", &size, &last), 0);
	assert_true(size == 0 && last);
	assert_int_equal(smtp_parse_bdat("4096 last", &size, &last), 0);
	assert_true(size == 4096 && last);
	assert_int_equal(smtp_parse_bdat("999999999999999999", &size, &last), 0);
	assert_true(size == 999999999999999999ULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(smtp_parse_bdat(bad[i], &size, &last), -1);
}

static void test_helo(void **state)
{
	char out[SMTP_DOMAIN_MAX], longname[300];

	assert_int_equal(smtp_parse_helo("client.example", out), 0);
	assert_string_equal(out, "client.example");
	assert_int_equal(smtp_parse_helo("[127.0.0.1]  ", out), 0);
	assert_string_equal(out, "[127.0.0.1]");
	assert_int_equal(smtp_parse_helo("", out), -1);
	assert_int_equal(smtp_parse_helo("two words", out), -1);
	assert_int_equal(smtp_parse_helo("bad\x01", out), -1);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(smtp_parse_helo(longname, out), -1);
}

static void test_auth(void **state)
{
	char mech[32];
	const char *resp;

	assert_int_equal(smtp_parse_auth("plain AGFAYi5jAHNlY3JldA==", mech, sizeof(mech), &resp), 0);
	assert_string_equal(mech, "PLAIN");
	assert_string_equal(resp, "AGFAYi5jAHNlY3JldA==");
	assert_int_equal(smtp_parse_auth("LOGIN", mech, sizeof(mech), &resp), 0);
	assert_string_equal(resp, "");
	assert_int_equal(smtp_parse_auth("", mech, sizeof(mech), &resp), -1);
	assert_int_equal(smtp_parse_auth("PLAIN a b", mech, sizeof(mech), &resp), -1);
	assert_int_equal(smtp_parse_auth("PL@IN", mech, sizeof(mech), &resp), -1);
}

static void test_mailbox(void **state)
{
	assert_true(smtp_parse_is_mailbox("a.b-c+d@x-y.example"));
	assert_true(smtp_parse_is_mailbox("\"a\\\"b\"@x.example"));
	assert_false(smtp_parse_is_mailbox(".a@x.example"));
	assert_false(smtp_parse_is_mailbox("a.@x.example"));
	assert_false(smtp_parse_is_mailbox("a@x.example."));
	assert_false(smtp_parse_is_mailbox("a@[1.2.3.4"));
	assert_false(smtp_parse_is_mailbox("a@b@c"));
	assert_false(smtp_parse_is_mailbox("\"unterminated@x.example"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verb),
	    cmocka_unit_test(test_mail),
	    cmocka_unit_test(test_mail_path_length),
	    cmocka_unit_test(test_mail_utf8_requiretls),
	    cmocka_unit_test(test_mail_utf8_length),
	    cmocka_unit_test(test_rcpt),
	    cmocka_unit_test(test_dsn_mail),
	    cmocka_unit_test(test_dsn_rcpt),
	    cmocka_unit_test(test_dsn_orcpt_length),
	    cmocka_unit_test(test_dsn_xtext),
	    cmocka_unit_test(test_bdat),
	    cmocka_unit_test(test_helo),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_mailbox),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
