/* smtp_cmd.c: command table, dispatcher, EHLO generation and the small verbs. */

#include "smtpd/smtp_cmd.h"

#include <string.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/str.h"
#include "smtpd/smtp_auth.h"

static int cmd_ehlo(struct smtp_session *s, const char *args);
static int cmd_helo(struct smtp_session *s, const char *args);
static int cmd_rset(struct smtp_session *s, const char *args);
static int cmd_noop(struct smtp_session *s, const char *args);
static int cmd_quit(struct smtp_session *s, const char *args);
static int cmd_vrfy(struct smtp_session *s, const char *args);
static int cmd_help(struct smtp_session *s, const char *args);

static const struct smtp_cmd commands[] = {
    {"EHLO", cmd_ehlo, CMD_BEFORE_TLS | CMD_ENDS_GROUP},
    {"HELO", cmd_helo, CMD_BEFORE_TLS | CMD_ENDS_GROUP},
    {"STARTTLS", smtp_cmd_starttls, CMD_BEFORE_TLS | CMD_NEEDS_HELO | CMD_ENDS_GROUP},
    {"AUTH", smtp_cmd_auth, CMD_NEEDS_HELO | CMD_NO_TXN | CMD_ENDS_GROUP},
    {"MAIL", smtp_cmd_mail, CMD_NEEDS_HELO | CMD_NEEDS_AUTH | CMD_AFTER_HANDOFF},
    {"RCPT", smtp_cmd_rcpt, CMD_NEEDS_AUTH | CMD_NEEDS_MAIL},
    {"DATA", smtp_cmd_data, CMD_NEEDS_AUTH | CMD_NEEDS_MAIL | CMD_NEEDS_RCPT | CMD_ENDS_GROUP},
    /* BDAT checks its state itself, after reading the chunk that follows the command
     * (RFC 3030 2): refused here, the chunk would be read as commands. */
    {"BDAT", smtp_cmd_bdat, CMD_BEFORE_TLS | CMD_ENDS_GROUP},
    {"RSET", cmd_rset, CMD_BEFORE_TLS},
    {"NOOP", cmd_noop, CMD_BEFORE_TLS | CMD_ENDS_GROUP},
    {"QUIT", cmd_quit, CMD_BEFORE_TLS | CMD_ENDS_GROUP},
    {"VRFY", cmd_vrfy, CMD_BEFORE_TLS | CMD_ENDS_GROUP},
    {"HELP", cmd_help, CMD_BEFORE_TLS},
};

const struct smtp_cmd *smtp_cmd_find(const char *verb)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].verb, verb) == 0)
			return &commands[i];
	return NULL;
}

/* The flag checks, in the order a client needs to hear about them. */
enum smtp_reply_id smtp_cmd_check(const struct smtp_session *s, unsigned flags)
{
	if (!s->tls && !(flags & CMD_BEFORE_TLS))
		return RPL_TLS_REQUIRED;
	if ((flags & CMD_NEEDS_HELO) && !s->helo[0])
		return RPL_HELO_FIRST;
	if ((flags & CMD_NEEDS_AUTH) && s->kind != SMTP_KIND_MX && !s->authenticated)
		return RPL_AUTH_REQUIRED;
	if ((flags & CMD_NEEDS_MAIL) && !s->in_mail)
		return RPL_NEED_MAIL;
	if ((flags & CMD_NEEDS_RCPT) && s->nrcpt == 0)
		return RPL_NEED_RCPT;
	if ((flags & CMD_NO_TXN) && s->in_mail)
		return RPL_AUTH_IN_MAIL;
	return RPL_OK;
}

/* RFC 8689 4.1 gives MAIL with REQUIRETLS outside TLS its own refusal, 530 5.7.10,
 * where any other MAIL before STARTTLS gets 530 5.7.0. */
static enum smtp_reply_id tls_refusal(const struct smtp_cmd *cmd, const char *args)
{
	char addr[SMTP_PATH_MAX];
	struct smtp_mail_params p;

	if (cmd->handler == smtp_cmd_mail && smtp_parse_mail(args, addr, &p) == RPL_OK && p.requiretls)
		return RPL_REQUIRETLS_NO_TLS;
	return RPL_TLS_REQUIRED;
}

unsigned smtp_cmd_dispatch(struct smtp_session *s, const char *line)
{
	struct smtp_cmdline cl;
	const struct smtp_cmd *cmd;
	enum smtp_reply_id r;

	if (smtp_parse_verb(line, &cl) < 0 || (cmd = smtp_cmd_find(cl.verb)) == NULL) {
		smtp_reply(s, RPL_UNKNOWN_COMMAND);
		return 0;
	}
	r = smtp_cmd_check(s, cmd->flags);
	if (r == RPL_TLS_REQUIRED)
		r = tls_refusal(cmd, cl.args);
	if (r != RPL_OK) {
		smtp_reply(s, r);
		return cmd->flags & CMD_ENDS_GROUP;
	}
	if ((cmd->flags & CMD_AFTER_HANDOFF) && s->prelogin) {
		s->handoff = SMTP_HANDOFF_LINE;
		return CMD_ENDS_GROUP;
	}
	/* DATA's time is mostly the client's transfer: its delivery has its own histogram */
	bool timed = cmd->handler != smtp_cmd_data;
	uint64_t t0 = timed ? metrics_now_usec() : 0;
	cmd->handler(s, cl.args);
	if (timed)
		metrics_observe(METRICS_SMTP_COMMAND, metrics_now_usec() - t0);
	return cmd->flags;
}

bool smtp_cmd_starttls_offered(const struct smtp_session *s)
{
	return !s->tls && s->ctx->tls != NULL;
}

bool smtp_cmd_auth_offered(const struct smtp_session *s)
{
	/* No AUTH before TLS (passwords never cross in the clear), none on the MX. */
	return s->tls && s->kind != SMTP_KIND_MX && !s->authenticated;
}

bool smtp_cmd_external_offered(const struct smtp_session *s)
{
	struct sasl_offer o;

	smtp_auth_offer(s, &o);
	return smtp_cmd_auth_offered(s) && sasl_offered(&o, AUTH_MECH_EXTERNAL);
}

static bool always(const struct smtp_session *s)
{
	(void)s;
	return true;
}

/* RFC 8689 4.1: REQUIRETLS is offered only where it can be used, on a TLS session. */
static bool requiretls_offered(const struct smtp_session *s)
{
	return s->tls;
}

static int size_arg(const struct smtp_session *s, struct buf *out)
{
	return buf_printf(out, " %llu", (unsigned long long)s->cfg->max_message_size);
}

static int auth_arg(const struct smtp_session *s, struct buf *out)
{
	struct sasl_offer o;

	smtp_auth_offer(s, &o);
	return sasl_list(&o, " ", out);
}

/* One row per EHLO keyword, with the RFC that defines what the keyword promises. */
static const struct smtp_capa {
	const char *keyword;
	const char *rfc;
	bool (*offered)(const struct smtp_session *s);
	int (*args)(const struct smtp_session *s, struct buf *out); /* 0, or -1 past out's limit */
} capabilities[] = {
    {"PIPELINING", "RFC 2920", always, NULL},
    {"SIZE", "RFC 1870", always, size_arg},
    {"8BITMIME", "RFC 6152", always, NULL},
    /* BINARYMIME is not offered: binary content would carry the bare CR and LF that
     * smtp_data.h refuses. */
    {"CHUNKING", "RFC 3030", always, NULL},
    {"ENHANCEDSTATUSCODES", "RFC 2034", always, NULL},
    {"SMTPUTF8", "RFC 6531", always, NULL},
    {"REQUIRETLS", "RFC 8689", requiretls_offered, NULL},
    /* NOTIFY, RET, ENVID, ORCPT (smtp_dsn.h), honoured by every report (relay_bounce.h) */
    {"DSN", "RFC 3461", always, NULL},
    {"STARTTLS", "RFC 3207", smtp_cmd_starttls_offered, NULL},
    {"AUTH", "RFC 4954", smtp_cmd_auth_offered, auth_arg},
};

int smtp_cmd_ehlo_keywords(const struct smtp_session *s, struct buf *out)
{
	for (size_t i = 0; i < sizeof(capabilities) / sizeof(capabilities[0]); i++) {
		if (!capabilities[i].offered(s))
			continue;
		if (buf_append_str(out, capabilities[i].keyword) < 0 ||
		    (capabilities[i].args && capabilities[i].args(s, out) < 0) ||
		    buf_append_char(out, '\n') < 0)
			return -1;
	}
	return 0;
}

static int greet(struct smtp_session *s, const char *args, bool esmtp)
{
	char helo[SMTP_DOMAIN_MAX];

	if (smtp_parse_helo(args, helo) < 0) {
		smtp_reply(s, RPL_SYNTAX_HELO);
		return -1;
	}
	/* RFC 5321 4.1.4: EHLO/HELO also resets any transaction. */
	smtp_session_reset_txn(s);
	str_assert(str_copy(s->helo, sizeof(s->helo), helo), "SMTP_DOMAIN_MAX both");
	s->esmtp = esmtp;
	return 0;
}

static int cmd_ehlo(struct smtp_session *s, const char *args)
{
	struct buf kw;
	char *line, *next;
	int rc;

	if (greet(s, args, true) < 0)
		return -1;
	buf_init(&kw, 4096);
	if (smtp_cmd_ehlo_keywords(s, &kw) < 0) { /* never advertise half a keyword */
		log_err("smtp.ehlo", "session=%s error=\"EHLO keywords longer than 4096 bytes\"", s->id);
		buf_free(&kw);
		return smtp_reply(s, RPL_TEMPFAIL);
	}
	rc = smtp_reply_send_line(s->conn, 250, "", s->cfg->hostname, kw.len == 0);
	for (line = kw.data; rc == 0 && *line; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		rc = smtp_reply_send_line(s->conn, 250, "", line, *next == '\0');
	}
	buf_free(&kw);
	return rc;
}

static int cmd_helo(struct smtp_session *s, const char *args)
{
	if (greet(s, args, false) < 0)
		return -1;
	return smtp_reply_send_line(s->conn, 250, "", s->cfg->hostname, true);
}

static int cmd_rset(struct smtp_session *s, const char *args)
{
	if (args[0])
		return smtp_reply(s, RPL_NO_ARGS);
	smtp_session_reset_txn(s);
	return smtp_reply(s, RPL_RESET_OK);
}

static int cmd_noop(struct smtp_session *s, const char *args)
{
	(void)args; /* RFC 5321 4.1.1.9: a string argument is allowed and ignored */
	return smtp_reply(s, RPL_OK);
}

static int cmd_quit(struct smtp_session *s, const char *args)
{
	(void)args;
	s->closing = true;
	return smtp_reply(s, RPL_BYE);
}

static int cmd_vrfy(struct smtp_session *s, const char *args)
{
	/* RFC 5321 3.5.3: 252 neither confirms nor denies, so addresses cannot be probed. */
	if (!args[0])
		return smtp_reply(s, RPL_SYNTAX);
	return smtp_reply(s, RPL_VRFY);
}

static int cmd_help(struct smtp_session *s, const char *args)
{
	(void)args;
	return smtp_reply(s, RPL_HELP);
}
