/* smtp_reply.c: the reply table (see smtp_reply.h). */

#include "smtpd/smtp_reply.h"

#include <string.h>

#include "lib/conn.h"
#include "lib/log.h"
#include "lib/str.h"

static const struct smtp_reply replies[RPL_COUNT] = {
    [RPL_OK] = {250, "2.0.0", "Ok"},
    [RPL_MAIL_OK] = {250, "2.1.0", "Sender ok"},
    [RPL_RCPT_OK] = {250, "2.1.5", "Recipient ok"},
    [RPL_BYE] = {221, "2.0.0", "Bye"},
    [RPL_RESET_OK] = {250, "2.0.0", "Reset state"},
    [RPL_VRFY] = {252, "2.0.0", "Cannot VRFY user, but will accept message; try RCPT"},
    [RPL_HELP] = {214, "2.0.0",
                  "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP"},
    /* RFC 2034 covers 2xx/4xx/5xx only: intermediate replies carry no enhanced code. */
    [RPL_DATA_GO] = {354, "", "End data with <CR><LF>.<CR><LF>"},
    [RPL_CHUNK_OK] = {250, "2.0.0", "Ok: chunk received"},
    [RPL_STARTTLS_GO] = {220, "2.0.0", "Ready to start TLS"},
    [RPL_AUTH_OK] = {235, "2.7.0", "Authentication successful"},
    [RPL_TIMEOUT] = {421, "4.4.2", "Error: timeout exceeded, closing connection"},
    /* RFC 3463 4.3.2: system not accepting network messages (stopping) */
    [RPL_SHUTDOWN] = {421, "4.3.2", "Service shutting down, try again later"},
    [RPL_TOO_MANY_ERRORS] = {421, "4.7.0", "Error: too many errors, closing connection"},
    [RPL_AUTH_LOCKED] = {421, "4.7.0", "Error: too many authentication failures, closing connection"},
    [RPL_OVERLOAD] = {421, "4.7.0", "Error: too many connections, try again later"},
    [RPL_UNAVAILABLE] = {421, "4.3.0", "Service temporarily unavailable, closing connection"},
    [RPL_SESSION_RETRY] = {421, "4.3.2", "Session not available now, try again"},
    [RPL_TEMPFAIL] = {451, "4.3.0", "Temporary failure, try again later"},
    [RPL_TOO_MANY_RCPTS] = {452, "4.5.3", "Error: too many recipients"},
    /* RFC 3463 4.2.2 / 5.2.2: mailbox full (quota_storage); temporary while the
     * recipient can make room, permanent when the message alone is larger */
    [RPL_QUOTA_FULL] = {452, "4.2.2", "Mailbox full: the recipient's storage quota is reached"},
    [RPL_TLS_UNAVAILABLE] = {454, "4.7.0", "TLS not available due to temporary reason"},
    [RPL_AUTH_TEMPFAIL] = {454, "4.7.0", "Temporary authentication failure"},
    [RPL_UNKNOWN_COMMAND] = {500, "5.5.2", "Error: command not recognized"},
    [RPL_LINE_TOO_LONG] = {500, "5.5.2", "Error: line too long"},
    [RPL_NUL_IN_COMMAND] = {500, "5.5.2", "Error: NUL character in command"},
    /* SMTP smuggling (CVE-2023-51764): a bare LF makes the end of DATA ambiguous
     * between us and the client's upstream, so the stream is not trusted further. */
    [RPL_BARE_LF] = {550, "5.5.2", "Error: bare <LF> received, lines must end with <CR><LF>"},
    /* A bare CR in the content (RFC 5321 2.3.8), e.g. "\r.\r": our end of data is only
     * CRLF.CRLF, so the stream stays in step and only the message is refused. Same
     * code as the bare LF reply (Postfix smtpd_forbid_bare_newline_reject_code 550). */
    [RPL_BARE_CR] = {550, "5.5.2", "Error: bare <CR> received, lines must end with <CR><LF>"},
    /* In BDAT the chunk sizes delimit the data, so a bare LF cannot desynchronise the
     * stream: the message is refused, the session goes on. */
    [RPL_BARE_LF_CHUNK] = {550, "5.5.2", "Error: bare <LF> received, lines must end with <CR><LF>"},
    [RPL_SYNTAX] = {501, "5.5.4", "Syntax error in parameters or arguments"},
    [RPL_SYNTAX_HELO] = {501, "5.5.4", "Syntax: EHLO hostname"},
    [RPL_SYNTAX_MAIL] = {501, "5.5.4", "Syntax: MAIL FROM:<address>"},
    [RPL_SYNTAX_RCPT] = {501, "5.5.4", "Syntax: RCPT TO:<address>"},
    [RPL_NO_ARGS] = {501, "5.5.4", "Syntax error: no arguments allowed"},
    /* RFC 3030 2: without a size the octets that follow cannot be told from commands. */
    [RPL_SYNTAX_BDAT] = {501, "5.5.4", "Syntax: BDAT chunk-size [LAST], closing connection"},
    [RPL_BAD_SENDER] = {501, "5.1.7", "Bad sender address syntax"},
    [RPL_BAD_RECIPIENT] = {501, "5.1.3", "Bad recipient address syntax"},
    [RPL_BAD_BODY] = {501, "5.5.4", "Unsupported BODY type"},
    /* RFC 3461: a repeated or malformed DSN parameter; the text names it, the
     * transaction may be tried again without it. */
    [RPL_DSN_RET] = {501, "5.5.4", "Bad or repeated RET parameter: RET=FULL or RET=HDRS, once"},
    [RPL_DSN_ENVID] =
        {501, "5.5.4",
         "Bad or repeated ENVID parameter: xtext of printable ASCII, at most 100 characters, once"},
    [RPL_DSN_NOTIFY] =
        {501, "5.5.4", "Bad or repeated NOTIFY parameter: NEVER alone, or SUCCESS, FAILURE, DELAY each once"},
    [RPL_DSN_ORCPT] =
        {501, "5.5.4",
         "Bad or repeated ORCPT parameter: rfc822;xtext or utf-8;xtext, at most 500 characters, once"},
    [RPL_AUTH_ABORTED] = {501, "5.7.0", "Authentication aborted"},
    [RPL_AUTH_BAD_BASE64] = {501, "5.5.2", "Cannot decode response"},
    [RPL_HELO_FIRST] = {503, "5.5.1", "Error: send HELO/EHLO first"},
    [RPL_NESTED_MAIL] = {503, "5.5.1", "Error: nested MAIL command"},
    [RPL_NEED_MAIL] = {503, "5.5.1", "Error: need MAIL command"},
    [RPL_NEED_RCPT] = {503, "5.5.1", "Error: need RCPT command"},
    /* RFC 3030 2: DATA and BDAT are never mixed in one transaction. */
    [RPL_DATA_AFTER_BDAT] = {503, "5.5.1", "Error: DATA after BDAT in the same transaction"},
    [RPL_TLS_ACTIVE] = {503, "5.5.1", "Error: TLS already active"},
    [RPL_ALREADY_AUTH] = {503, "5.5.1", "Error: already authenticated"},
    [RPL_AUTH_IN_MAIL] = {503, "5.5.1", "Error: MAIL transaction in progress"},
    [RPL_AUTH_NOT_ENABLED] = {503, "5.5.1", "Error: authentication not enabled on this service"},
    [RPL_MECH_UNKNOWN] = {504, "5.5.4", "Unrecognized authentication type"},
    [RPL_TLS_REQUIRED] = {530, "5.7.0", "Must issue a STARTTLS command first"},
    [RPL_AUTH_REQUIRED] = {530, "5.7.0", "Authentication required"},
    [RPL_AUTH_FAILED] = {535, "5.7.8", "Error: authentication failed"},
    [RPL_RELAY_DENIED] = {550, "5.7.1", "Relay access denied: domain not served here"},
    [RPL_SIZE_EXCEEDED] = {552, "5.3.4", "Message size exceeds fixed limit"},
    [RPL_QUOTA_TOO_BIG] = {552, "5.2.2", "Message larger than the recipient's storage quota"},
    [RPL_MSG_LINE_TOO_LONG] = {500, "5.5.2", "Error: message line too long (RFC 5321 4.5.3.1.6)"},
    [RPL_MSG_NUL] = {554, "5.6.0", "Error: message contains NUL characters"},
    [RPL_PARAM_UNKNOWN] = {555, "5.5.4", "Unsupported parameter"},
    /* RFC 6531 3.3 (reply) and RFC 6531 3.6.2 / RFC 3463 5.6.7 (code) */
    [RPL_NEED_SMTPUTF8] = {553, "5.6.7",
                           "Non-ASCII address: send MAIL FROM with the SMTPUTF8 parameter (RFC 6531)"},
    /* RFC 8689 4.1: the option is for TLS sessions only */
    [RPL_REQUIRETLS_NO_TLS] = {530, "5.7.10", "REQUIRETLS needs a TLS session: issue STARTTLS first"},
};

const struct smtp_reply *smtp_reply_get(enum smtp_reply_id id)
{
	if ((unsigned)id >= RPL_COUNT)
		id = RPL_TEMPFAIL;
	return &replies[id];
}

void smtp_reply_status(enum smtp_reply_id id, struct mss_status *out)
{
	const struct smtp_reply *r = smtp_reply_get(id);

	out->code = r->code;
	str_assert(str_copy(out->enhanced, sizeof(out->enhanced), r->enhanced),
	           "the reply table's codes (\"5.7.1\") into 12 bytes");
	str_assert(str_copy(out->text, sizeof(out->text), r->text),
	           "the reply table's texts are under 256 bytes (test_smtpd_reply)");
}

bool smtp_reply_closes(enum smtp_reply_id id)
{
	return smtp_reply_get(id)->code == 421 || id == RPL_BARE_LF || id == RPL_SYNTAX_BDAT;
}

int smtp_reply_send_line(struct conn *c, int code, const char *enhanced, const char *text, bool last)
{
	char clean[512];
	size_t i;

	/* a status text has 256 bytes at most; a longer one is cut, and said so */
	if (str_copy(clean, sizeof(clean), text ? text : "") < 0)
		log_warn("smtp.reply", "code=%d error=\"reply text cut to %zu bytes\"", code,
		         sizeof(clean) - 1);
	for (i = 0; clean[i]; i++)
		if (clean[i] == '\r' || clean[i] == '\n' || (unsigned char)clean[i] < 0x20)
			clean[i] = ' ';
	if (enhanced && enhanced[0])
		return conn_printf(c, "%03d%c%s %s\r\n", code, last ? ' ' : '-', enhanced, clean);
	return conn_printf(c, "%03d%c%s\r\n", code, last ? ' ' : '-', clean);
}

int smtp_reply_send(struct conn *c, enum smtp_reply_id id)
{
	const struct smtp_reply *r = smtp_reply_get(id);

	return smtp_reply_send_line(c, r->code, r->enhanced, r->text, true);
}

int smtp_reply_send_status(struct conn *c, const struct mss_status *st)
{
	int code = st->code;
	const char *enh = st->enhanced;

	/* A status without a sane code is an internal fault: never send garbage. */
	if (code < 200 || code > 599) {
		code = 451;
		enh = "4.3.0";
	}
	if (!enh[0])
		enh = code >= 500 ? "5.0.0" : code >= 400 ? "4.0.0" : "2.0.0";
	return smtp_reply_send_line(c, code, enh, st->text[0] ? st->text : "Refused", true);
}
