/* smtp_metrics.c: mss-smtpd's refusals as counters (smtp_metrics.h). */

#include "smtpd/smtp_metrics.h"

#include <stdio.h>

#include "lib/metrics.h"
#include "lib/str.h"

/* One name per refusing row of the reply table; a unit test requires every 4xx/5xx
 * row to have one, so a new reply cannot be counted without a reason. */
static const char *const reasons[RPL_COUNT] = {
    [RPL_TIMEOUT] = "timeout",
    [RPL_SHUTDOWN] = "shutdown",
    [RPL_TOO_MANY_ERRORS] = "too_many_errors",
    [RPL_AUTH_LOCKED] = "auth_locked",
    [RPL_OVERLOAD] = "overload",
    [RPL_UNAVAILABLE] = "unavailable",
    [RPL_SESSION_RETRY] = "session_retry",
    [RPL_TEMPFAIL] = "tempfail",
    [RPL_TOO_MANY_RCPTS] = "too_many_recipients",
    [RPL_QUOTA_FULL] = "quota_full",
    [RPL_TLS_UNAVAILABLE] = "tls_unavailable",
    [RPL_AUTH_TEMPFAIL] = "auth_tempfail",
    [RPL_UNKNOWN_COMMAND] = "unknown_command",
    [RPL_LINE_TOO_LONG] = "line_too_long",
    [RPL_NUL_IN_COMMAND] = "nul_in_command",
    [RPL_BARE_LF] = "bare_lf",
    [RPL_BARE_CR] = "bare_cr",
    [RPL_BARE_LF_CHUNK] = "bare_lf_chunk",
    [RPL_SYNTAX] = "syntax",
    [RPL_SYNTAX_HELO] = "syntax_helo",
    [RPL_SYNTAX_MAIL] = "syntax_mail",
    [RPL_SYNTAX_RCPT] = "syntax_rcpt",
    [RPL_NO_ARGS] = "no_args",
    [RPL_SYNTAX_BDAT] = "syntax_bdat",
    [RPL_BAD_SENDER] = "bad_sender",
    [RPL_BAD_RECIPIENT] = "bad_recipient",
    [RPL_BAD_BODY] = "bad_body",
    [RPL_DSN_RET] = "bad_dsn_ret",
    [RPL_DSN_ENVID] = "bad_dsn_envid",
    [RPL_DSN_NOTIFY] = "bad_dsn_notify",
    [RPL_DSN_ORCPT] = "bad_dsn_orcpt",
    [RPL_AUTH_ABORTED] = "auth_aborted",
    [RPL_AUTH_BAD_BASE64] = "auth_bad_base64",
    [RPL_HELO_FIRST] = "helo_first",
    [RPL_NESTED_MAIL] = "nested_mail",
    [RPL_NEED_MAIL] = "need_mail",
    [RPL_NEED_RCPT] = "need_rcpt",
    [RPL_DATA_AFTER_BDAT] = "data_after_bdat",
    [RPL_TLS_ACTIVE] = "tls_active",
    [RPL_ALREADY_AUTH] = "already_auth",
    [RPL_AUTH_IN_MAIL] = "auth_in_mail",
    [RPL_AUTH_NOT_ENABLED] = "auth_not_enabled",
    [RPL_MECH_UNKNOWN] = "mech_unknown",
    [RPL_TLS_REQUIRED] = "tls_required",
    [RPL_AUTH_REQUIRED] = "auth_required",
    [RPL_AUTH_FAILED] = "auth_failed",
    [RPL_RELAY_DENIED] = "relay_denied",
    [RPL_SIZE_EXCEEDED] = "size_exceeded",
    [RPL_QUOTA_TOO_BIG] = "quota_too_big",
    [RPL_MSG_LINE_TOO_LONG] = "message_line_too_long",
    [RPL_MSG_NUL] = "message_nul",
    [RPL_PARAM_UNKNOWN] = "param_unknown",
    [RPL_NEED_SMTPUTF8] = "need_smtputf8",
    [RPL_REQUIRETLS_NO_TLS] = "requiretls_no_tls",
};

const char *smtp_metrics_reason(enum smtp_reply_id id)
{
	if ((unsigned)id >= RPL_COUNT || smtp_reply_get(id)->code < 400)
		return NULL;
	return reasons[id];
}

static void count(const char *reason, int code, const char *enhanced)
{
	char c[8];
	if (str_format(c, sizeof c, "%d", code) < 0)
		return;
	const char *const labels[3] = {reason, c, enhanced};
	metrics_count(METRICS_SMTP_REFUSALS, labels);
}

void smtp_metrics_refusal(enum smtp_reply_id id)
{
	const char *reason = smtp_metrics_reason(id);
	if (reason == NULL)
		return;
	const struct smtp_reply *r = smtp_reply_get(id);
	count(reason, r->code, r->enhanced);
}

void smtp_metrics_refusal_status(const struct mss_status *st)
{
	if (st->code >= 400 && st->code <= 599)
		count("policy", st->code, st->enhanced);
}
