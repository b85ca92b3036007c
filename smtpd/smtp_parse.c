/* smtp_parse.c: SMTP command syntax (RFC 5321 4.1), pure functions. */

#include "smtpd/smtp_parse.h"

#include <ctype.h>
#include <string.h>

#include "lib/str.h"
#include "smtpd/smtp_dsn.h"

int smtp_parse_verb(const char *line, struct smtp_cmdline *out)
{
	size_t n = 0;

	while (isalpha((unsigned char)line[n])) {
		if (n + 1 >= sizeof(out->verb))
			return -1;
		out->verb[n] = (char)toupper((unsigned char)line[n]);
		n++;
	}
	out->verb[n] = '\0';
	if (n == 0 || (line[n] != '\0' && line[n] != ' '))
		return -1;
	line += n;
	while (*line == ' ')
		line++;
	out->args = line;
	return 0;
}

/* RFC 6531 3.3 adds UTF8-non-ascii to atext, qtextSMTP and sub-domain: any octet
 * >= 0x80 passes here; smtp_parse_is_mailbox checks the whole address is UTF-8. */
static bool is_atext(int c)
{
	return isalnum(c) || c >= 0x80 || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Dot-string (RFC 5321 4.1.2): atoms separated by single dots. Returns its length. */
static size_t dot_string_len(const char *s)
{
	size_t n = 0;

	for (;;) {
		size_t atom = 0;

		while (is_atext((unsigned char)s[n + atom]))
			atom++;
		if (atom == 0)
			return 0;
		n += atom;
		if (s[n] != '.')
			return n;
		n++;
	}
}

/* Quoted-string: '"' then qtextSMTP or backslash pairs, then '"'. Returns its length. */
static size_t quoted_string_len(const char *s)
{
	size_t n = 1;

	if (s[0] != '"')
		return 0;
	for (;;) {
		unsigned char c = (unsigned char)s[n];

		if (c == '"')
			return n + 1;
		if (c == '\\') {
			if ((unsigned char)s[n + 1] < 32 || (unsigned char)s[n + 1] > 126)
				return 0;
			n += 2;
		} else if ((c >= 32 && c <= 126) || c >= 0x80) {
			n++;
		} else {
			return 0;
		}
	}
}

/* Domain: LDH labels (RFC 5321 4.1.2) or U-labels (RFC 6531 3.3), each 1..63 octets,
 * not starting or ending with '-'. */
static bool is_domain_name(const char *s, size_t len)
{
	size_t i = 0, label = 0;

	if (len == 0 || len > 255)
		return false;
	for (i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (isalnum((unsigned char)c) || (unsigned char)c >= 0x80 || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* Address literal "[...]": printable, no brackets or backslash inside. */
static bool is_address_literal(const char *s, size_t len)
{
	size_t i;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return false;
	for (i = 1; i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
			return false;
	}
	return true;
}

static bool is_domain(const char *s, size_t len)
{
	return s[0] == '[' ? is_address_literal(s, len) : is_domain_name(s, len);
}

bool smtp_parse_is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Well-formed UTF-8 (no overlong form, surrogate or code point past U+10FFFF: str.h)
 * and no C1 control (U+0080..U+009F, encoded C2 80..C2 9F): RFC 6531 3.3 allows
 * UTF8-non-ascii, which RFC 6532 3.1 and RFC 5198 keep free of controls. */
static bool is_clean_utf8(const char *s)
{
	size_t n = strlen(s);

	if (!str_is_utf8(s, n))
		return false;
	for (size_t i = 0; i + 1 < n; i++)
		if ((unsigned char)s[i] == 0xc2 && (unsigned char)s[i + 1] < 0xa0)
			return false;
	return true;
}

bool smtp_parse_is_mailbox(const char *s)
{
	size_t local = s[0] == '"' ? quoted_string_len(s) : dot_string_len(s);

	if (!is_clean_utf8(s))
		return false;
	/* RFC 5321 4.5.3.1.1: local part at most 64 octets. */
	if (local == 0 || local > 64 || s[local] != '@')
		return false;
	return is_domain(s + local + 1, strlen(s + local + 1));
}

/* Length of the path's content up to its closing '>', honouring quoted strings.
 * Returns -1 when there is no closing bracket. */
static long path_content_len(const char *p)
{
	bool quoted = false;
	long n;

	for (n = 0; p[n]; n++) {
		if (quoted && p[n] == '\\' && p[n + 1]) {
			n++;
			continue;
		}
		if (p[n] == '"')
			quoted = !quoted;
		else if (p[n] == '>' && !quoted)
			return n;
	}
	return -1;
}

/* Skips an A-d-l source route "@one,@two:" (accepted, then ignored: RFC 5321 4.1.2). */
static const char *skip_source_route(const char *p, const char *end)
{
	const char *colon;

	if (*p != '@')
		return p;
	colon = memchr(p, ':', (size_t)(end - p));
	if (colon == NULL)
		return NULL;
	for (const char *q = p; q < colon; q++)
		if (*q == ' ' || *q == '<' || *q == '"')
			return NULL;
	return colon + 1;
}

/* Parses "<path>" at *pp. On success *pp points after '>'. */
static enum smtp_reply_id parse_path(const char **pp, char addr[SMTP_PATH_MAX], bool allow_null,
                                     enum smtp_reply_id bad)
{
	const char *p = *pp, *start, *end;
	long n;

	if (*p != '<')
		return bad == RPL_BAD_SENDER ? RPL_SYNTAX_MAIL : RPL_SYNTAX_RCPT;
	n = path_content_len(p + 1);
	if (n < 0)
		return bad == RPL_BAD_SENDER ? RPL_SYNTAX_MAIL : RPL_SYNTAX_RCPT;
	start = p + 1;
	end = start + n;
	*pp = end + 1;
	if (n == 0) {
		addr[0] = '\0';
		return allow_null ? RPL_OK : bad;
	}
	start = skip_source_route(start, end);
	if (start == NULL || start >= end || (size_t)(end - start) >= SMTP_PATH_MAX - 2)
		return bad;
	memcpy(addr, start, (size_t)(end - start));
	addr[end - start] = '\0';
	if (!smtp_parse_is_mailbox(addr))
		return bad;
	str_lower(addr);
	return RPL_OK;
}

/* Reads one "KEYWORD[=VALUE]" (RFC 5321 4.1.2 esmtp-param) at *pp into kw/val. */
static int next_param(const char **pp, char *kw, size_t kwlen, char *val, size_t vallen)
{
	const char *p = *pp;
	size_t n = 0;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	while (isalnum((unsigned char)p[n]) || (n > 0 && p[n] == '-'))
		n++;
	if (n == 0 || n >= kwlen)
		return -1;
	memcpy(kw, p, n);
	kw[n] = '\0';
	p += n;
	val[0] = '\0';
	if (*p == '=') {
		p++;
		/* up to the next space: a stray "=" or other misfit is for the parameter's own
		 * parser to refuse, so that its reply names the parameter */
		for (n = 0; (unsigned char)p[n] > 32 && (unsigned char)p[n] < 127; n++)
			;
		if (n == 0 || n >= vallen)
			return -1;
		memcpy(val, p, n);
		val[n] = '\0';
		p += n;
	}
	if (*p != '\0' && *p != ' ')
		return -1;
	*pp = p;
	return 1;
}

static enum smtp_reply_id mail_param(const char *kw, const char *val, struct smtp_mail_params *p)
{
	if (str_ieq(kw, "SIZE")) {
		if (p->has_size || str_to_u64(val, UINT64_MAX, &p->size) < 0)
			return RPL_SYNTAX;
		p->has_size = true;
		return RPL_OK;
	}
	if (str_ieq(kw, "BODY")) {
		if (p->body)
			return RPL_SYNTAX;
		if (str_ieq(val, "7BIT"))
			p->body = 7;
		else if (str_ieq(val, "8BITMIME"))
			p->body = 8;
		else
			return RPL_BAD_BODY;
		return RPL_OK;
	}
	/* RFC 6531 3.4 and RFC 8689 4.1: keywords without a value, once each */
	if (str_ieq(kw, "SMTPUTF8") || str_ieq(kw, "REQUIRETLS")) {
		bool *flag = str_ieq(kw, "SMTPUTF8") ? &p->smtputf8 : &p->requiretls;
		if (*flag || val[0])
			return RPL_SYNTAX;
		*flag = true;
		return RPL_OK;
	}
	/* RFC 4954 5: AUTH= may be sent to any server that offers AUTH; it is only
	 * meaningful between trusted relays, so it is accepted and ignored. */
	if (str_ieq(kw, "AUTH") && val[0])
		return RPL_OK;
	return smtp_dsn_mail_param(kw, val, &p->dsn);
}

/* A parameter's value: the longest, ORCPT's (RFC 3461 4.2: 500), fits with room, so
 * that a longer one reaches its parser and is refused by name. */
#define PARAM_VALUE_SIZE 1024

enum smtp_reply_id smtp_parse_mail(const char *args, char addr[SMTP_PATH_MAX], struct smtp_mail_params *p)
{
	char kw[32], val[PARAM_VALUE_SIZE];
	enum smtp_reply_id r;
	int more;

	memset(p, 0, sizeof(*p));
	addr[0] = '\0';
	if (!str_iprefix(args, "FROM:"))
		return RPL_SYNTAX_MAIL;
	args += 5;
	while (*args == ' ')
		args++;
	r = parse_path(&args, addr, true, RPL_BAD_SENDER);
	if (r != RPL_OK)
		return r;
	if (*args != '\0' && *args != ' ')
		return RPL_SYNTAX_MAIL;
	while ((more = next_param(&args, kw, sizeof(kw), val, sizeof(val))) == 1) {
		r = mail_param(kw, val, p);
		if (r != RPL_OK)
			return r;
	}
	if (more < 0)
		return RPL_SYNTAX;
	/* RFC 6531 3.3: a UTF-8 reverse-path only in an SMTPUTF8 transaction */
	return p->smtputf8 || smtp_parse_is_ascii(addr) ? RPL_OK : RPL_NEED_SMTPUTF8;
}

enum smtp_reply_id smtp_parse_rcpt(const char *args, char addr[SMTP_PATH_MAX], struct dsn_rcpt *dsn)
{
	char kw[32], val[PARAM_VALUE_SIZE];
	enum smtp_reply_id r;
	int more;

	memset(dsn, 0, sizeof(*dsn));
	addr[0] = '\0';
	if (!str_iprefix(args, "TO:"))
		return RPL_SYNTAX_RCPT;
	args += 3;
	while (*args == ' ')
		args++;
	r = parse_path(&args, addr, false, RPL_BAD_RECIPIENT);
	if (r != RPL_OK)
		return r;
	if (*args != '\0' && *args != ' ')
		return RPL_SYNTAX_RCPT;
	while ((more = next_param(&args, kw, sizeof(kw), val, sizeof(val))) == 1) {
		r = smtp_dsn_rcpt_param(kw, val, dsn);
		if (r != RPL_OK)
			return r;
	}
	return more < 0 ? RPL_SYNTAX : RPL_OK;
}

int smtp_parse_bdat(const char *args, uint64_t *size, bool *last)
{
	size_t n = 0;
	uint64_t v = 0;

	*size = 0;
	*last = false;
	/* 18 digits cannot overflow, and no chunk is ever near 10^18 octets. */
	for (; isdigit((unsigned char)args[n]); n++) {
		if (n == 18)
			return -1;
		v = v * 10 + (uint64_t)(args[n] - '0');
	}
	if (n == 0)
		return -1;
	args += n;
	if (*args == ' ' && str_ieq(args + 1, "LAST"))
		*last = true;
	else if (*args != '\0')
		return -1;
	*size = v;
	return 0;
}

int smtp_parse_helo(const char *args, char out[SMTP_DOMAIN_MAX])
{
	size_t n = 0;

	while ((unsigned char)args[n] > 32 && (unsigned char)args[n] < 127)
		n++;
	if (n == 0 || n >= SMTP_DOMAIN_MAX)
		return -1;
	/* Only trailing spaces may follow the one argument. */
	for (size_t i = n; args[i]; i++)
		if (args[i] != ' ')
			return -1;
	memcpy(out, args, n);
	out[n] = '\0';
	return 0;
}

int smtp_parse_auth(const char *args, char *mech, size_t mechlen, const char **resp)
{
	size_t n = 0;

	while (isalnum((unsigned char)args[n]) || args[n] == '-' || args[n] == '_') {
		if (n + 1 >= mechlen)
			return -1;
		mech[n] = (char)toupper((unsigned char)args[n]);
		n++;
	}
	mech[n] = '\0';
	if (n == 0 || (args[n] != '\0' && args[n] != ' '))
		return -1;
	args += n;
	while (*args == ' ')
		args++;
	*resp = args;
	for (n = 0; args[n]; n++)
		if (args[n] == ' ')
			return -1;
	return 0;
}
