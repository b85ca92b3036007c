/* Unit tests: smtpd command table, EHLO generation, reply table, relay networks, SPF zone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "smtpd/smtp_auth.h"
#include "smtpd/smtp_cmd.h"
#include "smtpd/smtp_metrics.h"
#include "smtpd/smtp_reply.h"
#include "smtpd/smtp_spf.h"

static struct mss_config cfg;
static struct smtpd_ctx ctx;

static void session(struct smtp_session *s, enum smtp_kind kind, bool tls)
{
	memset(s, 0, sizeof(*s));
	config_defaults(&cfg);
	cfg.max_message_size = 26214400;
	ctx.cfg = &cfg;
	ctx.tls = (struct tls_ctx *)&ctx; /* any non-NULL: TLS is configured */
	s->ctx = &ctx;
	s->cfg = &cfg;
	s->kind = kind;
	s->tls = tls;
}

static char *keywords(const struct smtp_session *s)
{
	static char text[1024];
	struct buf b;

	buf_init(&b, sizeof(text) - 1);
	assert_int_equal(smtp_cmd_ehlo_keywords(s, &b), 0);
	memcpy(text, b.data, b.len + 1);
	buf_free(&b);
	return text;
}

static void test_ehlo_mx_before_and_after_tls(void **state)
{
	struct smtp_session s;

	session(&s, SMTP_KIND_MX, false);
	/* RFC 8689 4.1: no REQUIRETLS before TLS */
	assert_string_equal(keywords(&s),
	                    "PIPELINING\nSIZE 26214400\n8BITMIME\nCHUNKING\nENHANCEDSTATUSCODES\n"
	                    "SMTPUTF8\nDSN\nSTARTTLS\n");
	s.tls = true;
	/* No STARTTLS twice, and never AUTH on the MX. */
	assert_string_equal(keywords(&s),
	                    "PIPELINING\nSIZE 26214400\n8BITMIME\nCHUNKING\nENHANCEDSTATUSCODES\n"
	                    "SMTPUTF8\nREQUIRETLS\nDSN\n");
}

/* A list the buffer's limit would cut is refused whole, never advertised in part. */
static void test_ehlo_cut_is_an_error(void **state)
{
	struct smtp_session s;
	struct buf b;

	(void)state;
	session(&s, SMTP_KIND_MX, false);
	buf_init(&b, 20);
	assert_int_equal(smtp_cmd_ehlo_keywords(&s, &b), -1);
	buf_free(&b);
}

static void test_ehlo_submission(void **state)
{
	struct smtp_session s;

	session(&s, SMTP_KIND_SUBMISSION, false);
	/* No AUTH before TLS. */
	assert_null(strstr(keywords(&s), "AUTH"));
	s.tls = true;
	assert_non_null(strstr(keywords(&s), "AUTH PLAIN LOGIN\n"));
	s.cert_mapped = true;
	assert_non_null(strstr(keywords(&s), "AUTH PLAIN LOGIN EXTERNAL\n"));
	s.authenticated = true;
	assert_null(strstr(keywords(&s), "AUTH"));
}

static void test_command_table(void **state)
{
	static const char *const verbs[] = {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA",
	                                    "BDAT", "RSET", "NOOP",     "QUIT", "VRFY", "HELP"};
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		assert_non_null(smtp_cmd_find(verbs[i]));
	assert_null(smtp_cmd_find("EXPN"));
	assert_null(smtp_cmd_find("ehlo"));
	/* What may run before TLS: never a command that carries mail or credentials. */
	assert_false(smtp_cmd_find("MAIL")->flags & CMD_BEFORE_TLS);
	assert_false(smtp_cmd_find("RCPT")->flags & CMD_BEFORE_TLS);
	assert_false(smtp_cmd_find("DATA")->flags & CMD_BEFORE_TLS);
	assert_false(smtp_cmd_find("AUTH")->flags & CMD_BEFORE_TLS);
	assert_true(smtp_cmd_find("STARTTLS")->flags & CMD_BEFORE_TLS);
	assert_true(smtp_cmd_find("MAIL")->flags & CMD_NEEDS_AUTH);
	/* RFC 2920 3.1: these end a pipelined group. */
	assert_true(smtp_cmd_find("DATA")->flags & CMD_ENDS_GROUP);
	assert_true(smtp_cmd_find("EHLO")->flags & CMD_ENDS_GROUP);
	assert_true(smtp_cmd_find("QUIT")->flags & CMD_ENDS_GROUP);
	assert_false(smtp_cmd_find("RCPT")->flags & CMD_ENDS_GROUP);
}

static void test_reply_table(void **state)
{
	for (int id = 0; id < RPL_COUNT; id++) {
		const struct smtp_reply *r = smtp_reply_get((enum smtp_reply_id)id);

		assert_true(r->code >= 200 && r->code < 600);
		assert_non_null(r->text);
		assert_true(r->text[0] != '\0');
		/* smtp_reply_status copies them into a struct mss_status, str_assert'ed */
		assert_true(strlen(r->text) < sizeof(((struct mss_status *)0)->text));
		assert_true(strlen(r->enhanced) < sizeof(((struct mss_status *)0)->enhanced));
		/* RFC 3463: the enhanced class matches the basic class. */
		if (r->code != 354 && r->code != 334) {
			assert_int_equal(r->enhanced[0] - '0', r->code / 100);
		}
	}
	assert_int_equal(smtp_reply_get(RPL_SIZE_EXCEEDED)->code, 552);
	assert_string_equal(smtp_reply_get(RPL_SIZE_EXCEEDED)->enhanced, "5.3.4");
	assert_int_equal(smtp_reply_get(RPL_TLS_REQUIRED)->code, 530);
	assert_string_equal(smtp_reply_get(RPL_TLS_REQUIRED)->enhanced, "5.7.0");
	assert_true(smtp_reply_closes(RPL_TIMEOUT));
	assert_true(smtp_reply_closes(RPL_BARE_LF));
	assert_false(smtp_reply_closes(RPL_LINE_TOO_LONG));
}

static void test_net_match(void **state)
{
	assert_true(smtp_net_match("127.0.0.0/8", "127.0.0.1"));
	assert_true(smtp_net_match("10.0.0.0/8, 192.0.2.7", "192.0.2.7"));
	assert_false(smtp_net_match("10.0.0.0/8, 192.0.2.7", "192.0.2.8"));
	assert_true(smtp_net_match("192.0.2.128/25", "192.0.2.200"));
	assert_false(smtp_net_match("192.0.2.128/25", "192.0.2.100"));
	assert_true(smtp_net_match("2001:db8::/32", "2001:db8:1::5"));
	assert_false(smtp_net_match("2001:db8::/32", "2001:db9::5"));
	assert_true(smtp_net_match("0.0.0.0/0", "203.0.113.9"));
	assert_false(smtp_net_match("bogus, 10.0.0.0/33", "10.0.0.1"));
	assert_false(smtp_net_match("", "10.0.0.1"));
	assert_false(smtp_net_match("10.0.0.0/8", "not-an-ip"));
}

static void test_spf_zone(void **state)
{
	char path[] = "/tmp/test_smtpd_spf_XXXXXX", err[256], res[32];
	int fd = mkstemp(path);
	struct smtp_spf *spf;
	static const char zone[] = "# test zone\n"
	                           "relay.test TXT \"v=spf1 ip4:127.0.0.1 -all\"\n"
	                           "soft.test TXT v=spf1 ~all\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, zone, sizeof(zone) - 1), (ssize_t)(sizeof(zone) - 1));
	close(fd);
	spf = smtp_spf_new(path, err, sizeof(err));
	assert_non_null(spf);
	/* Loopback gets no free pass: only the record decides. */
	assert_int_equal(smtp_spf_check(spf, "127.0.0.1", "h", "a@relay.test", res, sizeof(res)), 1);
	assert_string_equal(res, "pass");
	assert_int_equal(smtp_spf_check(spf, "127.0.0.2", "h", "a@relay.test", res, sizeof(res)), 0);
	assert_string_equal(res, "fail");
	assert_int_equal(smtp_spf_check(spf, "127.0.0.1", "h", "a@soft.test", res, sizeof(res)), 0);
	assert_string_equal(res, "softfail");
	assert_int_equal(smtp_spf_check(spf, "127.0.0.1", "h", "a@absent.test", res, sizeof(res)), 0);
	assert_int_equal(smtp_spf_check(spf, "192.0.2.1", "h", "a@relay.test", res, sizeof(res)), 0);
	smtp_spf_free(spf);
	unlink(path);

	/* A bad line names the file and the line. */
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a.test TXT v=spf1 -all\nb.test BOGUS x\n", 38), 38);
	close(fd);
	assert_null(smtp_spf_new(path, err, sizeof(err)));
	assert_non_null(strstr(err, ":2: unknown record type"));
	unlink(path);
}

/* Every refusal has a metrics reason (a new 4xx/5xx row without one fails here), made
 * of lower-case letters, digits and '_' only, and no two rows share one. */
static void test_refusal_reasons(void **state)
{
	(void)state;
	for (int i = 0; i < RPL_COUNT; i++) {
		const char *r = smtp_metrics_reason((enum smtp_reply_id)i);
		if (smtp_reply_get((enum smtp_reply_id)i)->code < 400) {
			assert_null(r);
			continue;
		}
		assert_non_null(r);
		assert_int_equal(strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789_"), strlen(r));
		for (int j = 0; j < i; j++) {
			const char *o = smtp_metrics_reason((enum smtp_reply_id)j);
			assert_true(o == NULL || strcmp(o, r) != 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ehlo_mx_before_and_after_tls),
	    cmocka_unit_test(test_ehlo_submission),
	    cmocka_unit_test(test_ehlo_cut_is_an_error),
	    cmocka_unit_test(test_command_table),
	    cmocka_unit_test(test_reply_table),
	    cmocka_unit_test(test_refusal_reasons),
	    cmocka_unit_test(test_net_match),
	    cmocka_unit_test(test_spf_zone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
