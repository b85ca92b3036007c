/* smtp_session.c: the conversation loop, STARTTLS, and the session's helpers.
 *
 * Limits live in the reader: every command line goes through conn_read_line with the
 * line limit and the command timeout, and "too long", "bare LF", "NUL", EOF and
 * timeout are handled here once; handlers only ever see a clean command line. */

#include "smtpd/smtp_session.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "smtpd/smtp_auth.h"
#include "smtpd/smtp_cmd.h"
#include "smtpd/smtp_data.h"
#include "smtpd/smtp_metrics.h"
#include "store/store.h"

int smtp_reply(struct smtp_session *s, enum smtp_reply_id id)
{
	const struct smtp_reply *r = smtp_reply_get(id);

	/* "Too many recipients" is the client's normal way to learn the limit
	 * (RFC 5321 4.5.3.1.10), not an error to count. */
	if (r->code >= 400 && id != RPL_TOO_MANY_RCPTS && id != RPL_QUOTA_FULL && id != RPL_QUOTA_TOO_BIG)
		s->errors++;
	if (r->code >= 400)
		smtp_metrics_refusal(id);
	if (smtp_reply_closes(id))
		s->closing = true;
	return smtp_reply_send(s->conn, id);
}

int smtp_reply_st(struct smtp_session *s, const struct mss_status *st)
{
	if (st->code >= 400) {
		s->errors++;
		smtp_metrics_refusal_status(st);
	}
	if (st->code == 421)
		s->closing = true;
	return smtp_reply_send_status(s->conn, st);
}

void smtp_session_reset_txn(struct smtp_session *s)
{
	char err[256];
	/* A transaction that ended without a delivery: the records of its accepted MAIL
	 * and RCPTs, kept for the delivery's commit (audit.h), are written now. */
	if (s->store != NULL && audit_flush(s->store, err, sizeof err) != 0)
		log_err("smtp.audit", "session=%s action=flush result=failed error=\"%s\"", s->id, err);
	for (size_t i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	free(s->rcpt_dsn);
	free(s->rcpt_rows);
	s->rcpts = NULL;
	s->rcpt_dsn = NULL;
	s->rcpt_rows = NULL;
	s->nrcpt = 0;
	s->rcpt_count = 0;
	if (s->bdat != NULL) {
		smtp_data_free(s->bdat);
		free(s->bdat);
		s->bdat = NULL;
	}
	s->in_mail = false;
	s->mail_from[0] = '\0';
	memset(&s->mail_params, 0, sizeof(s->mail_params));
	memset(&s->sender, 0, sizeof(s->sender));
}

void smtp_session_reset_after_tls(struct smtp_session *s)
{
	/* RFC 3207 4.2: the server MUST discard any knowledge obtained from the client
	 * before the TLS negotiation. */
	smtp_session_reset_txn(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->authenticated = false;
	memset(&s->auth_account, 0, sizeof(s->auth_account));
	s->cert_mapped = false;
	memset(&s->cert_account, 0, sizeof(s->cert_account));
}

const char *smtp_session_protocol(const struct smtp_session *s)
{
	if (!s->esmtp)
		return "SMTP";
	/* RFC 6531 3.7.3: the UTF8SMTP family names an SMTPUTF8 transaction */
	if (s->in_mail && s->mail_params.smtputf8) {
		if (s->tls)
			return s->authenticated ? "UTF8SMTPSA" : "UTF8SMTPS";
		return s->authenticated ? "UTF8SMTPA" : "UTF8SMTP";
	}
	if (s->tls)
		return s->authenticated ? "ESMTPSA" : "ESMTPS";
	return s->authenticated ? "ESMTPA" : "ESMTP";
}

void smtp_session_audit(struct smtp_session *s, const char *action, const char *target, const char *detail,
                        const struct mss_status *st)
{
	struct audit_event ev;
	char result[320], err[256];
	const char *actor = s->sender.account[0]          ? s->sender.account
	                    : s->authenticated            ? s->auth_account.address
	                    : s->sender.tls_subject_dn[0] ? s->sender.tls_subject_dn
	                                                  : "anonymous";

	str_assert(str_format(result, sizeof(result), "refused: %d %s %s", st->code, st->enhanced, st->text),
	           "a code, the 12-byte enhanced code and the 256-byte text fit 320 bytes");
	memset(&ev, 0, sizeof(ev));
	ev.actor = actor;
	ev.auth = s->authenticated ? policy_auth_name(s->auth_kind) : policy_auth_name(s->sender.auth);
	ev.action = action;
	ev.target = target;
	ev.detail = detail;
	ev.result = result;
	ev.peer = s->peer_ip;
	ev.patient = "";
	if (s->store == NULL || audit_append(s->store, &ev, err, sizeof(err)) < 0)
		log_err("smtp.audit", "session=%s action=%s result=failed error=\"%s\"", s->id, action,
		        s->store ? err : "no store");
}

enum conn_result smtp_session_challenge(struct smtp_session *s, const char *b64, struct buf *line)
{
	size_t max = SASL_LINE_MAX;
	enum conn_result r;
	int flags = 0;

	if (max > line->limit)
		max = line->limit;
	conn_printf(s->conn, "334 %s\r\n", b64);
	if (conn_flush(s->conn) < 0) {
		s->closing = true;
		return CONN_ERROR;
	}
	conn_set_deadline(s->conn, s->cfg->smtp_command_timeout);
	r = conn_read_line(s->conn, line, max, &flags);
	conn_set_deadline(s->conn, 0);
	if (r == CONN_TIMEOUT)
		smtp_reply(s, RPL_TIMEOUT);
	if (r == CONN_STOP)
		smtp_reply(s, RPL_SHUTDOWN);
	if (r == CONN_EOF || r == CONN_ERROR || r == CONN_TIMEOUT || r == CONN_STOP) {
		if (r == CONN_STOP)
			r = CONN_EOF;
		s->closing = true;
		return r;
	}
	if (r == CONN_TOOLONG || (flags & (CONN_LINE_BARE_LF | CONN_LINE_NUL)))
		return CONN_TOOLONG;
	return CONN_OK;
}

/* Runs the TLS handshake (STARTTLS or implicit) and records the verified peer. */
static int start_tls(struct smtp_session *s)
{
	char err[256], dn[600];

	conn_set_timeout(s->conn, s->cfg->tls_handshake_timeout);
	if (conn_start_tls(s->conn, s->ctx->tls, err, sizeof(err)) < 0) {
		log_warn("smtp.tls", "session=%s peer=%s result=failed error=\"%s\"", s->id, s->peer_ip, err);
		return -1;
	}
	conn_set_timeout(s->conn, s->cfg->smtp_command_timeout);
	s->tls = true;
	s->peer = *conn_tls_peer(s->conn);
	log_info("smtp.tls", "session=%s peer=%s version=%s cipher=%s resumed=%s client_cert=%s subject=%s",
	         s->id, s->peer_ip, s->peer.version, s->peer.cipher, s->peer.resumed ? "yes" : "no",
	         s->peer.has_cert ? "verified" : "none", log_quote(dn, sizeof(dn), s->peer.subject_dn));
	return 0;
}

int smtp_cmd_starttls(struct smtp_session *s, const char *args)
{
	if (args[0])
		return smtp_reply(s, RPL_NO_ARGS);
	if (s->tls)
		return smtp_reply(s, RPL_TLS_ACTIVE);
	if (s->ctx->tls == NULL)
		return smtp_reply(s, RPL_TLS_UNAVAILABLE);
	smtp_reply(s, RPL_STARTTLS_GO);
	/* conn_start_tls drops whatever the client sent after STARTTLS in the clear
	 * (CVE-2011-0411), so injected commands are never run inside TLS. */
	if (conn_flush(s->conn) < 0 || start_tls(s) < 0) {
		s->closing = true;
		return -1;
	}
	smtp_session_reset_after_tls(s);
	smtp_auth_map_certificate(s);
	return 0;
}

/* A line past the limit. RFC 4954 4 lets an AUTH command carry an initial response
 * beyond the usual limit (an OAuth token is often longer than 1000 octets), up to
 * SASL_LINE_MAX; every other command keeps smtp_max_line. */
static bool line_too_long(const struct smtp_session *s, const struct buf *line, size_t max)
{
	return line->len > max && !str_iprefix(line->data, "AUTH ");
}

/* A command line the pre-login process read for its session process goes back, whole,
 * to be relayed first (conn_read_line took its CRLF; a line with a bare LF or a NUL
 * never gets here). */
static void give_back(struct smtp_session *s, const struct buf *line)
{
	conn_unread(s->conn, "\r\n", 2);
	conn_unread(s->conn, line->data, line->len);
}

void smtp_session_loop(struct smtp_session *s)
{
	size_t max = s->cfg->smtp_max_line > 2 ? s->cfg->smtp_max_line - 2 : 998;
	size_t read_max = max > SASL_LINE_MAX + 64 ? max : SASL_LINE_MAX + 64;
	struct buf line;
	enum conn_result r;
	int flags;

	buf_init_wiped(&line, read_max + 16); /* the commands (AUTH's token) of a peer */
	while (!s->closing && s->handoff == SMTP_HANDOFF_NONE) {
		/* RFC 2920: answer a pipelined group in one write, once its input is used up. */
		if (!conn_has_buffered_input(s->conn) && conn_flush(s->conn) < 0)
			break;
		flags = 0;
		/* the whole command within smtp_command_timeout, however it trickles in */
		conn_set_deadline(s->conn, s->cfg->smtp_command_timeout);
		r = conn_read_line(s->conn, &line, read_max, &flags);
		conn_set_deadline(s->conn, 0);
		if (r == CONN_EOF || r == CONN_ERROR)
			break;
		if (r == CONN_STOP) { /* SIGTERM between commands: say so, end */
			smtp_reply(s, RPL_SHUTDOWN);
			break;
		}
		if (r == CONN_TIMEOUT)
			smtp_reply(s, RPL_TIMEOUT);
		else if (r == CONN_TOOLONG || (r == CONN_OK && line_too_long(s, &line, max)))
			smtp_reply(s, RPL_LINE_TOO_LONG);
		else if (flags & CONN_LINE_BARE_LF)
			smtp_reply(s, RPL_BARE_LF);
		else if ((flags & CONN_LINE_NUL) || memchr(line.data, '\0', line.len))
			smtp_reply(s, RPL_NUL_IN_COMMAND);
		else if (smtp_cmd_dispatch(s, line.data) & CMD_ENDS_GROUP)
			conn_flush(s->conn);
		if (s->handoff == SMTP_HANDOFF_LINE)
			give_back(s, &line);
		if (!s->closing && s->errors >= s->cfg->smtp_max_errors)
			smtp_reply(s, RPL_TOO_MANY_ERRORS);
	}
	conn_flush(s->conn);
	buf_free(&line); /* wiped (buf_init_wiped): the next peer of a reused process */
}

static void session_id(char out[16])
{
	unsigned char r[4];

	randombytes_buf(r, sizeof(r));
	str_hex(out, r, sizeof(r));
}

int smtp_session_open(struct smtp_session *s)
{
	char err[256];

	if (s->kind == SMTP_KIND_SUBMISSIONS && (s->ctx->tls == NULL || start_tls(s) < 0))
		return -1;
	if (!s->prelogin) { /* the pre-login process has no database: it asks */
		/* without the master key: account keys from the account key agent */
		s->store = store_open_nokeys(s->cfg, err, sizeof(err));
		if (s->store == NULL) {
			log_err("smtp.store", "session=%s result=failed error=\"%s\"", s->id, err);
			smtp_reply(s, RPL_UNAVAILABLE);
			conn_flush(s->conn);
			return -1;
		}
		store_use_agent(s->store, s->keys_fd);
		store_agent_bind(s->store);
		s->keys_fd = -1;
	}
	smtp_auth_map_certificate(s);
	if (s->closing) { /* no session process would take this certificate: 421 sent */
		conn_flush(s->conn);
		return -1;
	}
	conn_printf(s->conn, "220 %s ESMTP MSS\r\n", s->cfg->hostname);
	return 0;
}

/* What both processes of a connection know of it from the master. */
void smtp_session_init(struct smtp_session *s, const struct smtpd_ctx *ctx, const struct session_info *si)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->cfg = ctx->cfg;
	s->kind = (enum smtp_kind)si->listener->kind;
	s->keys_fd = si->keys_fd;
	s->listener = si->listener->name;
	s->auth_fd = -1;
	s->relay_fd = -1;
	str_assert(str_copy(s->peer_ip, sizeof(s->peer_ip), si->peer_ip), "64 bytes both");
	/* with privilege separation the master drew one id for both processes */
	if (si->session_id[0] == '\0' || str_copy(s->id, sizeof(s->id), si->session_id) < 0)
		session_id(s->id);
}

int smtp_session_start(struct smtp_session *s, struct smtpd_ctx *ctx, int fd, const struct session_info *si)
{
	/* handshakes sign through this session's own agent channel (issue 12) */
	if (key_agent_enter_session(&ctx->agent, ctx->tls, si->channel_fd) < 0) {
		log_err("smtp.key_agent", "peer=%s error=\"no key agent channel\"", si->peer_ip);
		return -1;
	}
	smtp_session_init(s, ctx, si);
	s->conn = conn_new(fd, si->peer_ip);
	if (s->conn == NULL)
		return -1;
	conn_set_timeout(s->conn, s->cfg->smtp_command_timeout);
	log_info("smtp.connect", "session=%s listener=%s peer=%s port=%u", s->id, s->listener, s->peer_ip,
	         si->peer_port);
	metrics_count1(METRICS_SESSIONS, s->listener);
	return 0;
}

void smtp_session_end(struct smtp_session *s)
{
	log_info("smtp.disconnect", "session=%s peer=%s messages=%u errors=%u", s->id, s->peer_ip,
	         s->messages, s->errors);
	smtp_session_reset_txn(s);
	if (s->store)
		store_close(s->store);
	s->store = NULL;
	conn_free(s->conn);
	s->conn = NULL;
}

void smtp_session_main(int fd, const struct session_info *si, void *arg)
{
	struct smtpd_ctx *ctx = arg;
	struct smtp_session s;

	if (si->auth_fd >= 0) { /* privilege separation: the session process */
		smtp_session_split(ctx, si);
		return;
	}
	if (smtp_session_start(&s, ctx, fd, si) < 0)
		return;
	if (smtp_session_open(&s) == 0)
		smtp_session_loop(&s);
	smtp_session_end(&s);
}

void smtp_session_overload(int fd, const struct session_info *si, const char *why)
{
	const struct smtp_reply *r = smtp_reply_get(RPL_OVERLOAD);
	char msg[200];
	ssize_t n = 0;

	/* Implicit TLS clients expect a handshake, not text: just close on them. */
	if (si->listener->kind != SMTP_KIND_SUBMISSIONS &&
	    str_format(msg, sizeof(msg), "%d %s %s\r\n", r->code, r->enhanced, r->text) == 0)
		n = write(fd, msg, strlen(msg));
	(void)n;
	smtp_metrics_refusal(RPL_OVERLOAD);
	log_warn("smtp.overload", "listener=%s peer=%s error=\"%s\"", si->listener->name, si->peer_ip, why);
}
