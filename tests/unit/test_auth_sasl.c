/* Unit tests: auth/sasl: the base64 decoder, each mechanism's message parser (tables
 * of input and expected result), the mechanism table, and the exchange driven through
 * a scripted client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth/sasl.h"

#define MSG(s) (const unsigned char *)(s), sizeof(s) - 1

static void test_base64(void **state)
{
	unsigned char out[16];

	assert_int_equal(sasl_b64_decode("QUJD", 4, SASL_B64_STANDARD, out, sizeof(out)), 3);
	assert_string_equal((char *)out, "ABC");
	assert_int_equal(sasl_b64_decode("", 0, SASL_B64_STANDARD, out, sizeof(out)), 0);
	assert_int_equal(out[0], 0);
	assert_int_equal(sasl_b64_decode("QQ==", 4, SASL_B64_STANDARD, out, sizeof(out)), 1);
	/* padding is required in SASL, refused in JWS */
	assert_int_equal(sasl_b64_decode("QQ", 2, SASL_B64_STANDARD, out, sizeof(out)), -1);
	assert_int_equal(sasl_b64_decode("QQ", 2, SASL_B64_URL, out, sizeof(out)), 1);
	assert_int_equal(sasl_b64_decode("QQ==", 4, SASL_B64_URL, out, sizeof(out)), -1);
	/* the two alphabets */
	assert_int_equal(sasl_b64_decode("-_8", 3, SASL_B64_URL, out, sizeof(out)), 2);
	assert_int_equal(sasl_b64_decode("+/8=", 4, SASL_B64_URL, out, sizeof(out)), -1);
	assert_int_equal(sasl_b64_decode("+/8=", 4, SASL_B64_STANDARD, out, sizeof(out)), 2);
	/* garbage, trailing garbage, no room for the NUL */
	assert_int_equal(sasl_b64_decode("not base64!", 11, SASL_B64_STANDARD, out, sizeof(out)), -1);
	assert_int_equal(sasl_b64_decode("QUJD!", 5, SASL_B64_STANDARD, out, sizeof(out)), -1);
	assert_int_equal(sasl_b64_decode("QUJD", 4, SASL_B64_STANDARD, out, 3), -1);
	assert_int_equal(sasl_b64_decode("QUJD", 4, SASL_B64_STANDARD, out, 0), -1);
}

struct parse_case {
	const char *name;
	void (*parse)(const unsigned char *msg, size_t len, struct auth_request *rq);
	const char *msg;
	size_t len;
	enum auth_input input;
	const char *user, *authzid, *secret;
};

#define CASE(n, fn, m, in, u, z, s)                                                                          \
	{                                                                                                    \
		n, fn, m, sizeof(m) - 1, in, u, z, s                                                         \
	}
#define OK AUTH_INPUT_OK
#define BAD AUTH_INPUT_MALFORMED

static const struct parse_case cases[] = {
    /* RFC 4616 PLAIN */
    CASE("plain", sasl_parse_plain, "\0a@b.c\0secret", OK, "a@b.c", "", "secret"),
    CASE("plain authzid", sasl_parse_plain, "a@b.c\0a@b.c\0pw", OK, "a@b.c", "a@b.c", "pw"),
    CASE("plain one field", sasl_parse_plain, "abc", BAD, "", "", ""),
    CASE("plain no password", sasl_parse_plain, "\0user", BAD, "", "", ""),
    CASE("plain empty password", sasl_parse_plain, "\0user\0", BAD, "", "", ""),
    CASE("plain empty user", sasl_parse_plain, "\0\0pw", BAD, "", "", ""),
    CASE("plain extra NUL", sasl_parse_plain, "\0u\0p\0x", BAD, "", "", ""),
    CASE("plain control in user", sasl_parse_plain, "\0u\r\nx\0pw", BAD, "", "", ""),
    CASE("plain empty", sasl_parse_plain, "", BAD, "", "", ""),
    /* LOGIN */
    CASE("login user", sasl_parse_login_user, "a@b.c", OK, "a@b.c", "", ""),
    CASE("login empty user", sasl_parse_login_user, "", BAD, "", "", ""),
    CASE("login NUL in user", sasl_parse_login_user, "a\0b", BAD, "", "", ""),
    /* RFC 4422 appendix A EXTERNAL */
    CASE("external none", sasl_parse_external, "", OK, "", "", ""),
    CASE("external authzid", sasl_parse_external, "dr@x.test", OK, "", "dr@x.test", ""),
    CASE("external NUL", sasl_parse_external, "dr\0x", BAD, "", "", ""),
    /* XOAUTH2 */
    CASE("xoauth2", sasl_parse_xoauth2,
         "user=a@b.c\x01"
         "auth=Bearer tok.en\x01\x01",
         OK, "a@b.c", "", "tok.en"),
    CASE("xoauth2 scheme case", sasl_parse_xoauth2,
         "user=a@b.c\x01"
         "auth=bearer t\x01\x01",
         OK, "a@b.c", "", "t"),
    CASE("xoauth2 no end", sasl_parse_xoauth2,
         "user=a@b.c\x01"
         "auth=Bearer t\x01",
         BAD, "", "", ""),
    CASE("xoauth2 no user", sasl_parse_xoauth2, "auth=Bearer t\x01\x01", BAD, "", "", ""),
    CASE("xoauth2 no auth", sasl_parse_xoauth2, "user=a@b.c\x01\x01", BAD, "", "", ""),
    CASE("xoauth2 basic", sasl_parse_xoauth2,
         "user=a@b.c\x01"
         "auth=Basic dXNlcg==\x01\x01",
         BAD, "", "", ""),
    CASE("xoauth2 empty token", sasl_parse_xoauth2,
         "user=a@b.c\x01"
         "auth=Bearer \x01\x01",
         BAD, "", "", ""),
    CASE("xoauth2 two tokens", sasl_parse_xoauth2,
         "user=a@b.c\x01"
         "auth=Bearer a\x01"
         "auth=Bearer b\x01\x01",
         BAD, "", "", ""),
    CASE("xoauth2 trailing", sasl_parse_xoauth2,
         "user=a@b.c\x01"
         "auth=Bearer t\x01\x01x",
         BAD, "", "", ""),
    CASE("xoauth2 bad key", sasl_parse_xoauth2,
         "user=a@b.c\x01"
         "au th=x\x01"
         "auth=Bearer t\x01\x01",
         BAD, "", "", ""),
    /* RFC 7628 OAUTHBEARER */
    CASE("oauthbearer", sasl_parse_oauthbearer,
         "n,a=a@b.c,\x01"
         "host=mx\x01"
         "port=993\x01"
         "auth=Bearer t\x01\x01",
         OK, "a@b.c", "", "t"),
    CASE("oauthbearer no authzid", sasl_parse_oauthbearer,
         "n,,\x01"
         "auth=Bearer t\x01\x01",
         OK, "", "", "t"),
    CASE("oauthbearer y flag", sasl_parse_oauthbearer,
         "y,,\x01"
         "auth=Bearer t\x01\x01",
         OK, "", "", "t"),
    CASE("oauthbearer escapes", sasl_parse_oauthbearer,
         "n,a=a=2Cb=3Dc@d,\x01"
         "auth=Bearer t\x01\x01",
         OK, "a,b=c@d", "", "t"),
    CASE("oauthbearer bad escape", sasl_parse_oauthbearer,
         "n,a=a=2Xb,\x01"
         "auth=Bearer t\x01\x01",
         BAD, "", "", ""),
    CASE("oauthbearer channel binding", sasl_parse_oauthbearer,
         "p=tls-unique,,\x01"
         "auth=Bearer t\x01\x01",
         BAD, "", "", ""),
    CASE("oauthbearer no gs2", sasl_parse_oauthbearer, "auth=Bearer t\x01\x01", BAD, "", "", ""),
    CASE("oauthbearer no kvsep", sasl_parse_oauthbearer, "n,,auth=Bearer t\x01\x01", BAD, "", "", ""),
    CASE("oauthbearer no auth", sasl_parse_oauthbearer,
         "n,,\x01"
         "host=mx\x01\x01",
         BAD, "", "", ""),
    CASE("oauthbearer dummy", sasl_parse_oauthbearer, "\x01", BAD, "", "", ""),
    CASE("oauthbearer empty", sasl_parse_oauthbearer, "", BAD, "", "", ""),
    CASE("oauthbearer authzid not a=", sasl_parse_oauthbearer,
         "n,b=x,\x01"
         "auth=Bearer t\x01\x01",
         BAD, "", "", ""),
};

static void test_parsers(void **state)
{
	static struct auth_request rq;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];

		memset(&rq, 0, sizeof(rq));
		c->parse((const unsigned char *)c->msg, c->len, &rq);
		if (rq.input != c->input)
			fail_msg("%s: input %d, expected %d", c->name, rq.input, c->input);
		if (c->input != AUTH_INPUT_OK)
			continue;
		if (strcmp(rq.user, c->user) != 0 || strcmp(rq.authzid, c->authzid) != 0 ||
		    strcmp(rq.secret, c->secret) != 0)
			fail_msg("%s: got user \"%s\" authzid \"%s\"", c->name, rq.user, rq.authzid);
	}
}

/* A user name that does not fit is refused, never cut into another name. */
static void test_no_truncation(void **state)
{
	static struct auth_request rq;
	static unsigned char msg[AUTH_TOKEN_MAX * 2];
	size_t n = 0;

	msg[n++] = '\0';
	memset(msg + n, 'a', AUTH_ADDRESS_MAX);
	n += AUTH_ADDRESS_MAX;
	memcpy(msg + n, "\0pw", 3);
	sasl_parse_plain(msg, n + 3, &rq);
	assert_int_equal(rq.input, AUTH_INPUT_MALFORMED);
	assert_string_equal(rq.user, "");
}

/* A token over AUTH_TOKEN_MAX is marked too long and never copied. */
static void test_token_too_long(void **state)
{
	static struct auth_request rq;
	static char msg[AUTH_TOKEN_MAX + 64];
	int n = snprintf(msg, sizeof(msg),
	                 "n,,\x01"
	                 "auth=Bearer ");

	memset(msg + n, 'A', AUTH_TOKEN_MAX + 1);
	n += AUTH_TOKEN_MAX + 1;
	memcpy(msg + n, "\x01\x01", 2);
	sasl_parse_oauthbearer((unsigned char *)msg, (size_t)n + 2, &rq);
	assert_int_equal(rq.input, AUTH_INPUT_TOO_LONG);
	assert_string_equal(rq.secret, "");
	/* exactly at the limit: accepted as input (the token parser judges it) */
	memset(&rq, 0, sizeof(rq));
	memcpy(msg + n - 1, "\x01\x01", 2);
	sasl_parse_oauthbearer((unsigned char *)msg, (size_t)n + 1, &rq);
	assert_int_equal(rq.input, AUTH_INPUT_OK);
	assert_int_equal(strlen(rq.secret), AUTH_TOKEN_MAX);
}

static void test_mechanism_table(void **state)
{
	struct sasl_offer none = {false, false}, all = {true, true};
	struct buf b;

	assert_int_equal(sasl_mech_parse("plain"), AUTH_MECH_PLAIN);
	assert_int_equal(sasl_mech_parse("OAUTHBEARER"), AUTH_MECH_OAUTHBEARER);
	assert_int_equal(sasl_mech_parse("CRAM-MD5"), AUTH_MECH_NONE);
	assert_false(sasl_offered(&none, AUTH_MECH_EXTERNAL));
	assert_false(sasl_offered(&none, AUTH_MECH_XOAUTH2));
	assert_true(sasl_offered(&none, AUTH_MECH_LOGIN));
	buf_init(&b, 256);
	assert_int_equal(sasl_list(&none, " ", &b), 0);
	assert_string_equal(b.data, " PLAIN LOGIN");
	buf_reset(&b);
	assert_int_equal(sasl_list(&all, " AUTH=", &b), 0);
	assert_string_equal(b.data, " AUTH=PLAIN AUTH=LOGIN AUTH=EXTERNAL AUTH=XOAUTH2 AUTH=OAUTHBEARER");
	buf_free(&b);
}

/* ---- the exchange, against a scripted client and a fake verifier ---- */

struct script {
	const char *answers[4]; /* the client's lines, in order */
	int n;
	char challenges[4][160]; /* what the server sent */
	int nch;
	struct auth_request seen; /* what the verifier was asked */
	int verified;
	enum auth_result result;
};

static int script_challenge(void *arg, const char *b64, struct buf *line)
{
	struct script *s = arg;

	if (s->nch < 4)
		snprintf(s->challenges[s->nch++], sizeof(s->challenges[0]), "%s", b64);
	if (s->answers[s->n] == NULL)
		return -1; /* the client went away */
	buf_reset(line);
	assert_int_equal(buf_append_str(line, s->answers[s->n++]), 0);
	return 0;
}

static void script_verify(void *arg, const struct auth_request *rq, struct auth_reply *rp)
{
	struct script *s = arg;

	s->seen = *rq;
	s->verified++;
	rp->result = s->result;
	if (s->result == AUTH_OK)
		snprintf(rp->account, sizeof(rp->account), "%s", rq->user);
}

static enum sasl_outcome run(struct script *s, enum auth_mech m, const char *initial)
{
	static struct auth_request rq;
	struct auth_reply rp;
	struct sasl_io io = {s, script_challenge, script_verify};

	memset(&rq, 0, sizeof(rq));
	return sasl_run(m, initial, &io, &rq, &rp);
}

static void test_exchange(void **state)
{
	struct script s;

	/* PLAIN with an initial response: no challenge at all */
	memset(&s, 0, sizeof(s));
	s.result = AUTH_OK;
	assert_int_equal(run(&s, AUTH_MECH_PLAIN, "AGFAYi5jAHNlY3JldA=="), SASL_OK);
	assert_int_equal(s.nch, 0);
	assert_string_equal(s.seen.user, "a@b.c");
	/* PLAIN without: one empty challenge */
	memset(&s, 0, sizeof(s));
	s.answers[0] = "AGFAYi5jAHNlY3JldA==";
	assert_int_equal(run(&s, AUTH_MECH_PLAIN, NULL), SASL_OK);
	assert_int_equal(s.nch, 1);
	assert_string_equal(s.challenges[0], "");
	/* LOGIN: Username:, Password: */
	memset(&s, 0, sizeof(s));
	s.answers[0] = "YUBiLmM=";
	s.answers[1] = "c2VjcmV0";
	assert_int_equal(run(&s, AUTH_MECH_LOGIN, NULL), SASL_OK);
	assert_string_equal(s.challenges[0], "VXNlcm5hbWU6");
	assert_string_equal(s.challenges[1], "UGFzc3dvcmQ6");
	assert_string_equal(s.seen.user, "a@b.c");
	/* cancel and bad base64: verified as such (audited and counted there), answered
	 * with their own outcome; gone: never verified */
	memset(&s, 0, sizeof(s));
	s.result = AUTH_FAILED;
	s.answers[0] = "*";
	assert_int_equal(run(&s, AUTH_MECH_LOGIN, NULL), SASL_CANCELLED);
	assert_int_equal(s.verified, 1);
	assert_int_equal(s.seen.input, AUTH_INPUT_CANCELLED);
	assert_int_equal(run(&s, AUTH_MECH_PLAIN, "!!!notbase64"), SASL_MALFORMED);
	assert_int_equal(s.verified, 2);
	assert_int_equal(s.seen.input, AUTH_INPUT_MALFORMED);
	/* ... unless that count reached the lockout */
	s.result = AUTH_LOCKED;
	assert_int_equal(run(&s, AUTH_MECH_PLAIN, "!!!notbase64"), SASL_LOCKED);
	assert_int_equal(run(&s, AUTH_MECH_PLAIN, NULL), SASL_GONE);
	assert_int_equal(s.verified, 3);
	/* "=" is the empty initial response: a malformed PLAIN message, verified (and
	 * refused there, so that it is counted and audited) */
	memset(&s, 0, sizeof(s));
	s.result = AUTH_FAILED;
	assert_int_equal(run(&s, AUTH_MECH_PLAIN, "="), SASL_FAILED);
	assert_int_equal(s.verified, 1);
	assert_int_equal(s.seen.input, AUTH_INPUT_MALFORMED);
	/* the secret never outlives the exchange */
	assert_string_equal(s.seen.secret, "");
}

/* RFC 7628 3.2.2: a refused token gets the JSON error challenge, then the client's
 * dummy response, then the failure. */
static void test_oauth_error_challenge(void **state)
{
	struct script s;
	unsigned char json[128];

	memset(&s, 0, sizeof(s));
	s.result = AUTH_FAILED;
	s.answers[0] = "AQ==";
	/* "n,,^Aauth=Bearer x^A^A" */
	assert_int_equal(run(&s, AUTH_MECH_OAUTHBEARER, "biwsAWF1dGg9QmVhcmVyIHgBAQ=="), SASL_FAILED);
	assert_int_equal(s.nch, 1);
	assert_true(sasl_b64_decode(s.challenges[0], strlen(s.challenges[0]), SASL_B64_STANDARD, json,
	                            sizeof(json)) > 0);
	assert_non_null(strstr((char *)json, "\"status\":\"invalid_token\""));
	/* the client left instead of answering */
	memset(&s, 0, sizeof(s));
	s.result = AUTH_FAILED;
	assert_int_equal(run(&s, AUTH_MECH_XOAUTH2, "dXNlcj1hQGIuYwFhdXRoPUJlYXJlciB4AQE="), SASL_GONE);
	/* a token over 16 KiB: refused as too long, through the verifier (counted, audited) */
	{
		static char msg[AUTH_TOKEN_MAX + 64], b64[SASL_LINE_MAX];
		int n = snprintf(msg, sizeof(msg),
		                 "user=a@b.c\x01"
		                 "auth=Bearer ");

		memset(msg + n, 'A', AUTH_TOKEN_MAX + 1);
		n += AUTH_TOKEN_MAX + 1;
		memcpy(msg + n, "\x01\x01", 2);
		assert_int_equal(sasl_b64_encode(msg, (size_t)n + 2, b64, sizeof(b64)), 0);
		memset(&s, 0, sizeof(s));
		s.result = AUTH_FAILED;
		s.answers[0] = "";
		assert_int_equal(run(&s, AUTH_MECH_XOAUTH2, b64), SASL_FAILED);
		assert_int_equal(s.seen.input, AUTH_INPUT_TOO_LONG);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_parsers),
	    cmocka_unit_test(test_no_truncation),
	    cmocka_unit_test(test_token_too_long),
	    cmocka_unit_test(test_mechanism_table),
	    cmocka_unit_test(test_exchange),
	    cmocka_unit_test(test_oauth_error_challenge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
