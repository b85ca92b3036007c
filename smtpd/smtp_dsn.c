/* smtp_dsn.c: DSN parameters of MAIL and RCPT (smtp_dsn.h). */
#include "smtpd/smtp_dsn.h"

#include <ctype.h>
#include <string.h>

#include "lib/str.h"

static enum smtp_reply_id parse_ret(const char *val, struct dsn_mail *m)
{
	if (m->ret != DSN_RET_NONE)
		return RPL_DSN_RET;
	if (str_ieq(val, "FULL"))
		m->ret = DSN_RET_FULL;
	else if (str_ieq(val, "HDRS"))
		m->ret = DSN_RET_HDRS;
	else
		return RPL_DSN_RET;
	return RPL_OK;
}

/* An ENVID that decodes to "" is refused too: it could not be told from none. */
static enum smtp_reply_id parse_envid(const char *val, struct dsn_mail *m)
{
	char envid[DSN_ENVID_MAX + 1];
	if (m->envid[0] || strlen(val) > DSN_ENVID_MAX || dsn_xtext_decode(val, envid, sizeof envid) < 0 ||
	    !envid[0])
		return RPL_DSN_ENVID;
	memcpy(m->envid, envid, sizeof envid);
	return RPL_OK;
}

enum smtp_reply_id smtp_dsn_mail_param(const char *kw, const char *val, struct dsn_mail *m)
{
	if (str_ieq(kw, "RET"))
		return parse_ret(val, m);
	if (str_ieq(kw, "ENVID"))
		return parse_envid(val, m);
	return RPL_PARAM_UNKNOWN;
}

/* One keyword of NOTIFY's list, as its bit; 0 when unknown. */
static unsigned notify_bit(const char *s, size_t n)
{
	static const struct {
		const char *name;
		unsigned bit;
	} words[] = {{"NEVER", DSN_NOTIFY_NEVER},
	             {"SUCCESS", DSN_NOTIFY_SUCCESS},
	             {"FAILURE", DSN_NOTIFY_FAILURE},
	             {"DELAY", DSN_NOTIFY_DELAY}};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i].name) == n && str_ieqn(s, words[i].name, n))
			return words[i].bit;
	return 0;
}

static enum smtp_reply_id parse_notify(const char *val, struct dsn_rcpt *r)
{
	unsigned bits = 0;
	if (r->notify != 0 || val[0] == '\0')
		return RPL_DSN_NOTIFY;
	for (const char *p = val;;) {
		size_t n = strcspn(p, ",");
		unsigned bit = notify_bit(p, n);
		if (bit == 0 || (bits & bit))
			return RPL_DSN_NOTIFY;
		bits |= bit;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	/* RFC 3461 4.1: NEVER stands alone */
	if ((bits & DSN_NOTIFY_NEVER) && bits != DSN_NOTIFY_NEVER)
		return RPL_DSN_NOTIFY;
	r->notify = bits;
	return RPL_OK;
}

/* RFC 6533 3: utf-8-addr-xtext: QCHAR (printable US-ASCII but "+", "=", "\") or
 * "\x{" 1 to 6 hex digits "}". Kept as written: it is its own decoded form. */
static bool is_utf8_addr_xtext(const char *s)
{
	if (*s == '\0')
		return false;
	while (*s) {
		if (*s == '\\') {
			size_t h = s[1] == 'x' && s[2] == '{' ? strspn(s + 3, "0123456789ABCDEFabcdef") : 0;
			if (h == 0 || h > 6 || s[3 + h] != '}')
				return false;
			s += 4 + h;
			continue;
		}
		if (*s < '!' || *s > '~' || *s == '+' || *s == '=')
			return false;
		s++;
	}
	return true;
}

static enum smtp_reply_id parse_orcpt(const char *val, struct dsn_rcpt *r)
{
	const char *semi = strchr(val, ';');
	char addr[DSN_ORCPT_MAX + 1];
	if (r->orcpt[0] || semi == NULL || strlen(val) > DSN_ORCPT_MAX)
		return RPL_DSN_ORCPT;
	size_t tlen = (size_t)(semi - val);
	bool rfc822 = tlen == 6 && str_ieqn(val, "rfc822", 6);
	bool utf8 = tlen == 5 && str_ieqn(val, "utf-8", 5);
	if (rfc822 && (dsn_xtext_decode(semi + 1, addr, sizeof addr) < 0 || !addr[0]))
		return RPL_DSN_ORCPT;
	if (utf8 && (!is_utf8_addr_xtext(semi + 1) || str_copy(addr, sizeof addr, semi + 1) != 0))
		return RPL_DSN_ORCPT;
	if (!rfc822 && !utf8)
		return RPL_DSN_ORCPT;
	/* the decoded form is never longer than the xtext one, so it fits */
	str_assert(str_format(r->orcpt, sizeof r->orcpt, "%s;%s", rfc822 ? "rfc822" : "utf-8", addr),
	           "a decoded ORCPT is no longer than its DSN_ORCPT_MAX wire form");
	return RPL_OK;
}

enum smtp_reply_id smtp_dsn_rcpt_param(const char *kw, const char *val, struct dsn_rcpt *r)
{
	if (str_ieq(kw, "NOTIFY"))
		return parse_notify(val, r);
	if (str_ieq(kw, "ORCPT"))
		return parse_orcpt(val, r);
	return RPL_PARAM_UNKNOWN;
}
