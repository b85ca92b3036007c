/* imap_session.c: the command loop, the command reader (lines + literals) and replies. */
#include "imapd/imap_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "imapd/imap_context.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_kick.h"
#include "imapd/imap_notify.h"
#include "imapd/imap_reader.h"
#include "imapd/imap_vault.h"
#include "imap/imap_mutf7.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/str.h"
#include "audit/audit.h"

/* The one writer of tagged completions: rows of imap_reply.c reach it through the
 * imap_send* functions below. */
static void reply_row(struct imap_session *s, const char *tag, enum imap_reply_id id, const char *data,
                      const char *a, const char *b)
{
	const struct imap_reply *r = imap_reply_get(id);
	if (r->code != NULL && strcmp(r->code, "SERVERBUG") == 0 && store_unavailable(s->store)) {
		id = IMAP_R_UNAVAILABLE; /* the database is unreachable: temporary, not a bug (RFC 5530) */
		data = a = b = NULL;
	}
	enum imap_status st = imap_reply_get(id)->status;
	if (s->view.open && !s->close_after_reply && !(s->cmd_flags & CMD_NO_SYNC)) {
		uint32_t before = s->view.uidnext;
		if (imap_view_sync(s, (s->cmd_flags & CMD_NO_EXPUNGE) == 0) == 0)
			imap_notify_selected_new(s, before); /* NOTIFY's MessageNew attributes */
	}
	if (st != IMAP_OK)
		metrics_count1(METRICS_IMAP_REFUSALS, imap_status_name(st));
	if (s->nctx > 0 && !s->close_after_reply)
		imap_context_update(s); /* RFC 5267 4: ADDTO / REMOVEFROM */
	conn_printf(s->conn, "%s %s ", tag, imap_status_name(st));
	/* unbounded on purpose: [COPYUID ...] and [MODIFIED ...] sets may be long */
	struct buf text;
	buf_init(&text, BUF_UNLIMITED);
	str_assert(imap_reply_format(&text, id, data, a, b), "text is BUF_UNLIMITED");
	for (size_t i = 0; i < text.len; i++) /* a reply is one line whatever the text holds */
		if ((unsigned char)text.data[i] < 0x20)
			text.data[i] = ' ';
	conn_write(s->conn, text.data, text.len);
	conn_puts(s->conn, "\r\n");
	buf_free(&text);
	if (st != IMAP_BAD) {
		s->bad_in_row = 0;
		return;
	}
	if (++s->bad_in_row >= s->cfg->imap_max_bad && !s->close_after_reply) {
		conn_puts(s->conn, "* BYE Too many invalid commands\r\n");
		log_info("imap.bye", "peer=%s reason=too_many_errors", conn_peer_ip(s->conn));
		s->close_after_reply = true;
	}
}

void imap_send(struct imap_session *s, const char *tag, enum imap_reply_id id)
{
	reply_row(s, tag, id, NULL, NULL, NULL);
}

void imap_send_text(struct imap_session *s, const char *tag, enum imap_reply_id id, const char *a)
{
	reply_row(s, tag, id, NULL, a, NULL);
}

void imap_send_text2(struct imap_session *s, const char *tag, enum imap_reply_id id, const char *a,
                     const char *b)
{
	reply_row(s, tag, id, NULL, a, b);
}

void imap_send_code(struct imap_session *s, const char *tag, enum imap_reply_id id, const char *a,
                    const char *b, const char *fmt, ...)
{
	struct buf data;
	buf_init(&data, BUF_UNLIMITED);
	va_list ap;
	va_start(ap, fmt);
	str_assert(buf_vprintf(&data, fmt, ap), "data is BUF_UNLIMITED");
	va_end(ap);
	reply_row(s, tag, id, data.data, a, b);
	buf_free(&data);
}

void imap_write_string(struct imap_session *s, const char *p, size_t len)
{
	bool quoted = len <= 1024;
	for (size_t i = 0; quoted && i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !s->enabled_utf8))
			quoted = false;
	}
	if (quoted && len > 0 && !str_is_utf8(p, len))
		quoted = false;
	if (!quoted) {
		conn_printf(s->conn, "{%zu}\r\n", len);
		conn_write(s->conn, p, len);
		return;
	}
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	int rc = buf_append_char(&b, '"');
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			rc |= buf_append_char(&b, '\\');
		rc |= buf_append_char(&b, p[i]);
	}
	rc |= buf_append_char(&b, '"');
	str_assert(rc, "b is BUF_UNLIMITED");
	conn_write(s->conn, b.data, b.len);
	buf_free(&b);
}

void imap_write_mailbox(struct imap_session *s, const char *name)
{
	if (s->enabled_utf8) {
		imap_write_string(s, name, strlen(name));
		return;
	}
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	if (mutf7_encode(name, &b) < 0) {
		buf_reset(&b);
		str_assert(buf_append_str(&b, "INVALID"), "b is BUF_UNLIMITED");
	}
	imap_write_string(s, b.data, b.len);
	buf_free(&b);
}

int imap_mailbox_arg(struct imap_session *s, const struct imap_arg *a, char *out, size_t outlen)
{
	const char *v = imap_arg_astring(a);
	if (v == NULL)
		return -1;
	struct buf b;
	buf_init(&b, outlen);
	int rc = 0;
	if (s->enabled_utf8) {
		if (!str_is_utf8(v, strlen(v)) || buf_append_str(&b, v) < 0)
			rc = -2;
	} else if (mutf7_decode(v, &b) < 0 || b.len >= outlen) {
		rc = -2;
	}
	if (rc == 0) {
		if (str_copy(out, outlen, str_ieq(b.data, "INBOX") ? "INBOX" : b.data) < 0)
			rc = -2;
	}
	buf_free(&b);
	return rc;
}

void imap_flags_format(struct buf *out, uint32_t flags, const char *keywords, bool recent)
{
	char tmp[STORE_KEYWORDS_MAX + 128];
	if (store_flags_format(flags, keywords, tmp, sizeof(tmp)) < 0)
		store_flags_format(flags, NULL, tmp, sizeof(tmp));
	int rc = buf_append_str(out, tmp);
	if (recent)
		rc |= buf_append_str(out, tmp[0] ? " \\Recent" : "\\Recent");
	str_assert(rc, "out is BUF_UNLIMITED (imap_session.h)");
}

void imap_flags_write(struct imap_session *s, uint32_t flags, const char *keywords, bool recent)
{
	char tmp[STORE_KEYWORDS_MAX + 128];
	if (store_flags_format(flags, keywords, tmp, sizeof(tmp)) < 0)
		store_flags_format(flags, NULL, tmp, sizeof(tmp));
	conn_puts(s->conn, "FLAGS (");
	conn_puts(s->conn, tmp);
	if (recent)
		conn_puts(s->conn, tmp[0] ? " \\Recent" : "\\Recent");
	conn_puts(s->conn, ")");
}

static int flag_one(const struct imap_arg *a, uint32_t *flags, struct buf *kw)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL) /* "NIL" is a keyword like any */
		return -1;
	if (a->str[0] == '\\') {
		uint32_t f = store_flag_parse(a->str);
		if (f == 0)
			return -1;
		*flags |= f;
		return 0;
	}
	if (!store_keyword_valid(a->str))
		return -1;
	if (kw->len > 0 && buf_append_char(kw, ' ') < 0)
		return -1;
	return buf_append_str(kw, a->str);
}

int imap_flags_parse(const struct imap_arg *a, uint32_t *flags, struct buf *kw)
{
	*flags = 0;
	if (a->type != IMAP_ARG_LIST)
		return flag_one(a, flags, kw);
	for (size_t i = 0; i < a->count; i++)
		if (flag_one(&a->list[i], flags, kw) < 0)
			return -1;
	return 0;
}

void imap_set_format(struct buf *b, const uint32_t *u, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && u[j + 1] == u[j] + 1)
			j++;
		if (b->len > 0)
			rc |= buf_append_char(b, ',');
		if (j == i)
			rc |= buf_printf(b, "%u", u[i]);
		else
			rc |= buf_printf(b, "%u:%u", u[i], u[j]);
		i = j + 1;
	}
	str_assert(rc, "b is BUF_UNLIMITED (imap_session.h)");
}

void imap_condstore_enable(struct imap_session *s)
{
	if (s->enabled_condstore)
		return;
	s->enabled_condstore = true;
	/* RFC 7162 3.1: a CONDSTORE enabling command with a mailbox selected tells the
	 * client where the mailbox's MODSEQ stands */
	if (s->view.open && s->view.shared)
		conn_puts(s->conn, "* OK [NOMODSEQ] No MODSEQ in a shared folder\r\n");
	else if (s->view.open)
		conn_printf(s->conn, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		            (unsigned long long)s->view.highestmodseq);
}

void imap_audit(struct imap_session *s, const char *action, const char *target, const char *detail,
                const char *result)
{
	if (s->store == NULL)
		return;
	struct audit_event ev = {
	    .actor = s->state == IMAP_STATE_NOT_AUTH ? "anonymous" : s->account.address,
	    .auth = s->auth_method ? s->auth_method : "none",
	    .action = action,
	    .target = target,
	    .detail = detail,
	    .result = result,
	    .peer = conn_peer_ip(s->conn),
	    .patient = "",
	};
	char err[256];
	if (audit_append(s->store, &ev, err, sizeof(err)) < 0)
		log_err("imap.audit", "action=%s error=\"%s\"", action, err);
}

static void greet(struct imap_session *s)
{
	struct buf capa;
	buf_init(&capa, BUF_UNLIMITED);
	imap_capability_list(s, &capa);
	conn_printf(s->conn, "* OK [CAPABILITY %s] %s MSS IMAP ready\r\n", capa.data, s->cfg->hostname);
	buf_free(&capa);
}

static void run_streamed(struct imap_session *s)
{
	struct imap_command *cmd = imap_parser_command(s->parser);
	/* IDLE lasts as long as the client wants: not a command's latency */
	bool timed = strcmp(cmd->name, "IDLE") != 0;
	uint64_t t0 = timed ? metrics_now_usec() : 0;
	imap_cmd_dispatch(s, cmd);
	if (timed)
		metrics_observe(METRICS_IMAP_COMMAND, metrics_now_usec() - t0);
	/* a command refused before it could take its literal (wrong state...) */
	if (imap_parser_literal_pending(s->parser) && !s->close_after_reply)
		imap_command_drain(s);
}

/* The pre-login process stops once logged in: the session process goes on. */
static bool handed_over(const struct imap_session *s)
{
	return s->auth_fd >= 0 && s->state == IMAP_STATE_AUTH;
}

void imap_session_run(struct imap_session *s)
{
	if (s->state != IMAP_STATE_AUTH) /* else resumed after a login made elsewhere */
		s->state = IMAP_STATE_NOT_AUTH;
	s->view.watch_fd = -1;
	s->view.recent_low = UINT32_MAX; /* no entry, none recent */
	s->parser = imap_parser_new();
	buf_init(&s->line, BUF_UNLIMITED);
	conn_set_timeout(s->conn, s->cfg->imap_idle_timeout);
	if (s->state == IMAP_STATE_NOT_AUTH)
		greet(s);
	while (s->state != IMAP_STATE_LOGOUT && !s->close_after_reply && !handed_over(s)) {
		if (conn_flush(s->conn) < 0)
			break;
		enum imap_read r = imap_read_command(s);
		if (r == IMAP_READ_CLOSE)
			break;
		if (r == IMAP_READ_COMMAND || r == IMAP_READ_STREAM)
			run_streamed(s);
	}
	conn_flush(s->conn);
	imap_parser_free(s->parser);
	s->parser = NULL;
	buf_free(&s->line);
	if (s->state != IMAP_STATE_NOT_AUTH && !handed_over(s)) {
		char detail[160];
		if (str_format(detail, sizeof(detail), "selects=%u fetches=%u appends=%u expunges=%u",
		               s->n_select, s->n_fetch, s->n_append, s->n_expunge) < 0)
			detail[0] = '\0';
		imap_audit(s, "imap.logout", s->account.address, detail, "ok");
	}
	imap_notify_free(s);
	imap_view_close(s);
	imap_kick_disarm(s);
}
