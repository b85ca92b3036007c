/* smtp_txn.c: the mail transaction: MAIL, RCPT, DATA and delivery.
 *
 * smtpd establishes who the sender is (how the session authenticated, never the MAIL
 * FROM text alone) and asks policy/ about MAIL and each RCPT; after the final dot it
 * hands the whole message to policy_deliver and says 250 only when that returned 0,
 * i.e. when the message is durably stored (fsynced files, committed database). */

#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/str.h"
#include "msg/msg.h"
#include "queue/queue.h"
#include "smtpd/smtp_cmd.h"
#include "smtpd/smtp_data.h"
#include "smtpd/smtp_header.h"
#include "smtpd/smtp_spf.h"
#include "smtpd/committer.h"
#include "smtpd/smtp_success.h"
#include "store/store.h"

/* MX peers: an organisation's certificate makes a relay; any other verified
 * certificate is an operator, whose DN the policy checks against the trust list;
 * without a certificate, relay_networks plus SPF pass makes a relay. */
static void identify_mx_sender(struct smtp_session *s, const char *mail_from)
{
	struct policy_sender *ps = &s->sender;
	char spf[SMTP_SPF_RESULT_SIZE] = "", q[300];
	int pass;

	if (s->cert_mapped && s->cert_account.role == ROLE_ORGANISATION) {
		ps->auth = SENDER_RELAY_CERT;
		str_assert(str_copy(ps->account, sizeof(ps->account), s->cert_account.address),
		           "256 bytes both");
		return;
	}
	if (s->peer.has_cert) {
		ps->auth = SENDER_OPERATOR;
		return;
	}
	ps->auth = SENDER_ANONYMOUS;
	if (!s->cfg->relay_networks[0] || !smtp_net_match(s->cfg->relay_networks, s->peer_ip))
		return;
	pass = smtp_spf_check(s->ctx->spf, s->peer_ip, s->helo, mail_from, spf, sizeof(spf));
	log_info("smtp.spf", "session=%s peer=%s domain=%s result=%s", s->id, s->peer_ip,
	         log_quote(q, sizeof(q), str_address_domain(mail_from)), spf);
	if (pass != 1)
		return;
	/* The domain SPF vouched for: MAIL FROM's, or the HELO name's for <> (RFC 7208 2.4);
	 * the relay may use no other (auth/identity.h). */
	if (str_copy(ps->spf_domain, sizeof(ps->spf_domain),
	             mail_from[0] ? str_address_domain(mail_from) : s->helo) == 0)
		ps->auth = SENDER_RELAY_SPF;
}

static void identify_sender(struct smtp_session *s, const char *mail_from)
{
	struct policy_sender *ps = &s->sender;

	memset(ps, 0, sizeof(*ps));
	str_assert(str_copy(ps->peer_ip, sizeof(ps->peer_ip), s->peer_ip), "64 bytes both");
	str_assert(str_copy(ps->listener, sizeof(ps->listener), s->listener),
	           "smtpd's listener names (\"submissions\" the longest) into 32 bytes");
	if (s->peer.has_cert)
		str_assert(str_copy(ps->tls_subject_dn, sizeof(ps->tls_subject_dn), s->peer.subject_dn),
		           "512 bytes both");
	if (s->kind == SMTP_KIND_MX) {
		identify_mx_sender(s, mail_from);
		return;
	}
	ps->auth = s->auth_kind;
	str_assert(str_copy(ps->account, sizeof(ps->account), s->auth_account.address), "256 bytes both");
	ps->by_password = s->auth_by_password;
	memcpy(ps->password_stamp, s->auth_account.password_stamp, sizeof(ps->password_stamp));
	ps->by_cert = s->auth_by_cert;
	memcpy(ps->cert_stamp, s->auth_account.cert_stamp, sizeof(ps->cert_stamp));
}

static int refuse(struct smtp_session *s, const char *action, const char *target, enum smtp_reply_id id)
{
	struct mss_status st;
	char detail[400];

	smtp_reply_status(id, &st);
	str_assert(str_format(detail, sizeof(detail), "from=<%s> listener=%s", s->in_mail ? s->mail_from : "",
	                      s->listener),
	           "a SMTP_PATH_MAX address and a listener name fit 400 bytes");
	smtp_session_audit(s, action, target, detail, &st);
	return smtp_reply(s, id);
}

/* A policy refusal: the policy audited it already. An internal error (-1) or a status
 * without a refusal code becomes 451 4.3.0, never an accidental acceptance. */
static int policy_refused(struct smtp_session *s, int rc, struct mss_status *st)
{
	if (rc < 0 || st->code < 400)
		smtp_reply_status(RPL_TEMPFAIL, st);
	return smtp_reply_st(s, st);
}

int smtp_cmd_mail(struct smtp_session *s, const char *args)
{
	char from[SMTP_PATH_MAX], q[300];
	struct smtp_mail_params p;
	struct mss_status st;
	enum smtp_reply_id r;
	int rc;

	if (s->in_mail)
		return smtp_reply(s, RPL_NESTED_MAIL);
	r = smtp_parse_mail(args, from, &p);
	if (r != RPL_OK)
		return smtp_reply(s, r);
	/* The policy sees how the session authenticated, not just the MAIL FROM text:
	 * it refuses a submitted address that is not the login's (553 5.7.1). */
	identify_sender(s, from);
	if (p.has_size && p.size > s->cfg->max_message_size)
		return refuse(s, "smtp.mail", from, RPL_SIZE_EXCEEDED); /* RFC 1870 6 */
	memset(&st, 0, sizeof(st));
	rc = policy_check_mail(s->store, &s->sender, from, &st);
	if (rc != 0)
		return policy_refused(s, rc, &st);
	str_assert(str_copy(s->mail_from, sizeof(s->mail_from), from), "SMTP_PATH_MAX both");
	s->in_mail = true;
	s->mail_params = p;
	log_info("smtp.mail", "session=%s from=%s auth=%s%s%s", s->id, log_quote(q, sizeof(q), from),
	         policy_auth_name(s->sender.auth), p.smtputf8 ? " smtputf8=yes" : "",
	         p.requiretls ? " requiretls=yes" : "");
	return smtp_reply(s, RPL_MAIL_OK);
}

static bool has_rcpt(const struct smtp_session *s, const char *rcpt)
{
	for (size_t i = 0; i < s->nrcpt; i++)
		if (strcmp(s->rcpts[i], rcpt) == 0)
			return true;
	return false;
}

/* The recipient's storage quota (quota_storage, the same as IMAP's QUOTA), checked at
 * RCPT with the size MAIL FROM declared (RFC 1870), so the sender learns it before
 * sending the message: 552 5.2.2 when that size alone is larger than the quota (no
 * retry can succeed), 452 4.2.2 when the account's messages plus it would pass the
 * quota (a later try may fit; RFC 5321 4.5.3.1.10 lets the client go on with other
 * recipients). A message sent without SIZE is not checked again after DATA: an
 * account may pass its quota by one message, as with IMAP APPEND's check before the
 * literal. Returns RPL_OK, a refusal, or RPL_TEMPFAIL when the store failed. */
static enum smtp_reply_id quota_verdict(struct smtp_session *s, const char *rcpt)
{
	uint64_t quota = s->cfg->quota_storage, used = 0, messages = 0;
	uint64_t size = s->mail_params.has_size ? s->mail_params.size : 0;
	char err[256];
	if (quota == 0)
		return RPL_OK;
	if (size > quota)
		return RPL_QUOTA_TOO_BIG;
	if (store_quota_usage(s->store, rcpt, &used, &messages, err, sizeof(err)) < 0) {
		log_err("smtp.quota", "session=%s error=\"%s\"", s->id, err);
		return RPL_TEMPFAIL;
	}
	return used >= quota || size > quota - used ? RPL_QUOTA_FULL : RPL_OK;
}

int smtp_cmd_rcpt(struct smtp_session *s, const char *args)
{
	char rcpt[SMTP_PATH_MAX], q[300];
	struct dsn_rcpt dsn;
	struct mss_status st;
	enum smtp_reply_id r;
	int rc;

	r = smtp_parse_rcpt(args, rcpt, &dsn);
	if (r == RPL_OK && !s->mail_params.smtputf8 && !smtp_parse_is_ascii(rcpt))
		r = RPL_NEED_SMTPUTF8; /* RFC 6531 3.3 */
	if (r != RPL_OK)
		return smtp_reply(s, r);
	if (s->rcpt_count >= s->cfg->smtp_max_recipients)
		return smtp_reply(s, RPL_TOO_MANY_RCPTS); /* RFC 5321 4.5.3.1.10 */
	memset(&st, 0, sizeof(st));
	struct policy_rcpt_row row;
	rc = policy_check_rcpt(s->store, &s->sender, s->mail_from, rcpt, &row, &st);
	if (rc != 0)
		return policy_refused(s, rc, &st);
	/* Never an open relay, whatever the policy says: the MX listener takes local
	 * recipients only; submission's remote ones (the policy allowed them into the trust
	 * space) go to the outbound queue at the end of DATA. */
	bool local = config_is_local_domain(s->cfg, str_address_domain(rcpt));
	if (!local && s->kind == SMTP_KIND_MX)
		return refuse(s, "smtp.rcpt", rcpt, RPL_RELAY_DENIED);
	r = local ? quota_verdict(s, rcpt) : RPL_OK;
	if (r != RPL_OK)
		return refuse(s, "smtp.rcpt", rcpt, r);
	s->rcpt_count++;
	if (!has_rcpt(s, rcpt)) { /* a repeated recipient keeps its first DSN parameters */
		s->rcpts = xrealloc(s->rcpts, (s->nrcpt + 1) * sizeof(*s->rcpts));
		s->rcpt_dsn = xrealloc(s->rcpt_dsn, (s->nrcpt + 1) * sizeof(*s->rcpt_dsn));
		s->rcpt_rows = xrealloc(s->rcpt_rows, (s->nrcpt + 1) * sizeof(*s->rcpt_rows));
		s->rcpt_dsn[s->nrcpt] = dsn;
		s->rcpt_rows[s->nrcpt] = row;
		s->rcpts[s->nrcpt++] = xstrdup(rcpt);
	}
	log_info("smtp.rcpt", "session=%s to=%s result=ok", s->id, log_quote(q, sizeof(q), rcpt));
	return smtp_reply(s, RPL_RCPT_OK);
}

/* Reads the message lines into d. Returns 0 when the data ended (with or without a
 * verdict against it), 1 on a bare LF (reply, then close), -1 when the connection is
 * gone or timed out (already handled). */
static int read_data(struct smtp_session *s, struct smtp_data *d)
{
	size_t max = s->cfg->smtp_max_line > 2 ? s->cfg->smtp_max_line - 2 : 998;
	struct buf line;
	enum conn_result r;
	enum smtp_data_step step = SMTP_DATA_MORE;
	int flags = 0, rc = 0;

	buf_init_wiped(&line, max + 16); /* the message's lines (smtp_data_init) */
	conn_set_timeout(s->conn, s->cfg->smtp_data_timeout);
	/* the whole message within smtp_data_timeout, not each read (issue 12) */
	conn_set_deadline(s->conn, s->cfg->smtp_data_timeout);
	while (step == SMTP_DATA_MORE) {
		r = conn_read_line(s->conn, &line, max, &flags);
		if (r == CONN_OK) {
			step = smtp_data_line(d, line.data, line.len, flags);
		} else if (r == CONN_TOOLONG) {
			smtp_data_line_dropped(d, max + 1);
		} else {
			conn_set_deadline(s->conn, 0); /* the reply still goes out */
			if (r == CONN_TIMEOUT)
				smtp_reply(s, RPL_TIMEOUT);
			else if (r == CONN_STOP) /* stopping mid-message: not accepted, the client retries */
				smtp_reply(s, RPL_SHUTDOWN);
			s->closing = true;
			rc = -1;
			break;
		}
	}
	if (step == SMTP_DATA_ABORT)
		rc = 1;
	conn_set_deadline(s->conn, 0);
	conn_set_timeout(s->conn, s->cfg->smtp_command_timeout);
	buf_free(&line);
	return rc;
}

static void make_queue_id(char out[16])
{
	unsigned char r[6];

	randombytes_buf(r, sizeof(r));
	str_hex(out, r, sizeof(r));
	for (char *p = out; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
}

/* The trace fields (Received) go on first, so that the one parse describes the message
 * as it is stored. Returns 0, or -1 after a 451. */
static int add_trace(struct smtp_session *s, struct smtp_data *d, const char *qid)
{
	struct buf hdr;
	struct smtp_trace t;

	t.return_path = s->mail_from;
	t.helo = s->helo;
	t.peer_ip = s->peer_ip;
	t.hostname = s->cfg->hostname;
	t.protocol = smtp_session_protocol(s);
	t.tls_version = s->tls ? s->peer.version : "";
	t.tls_cipher = s->tls ? s->peer.cipher : "";
	t.queue_id = qid;
	t.for_rcpt = s->nrcpt == 1 ? s->rcpts[0] : "";
	t.now = time(NULL);
	buf_init_wiped(&hdr, SMTP_DATA_SLACK);
	/* the usual trace headers' size at once (grown from 64 bytes: twice a message) */
	if (buf_reserve(&hdr, SMTP_TRACE_ROOM) < 0)
		hdr.refused = false;
	if (smtp_data_trace_headers(d, &t, &hdr) < 0 || smtp_data_prepend(d, &hdr) < 0) {
		buf_free(&hdr);
		log_err("smtp.deliver", "session=%s qid=%s result=failed error=\"trace headers\"", s->id,
		        qid);
		smtp_reply(s, RPL_TEMPFAIL);
		return -1;
	}
	buf_free(&hdr);
	return 0;
}

/* Whether the header block of data[0..len) has an octet past ASCII (RFC 6532 header
 * fields; the body's 8-bit content is 8BITMIME's business, not SMTPUTF8's). */
static bool header_has_utf8(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)data[i] >= 0x80)
			return true;
		if (data[i] == '\n' && i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
			return false;
	}
	return false;
}

/* The envelope options the outbound queue keeps (queue.h). SMTPUTF8 only when the
 * message needs it (RFC 6531 3.2: a UTF-8 address or header field), so that an
 * SMTPUTF8 transaction of plain ASCII still goes to a next hop without it. */
static unsigned relay_flags(const struct smtp_session *s, const struct smtp_data *d)
{
	unsigned f = s->mail_params.requiretls ? QUEUE_REQUIRETLS : 0;
	bool utf8 = !smtp_parse_is_ascii(s->mail_from) || header_has_utf8(d->body.data, d->body.len);

	for (size_t i = 0; i < s->nrcpt && !utf8; i++)
		utf8 = !smtp_parse_is_ascii(s->rcpts[i]);
	return f | (s->mail_params.smtputf8 && utf8 ? QUEUE_SMTPUTF8 : 0);
}

/* Whether this session's deliveries to local recipients go to the committer
 * (committer.h): the MX's, and submission's when the sender's account (read at MAIL)
 * is not a patient's. A patient's own deliveries stay here: her profile section sent to
 * herself is read with her account key, which only her session holds (the committer
 * has none). */
static bool batchable(const struct smtp_session *s)
{
	if (s->kind == SMTP_KIND_MX)
		return true;
	const struct sender_rows *r = &s->sender.rows;
	return r->address[0] != '\0' && r->account_rc == 1 && r->account.role != ROLE_PATIENT;
}

/* parsed: the message's one parse, NULL when it has none (the stages then fail closed).
 * Returns 1 when the message was stored (250 queued), else 0 (the refusal queued). */
static int deliver(struct smtp_session *s, struct smtp_data *d, const char *qid, const struct msg *parsed)
{
	char q[300];
	struct mss_status st;
	struct policy_message pm;
	int rc;

	memset(&pm, 0, sizeof(pm));
	pm.sender = &s->sender;
	pm.mail_from = s->mail_from;
	pm.rcpts = (const char *const *)s->rcpts;
	pm.nrcpt = s->nrcpt;
	pm.data = d->body.data;
	pm.len = d->body.len;
	pm.queue_id = qid;
	pm.parsed = parsed;
	pm.relay_flags = relay_flags(s, d);
	pm.dsn = &s->mail_params.dsn;
	pm.rcpt_dsn = s->rcpt_dsn;
	pm.rcpt_rows = s->rcpt_rows; /* what RCPT read: not read again (vault_delivery.h) */
	memset(&st, 0, sizeof(st));
	unsigned batch = 0; /* the deliveries of the committer's transaction; 0: our own */
	if (!batchable(s) || !committer_wanted(s->cfg, &pm) ||
	    committer_deliver(s->store, &pm, &rc, &st, &batch) != 0)
		rc = policy_deliver(s->store, &pm, &st);
	metrics_count1(METRICS_DELIVERIES, rc == 0 ? "stored" : st.code >= 500 ? "refused" : "failed");
	log_info("smtp.deliver", "session=%s qid=%s from=%s nrcpt=%zu size=%zu result=%s batch=%u", s->id,
	         qid, log_quote(q, sizeof(q), s->mail_from), s->nrcpt, d->body.len, rc == 0 ? "ok" : "failed",
	         batch);
	if (rc != 0) {
		if (st.code < 400)
			smtp_reply_status(RPL_TEMPFAIL, &st);
		smtp_reply_st(s, &st);
		return 0;
	}
	s->messages++;
	str_assert(str_format(q, sizeof(q), "Ok: queued as %s", qid), "a 16-byte queue id into 300 bytes");
	smtp_reply_send_line(s->conn, 250, "2.0.0", q, true);
	return 1;
}

/* A shutdown (SIGTERM from the master) waits until the message is stored and the
 * client has its answer, so a stop never cuts a delivery in half nor leaves a stored
 * message unacknowledged (the client would send it twice). */
static void deliver_uninterrupted(struct smtp_session *s, struct smtp_data *d, const char *qid,
                                  const struct msg *parsed)
{
	sigset_t stop, old;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, &old);
	uint64_t t0 = metrics_now_usec();
	int stored = deliver(s, d, qid, parsed);
	conn_flush(s->conn);
	metrics_observe(METRICS_DELIVERY, metrics_now_usec() - t0);
	/* after the client has its 250: a report never delays the acknowledgement */
	if (stored)
		smtp_success_reports(s, d, qid); /* what NOTIFY=SUCCESS asked (RFC 3461) */
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* The message's authors (From, Sender) must be who the sender proved to be: the policy
 * decides with auth/identity.h's rules and audits a refusal. Returns 0 when the message
 * may be delivered, else the refusal was sent. */
static int check_authors(struct smtp_session *s, const struct smtp_data *d, const struct msg *parsed)
{
	struct smtp_header_authors a;
	struct mss_status st;
	int rc;

	smtp_header_authors(parsed, d->body.data, d->body.len, &a);
	memset(&st, 0, sizeof(st));
	rc = policy_check_header(s->store, &s->sender, s->mail_from, &a.ids, &st);
	smtp_header_free(&a);
	if (rc == 0)
		return 0;
	policy_refused(s, rc, &st);
	return -1;
}

/* The end of DATA: one parse of the message (msg/msg.h, as Postfix's cleanup(8) reads a
 * message once), read by the identity check and handed down to every stage of the
 * delivery. */
static void accept_message(struct smtp_session *s, struct smtp_data *d)
{
	char qid[16], perr[160];
	struct msg parsed;
	struct msg_limits lim;
	bool ok;

	make_queue_id(qid);
	if (add_trace(s, d, qid) < 0)
		return;
	msg_limits_from_config(s->cfg, &lim);
	ok = msg_parse(d->body.data, d->body.len, &lim, &parsed, perr, sizeof(perr)) == 0;
	if (check_authors(s, d, ok ? &parsed : NULL) == 0)
		deliver_uninterrupted(s, d, qid, ok ? &parsed : NULL);
	if (ok)
		msg_free(&parsed);
}

/* Records a message smtpd itself did not take (the policy records the others). */
static void audit_data(struct smtp_session *s, const struct smtp_data *d, const struct mss_status *st)
{
	char detail[400], target[SMTP_PATH_MAX + 16];

	str_assert(str_format(target, sizeof(target), "%s%s", s->rcpts[0], s->nrcpt > 1 ? " (+more)" : ""),
	           "a SMTP_PATH_MAX address and 8 bytes into SMTP_PATH_MAX + 16");
	str_assert(str_format(detail, sizeof(detail), "from=<%s> nrcpt=%zu size=%llu listener=%s",
	                      s->mail_from, s->nrcpt, (unsigned long long)d->size, s->listener),
	           "a SMTP_PATH_MAX address, two numbers and a listener name fit 400 bytes");
	smtp_session_audit(s, "smtp.data", target, detail, st);
}

static void data_refused(struct smtp_session *s, const struct smtp_data *d, enum smtp_reply_id id)
{
	struct mss_status st;

	smtp_reply_status(id, &st);
	audit_data(s, d, &st);
	smtp_reply(s, id);
}

/* The client vanished or timed out inside DATA: the transaction is recorded too. */
static void data_abandoned(struct smtp_session *s, const struct smtp_data *d)
{
	struct mss_status st;

	smtp_reply_status(RPL_TIMEOUT, &st);
	str_assert(str_copy(st.text, sizeof(st.text), "connection lost or timed out during DATA"),
	           "a constant into 256 bytes");
	audit_data(s, d, &st);
}

void smtp_txn_end(struct smtp_session *s, struct smtp_data *d)
{
	enum smtp_reply_id verdict = smtp_data_verdict(d);

	if (verdict != RPL_OK)
		data_refused(s, d, verdict);
	else
		accept_message(s, d);
}

int smtp_cmd_data(struct smtp_session *s, const char *args)
{
	struct smtp_data d;
	int rc;

	if (args[0])
		return smtp_reply(s, RPL_NO_ARGS);
	if (s->bdat != NULL)
		return smtp_reply(s, RPL_DATA_AFTER_BDAT);
	smtp_reply(s, RPL_DATA_GO);
	if (conn_flush(s->conn) < 0) {
		s->closing = true;
		return -1;
	}
	smtp_data_init(&d, s->cfg->max_message_size);
	rc = read_data(s, &d);
	if (rc < 0)
		data_abandoned(s, &d);
	if (rc >= 0)
		smtp_txn_end(s, &d);
	smtp_data_free(&d);
	smtp_session_reset_txn(s);
	return rc < 0 ? -1 : 0;
}
