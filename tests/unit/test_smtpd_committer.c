/* test_smtpd_committer: the committer's frames (committer_msg.c): a request and an
 * answer read back as written, the session's kept audit records carried with their
 * times and forgotten on demand (audit_defer_at, audit_deferred_drop), and every
 * malformed frame refused (cut anywhere, a NUL in a text, a text too long for its
 * field, a count beyond what the frame holds, bytes after the end, a patient's copy
 * with an unknown reason or flag). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit/audit.h"
#include "lib/buf.h"
#include "smtpd/committer_msg.h"

static const char *const RCPTS[] = {"dr.a@pro.test", "p.b@patient.test"};
static const char DATA[] = "From: dr.x@op.test\r\n\r\nHello\r\n";
/* the session's copies: none for the professional, the patient's withholds part 2 */
static enum vault_withhold PARTS[] = {VW_KEEP, VW_KEEP, VW_INVISIBLE};
static const struct vault_copy_plan COPIES[] = {
    {0}, {.parts = PARTS, .nparts = 3, .strip_prefix = true, .invisible = 1}};

static struct policy_sender sender(void)
{
	struct policy_sender s;
	memset(&s, 0, sizeof s);
	s.auth = SENDER_OPERATOR;
	strcpy(s.peer_ip, "192.0.2.7");
	strcpy(s.tls_subject_dn, "CN=mx.op.test,O=Op,C=FR");
	strcpy(s.listener, "smtp");
	strcpy(s.listed_domain, "op.test");
	s.password_stamp[3] = 0x5a;
	strcpy(s.rows.address, "not carried"); /* the committer reads the rows again */
	return s;
}

/* A request of two recipients with DSN, and two kept records (times 100 and 200). */
static void request(struct buf *out)
{
	struct policy_sender s = sender();
	struct dsn_mail dsn = {.ret = DSN_RET_HDRS};
	struct dsn_rcpt rd[2] = {{.notify = 3}, {.notify = 0}};
	strcpy(dsn.envid, "env-1");
	strcpy(rd[0].orcpt, "rfc822;dr.a@pro.test");
	struct audit_event ev = {"CN=mx",     "operator", "smtp.mail", "dr.x@op.test",
	                         "reason=ok", "ok",       "192.0.2.7", ""};
	audit_deferred_drop();
	audit_defer_at(&ev, 100);
	ev.action = "smtp.rcpt";
	ev.patient = NULL; /* kept as "" */
	audit_defer_at(&ev, 200);
	buf_init(out, BUF_UNLIMITED);
	committer_req_write(out, "Q1234", &s, "dr.x@op.test", &dsn, RCPTS, rd, COPIES, 2, DATA,
	                    sizeof DATA - 1);
}

static void test_request_read_back(void **state)
{
	(void)state;
	struct buf b;
	struct committer_req r;
	char err[128];
	request(&b);
	assert_int_equal(committer_frame_len((const uint8_t *)b.data), b.len - COMMITTER_FRAME_HEAD);
	assert_int_equal(committer_req_parse((const uint8_t *)b.data + 4, b.len - 4, &r, err, sizeof err), 0);
	assert_string_equal(r.queue_id, "Q1234");
	assert_int_equal(r.sender.auth, SENDER_OPERATOR);
	assert_string_equal(r.sender.tls_subject_dn, "CN=mx.op.test,O=Op,C=FR");
	assert_string_equal(r.sender.listed_domain, "op.test");
	assert_int_equal(r.sender.password_stamp[3], 0x5a);
	assert_string_equal(r.sender.rows.address, "");
	assert_string_equal(r.mail_from, "dr.x@op.test");
	assert_int_equal(r.dsn.ret, DSN_RET_HDRS);
	assert_string_equal(r.dsn.envid, "env-1");
	assert_int_equal(r.nrcpt, 2);
	assert_string_equal(r.rcpts[1], "p.b@patient.test");
	assert_non_null(r.rcpt_dsn);
	assert_int_equal(r.rcpt_dsn[0].notify, 3);
	assert_string_equal(r.rcpt_dsn[0].orcpt, "rfc822;dr.a@pro.test");
	assert_int_equal(r.copies[0].nparts, 0);
	assert_false(r.copies[0].whole || r.copies[0].strip_prefix || r.copies[0].invisible);
	assert_true(vault_copy_same(&r.copies[1], &COPIES[1]));
	assert_int_equal(r.copies[1].invisible, 1);
	assert_int_equal(r.copies[1].parts[2], VW_INVISIBLE);
	assert_int_equal(r.nkept, 2);
	assert_int_equal(r.kept[0].when, 100);
	assert_int_equal(r.kept[1].when, 200);
	assert_string_equal(r.kept[1].f[2], "smtp.rcpt");
	assert_string_equal(r.kept[1].f[7], "");
	assert_int_equal(r.len, sizeof DATA - 1);
	assert_memory_equal(r.data, DATA, r.len);
	committer_req_free(&r);
	buf_free(&b);
	/* the session's records stay until it is told they were committed */
	assert_int_equal(audit_deferred_count(), 2);
	audit_deferred_drop();
	assert_int_equal(audit_deferred_count(), 0);
}

static void test_without_dsn_or_records(void **state)
{
	(void)state;
	struct policy_sender s = sender();
	struct buf b;
	struct committer_req r;
	char err[128];
	audit_deferred_drop();
	buf_init(&b, BUF_UNLIMITED);
	committer_req_write(&b, "Q2", &s, "", NULL, RCPTS, NULL, COPIES, 1, "", 0);
	assert_int_equal(committer_req_parse((const uint8_t *)b.data + 4, b.len - 4, &r, err, sizeof err), 0);
	assert_null(r.rcpt_dsn);
	assert_int_equal(r.nkept, 0);
	assert_int_equal(r.dsn.ret, DSN_RET_NONE);
	assert_string_equal(r.mail_from, "");
	assert_int_equal(r.len, 0);
	committer_req_free(&r);
	buf_free(&b);
}

/* Every cut of a whole request is refused, and nothing leaks (the sanitizer build). */
static void test_every_cut_refused(void **state)
{
	(void)state;
	struct buf b;
	struct committer_req r;
	char err[128];
	request(&b);
	audit_deferred_drop();
	for (size_t n = 0; n < b.len - 4; n++)
		assert_int_equal(committer_req_parse((const uint8_t *)b.data + 4, n, &r, err, sizeof err),
		                 -1);
	/* and a byte more than the frame */
	buf_put_char(&b, 'x');
	assert_int_equal(committer_req_parse((const uint8_t *)b.data + 4, b.len - 4, &r, err, sizeof err),
	                 -1);
	buf_free(&b);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void test_bad_fields_refused(void **state)
{
	(void)state;
	struct buf b;
	struct committer_req r;
	char err[128];
	request(&b);
	audit_deferred_drop();
	uint8_t *body = (uint8_t *)b.data + 4;
	size_t n = b.len - 4;
	/* the magic and version */
	body[2] ^= 1;
	assert_int_equal(committer_req_parse(body, n, &r, err, sizeof err), -1);
	body[2] ^= 1;
	/* a NUL inside the queue id (its text starts after the 4-octet magic and length) */
	body[8] = '\0';
	assert_int_equal(committer_req_parse(body, n, &r, err, sizeof err), -1);
	body[8] = 'Q';
	/* a queue id longer than its field: the length says 16 */
	put32(body + 4, 16);
	assert_int_equal(committer_req_parse(body, n, &r, err, sizeof err), -1);
	put32(body + 4, 5);
	/* an unknown way of proving the sender */
	put32(body + 13, 99);
	assert_int_equal(committer_req_parse(body, n, &r, err, sizeof err), -1);
	put32(body + 13, SENDER_OPERATOR);
	assert_int_equal(committer_req_parse(body, n, &r, err, sizeof err), 0);
	committer_req_free(&r);
	buf_free(&b);
	/* a recipient count the frame cannot hold */
	struct policy_sender s = sender();
	buf_init(&b, BUF_UNLIMITED);
	committer_req_write(&b, "Q3", &s, "a@b", NULL, RCPTS, NULL, COPIES, 1, "x", 1);
	body = (uint8_t *)b.data + 4;
	const uint8_t one[4] = {0, 0, 0, 1};
	/* the recipients' head: no DSN (0), one recipient (1), then "dr.a@pro.test"'s length */
	static const uint8_t head[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 13};
	uint8_t *count = NULL;
	for (size_t i = 4; count == NULL && i + sizeof head <= b.len - 4; i++)
		if (memcmp(body + i, head, sizeof head) == 0)
			count = body + i;
	assert_non_null(count);
	assert_memory_equal(count + 4, one, 4);
	put32(count + 4, 0x7fffffff);
	assert_int_equal(committer_req_parse(body, b.len - 4, &r, err, sizeof err), -1);
	put32(count + 4, 0); /* and none at all */
	assert_int_equal(committer_req_parse(body, b.len - 4, &r, err, sizeof err), -1);
	buf_free(&b);
}

/* The patient's copy as the request carries it: whole 0, prefix 1, counts 1 0 0, three
 * parts (keep, keep, invisible). A reason or a flag the committer does not know, or
 * more parts than the frame holds, refuses the request: the committer builds no copy
 * from a guess. */
static void test_bad_copies_refused(void **state)
{
	(void)state;
	struct buf b;
	struct committer_req r;
	char err[128];
	request(&b);
	audit_deferred_drop();
	uint8_t *body = (uint8_t *)b.data + 4;
	size_t n = b.len - 4;
	static const uint8_t copy[27] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0,           0,
	                                 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, VW_INVISIBLE};
	uint8_t *at = NULL;
	for (size_t i = 0; at == NULL && i + sizeof copy <= n; i++)
		if (memcmp(body + i, copy, sizeof copy) == 0)
			at = body + i;
	assert_non_null(at);
	at[26] = VW_UNINSPECTED + 1; /* a reason unknown */
	assert_int_equal(committer_req_parse(body, n, &r, err, sizeof err), -1);
	at[26] = VW_UNINSPECTED;
	assert_int_equal(committer_req_parse(body, n, &r, err, sizeof err), 0);
	assert_int_equal(r.copies[1].parts[2], VW_UNINSPECTED);
	committer_req_free(&r);
	at[3] = 2; /* whole neither 0 nor 1 */
	assert_int_equal(committer_req_parse(body, n, &r, err, sizeof err), -1);
	at[3] = 0;
	put32(at + 20, 0x10000); /* more parts than the frame holds */
	assert_int_equal(committer_req_parse(body, n, &r, err, sizeof err), -1);
	buf_free(&b);
}

static void test_answer_read_back(void **state)
{
	(void)state;
	struct committer_ans a = {.rc = 0, .kept_written = true, .to_file = true, .batch = 7}, back;
	a.st.code = 451;
	strcpy(a.st.enhanced, "4.3.0");
	strcpy(a.st.text, "temporary failure");
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	committer_ans_write(&b, &a);
	assert_int_equal(committer_ans_parse((const uint8_t *)b.data + 4, b.len - 4, &back), 0);
	assert_int_equal(back.rc, 0);
	assert_true(back.kept_written);
	assert_true(back.to_file);
	assert_int_equal(back.batch, 7);
	assert_int_equal(back.st.code, 451);
	assert_string_equal(back.st.enhanced, "4.3.0");
	assert_string_equal(back.st.text, "temporary failure");
	for (size_t n = 0; n < b.len - 4; n++)
		assert_int_equal(committer_ans_parse((const uint8_t *)b.data + 4, n, &back), -1);
	/* a request is no answer */
	buf_reset(&b);
	struct policy_sender s = sender();
	committer_req_write(&b, "Q", &s, "", NULL, RCPTS, NULL, COPIES, 1, "", 0);
	assert_int_equal(committer_ans_parse((const uint8_t *)b.data + 4, b.len - 4, &back), -1);
	buf_free(&b);
}

/* The withdrawal is a frame of its own, told apart from a request's and an answer's
 * first octets. */
static void test_withdrawal(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	committer_withdraw_write(&b);
	assert_int_equal(b.len, COMMITTER_WITHDRAW_LEN);
	assert_true(committer_is_withdraw((const uint8_t *)b.data));
	assert_int_equal(committer_frame_len((const uint8_t *)b.data), COMMITTER_WITHDRAW_LEN - 4);
	struct committer_ans back;
	assert_int_equal(committer_ans_parse((const uint8_t *)b.data + 4, b.len - 4, &back), -1);
	buf_reset(&b);
	struct policy_sender s = sender();
	committer_req_write(&b, "Q", &s, "", NULL, RCPTS, NULL, COPIES, 1, "", 0);
	assert_false(committer_is_withdraw((const uint8_t *)b.data));
	buf_reset(&b);
	struct committer_ans a = {.rc = 0};
	committer_ans_write(&b, &a);
	assert_false(committer_is_withdraw((const uint8_t *)b.data));
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_read_back),  cmocka_unit_test(test_without_dsn_or_records),
	    cmocka_unit_test(test_every_cut_refused),  cmocka_unit_test(test_bad_fields_refused),
	    cmocka_unit_test(test_bad_copies_refused), cmocka_unit_test(test_answer_read_back),
	    cmocka_unit_test(test_withdrawal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
