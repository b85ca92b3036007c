/* fuzz-libs: smtpd lib */
/* fuzz_smtp_dsn: the DSN parameters of MAIL and RCPT (smtpd/smtp_dsn.c, RFC 3461) and
 * the xtext codec (lib/dsn.c) on arbitrary input. The input is "KEYWORD=value" (split at
 * the first "="), tried as a MAIL and as a RCPT parameter. Besides crashes, checks the
 * contracts the reports rely on: what is kept is printable US-ASCII (it is written into
 * report fields: never a CR or LF), within its limit, and ENVID's and ORCPT's address
 * encode back to xtext that decodes to the same text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtp_dsn.h"

static void check_printable(const char *s, size_t max)
{
	if (strlen(s) > max)
		abort();
	for (const char *p = s; *p; p++)
		if (*p < ' ' || *p > '~')
			abort();
}

static void check_round_trip(const char *s)
{
	char enc[3 * DSN_ORCPT_MAX + 1], dec[DSN_ORCPT_MAX + 1];
	if (dsn_xtext_encode(s, enc, sizeof enc) != 0 || dsn_xtext_decode(enc, dec, sizeof dec) != 0 ||
	    strcmp(s, dec) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[1100], kw[32];
	struct dsn_mail m;
	struct dsn_rcpt r;
	if (size >= sizeof buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (strlen(buf) != size)
		return 0;
	const char *eq = strchr(buf, '=');
	size_t klen = eq ? (size_t)(eq - buf) : size;
	if (klen >= sizeof kw)
		return 0;
	memcpy(kw, buf, klen);
	kw[klen] = '\0';
	const char *val = eq ? eq + 1 : "";
	memset(&m, 0, sizeof m);
	memset(&r, 0, sizeof r);
	if (smtp_dsn_mail_param(kw, val, &m) == RPL_OK) {
		check_printable(m.envid, DSN_ENVID_MAX);
		check_round_trip(m.envid);
		if (smtp_dsn_mail_param(kw, val, &m) == RPL_OK) /* never twice */
			abort();
	}
	if (smtp_dsn_rcpt_param(kw, val, &r) == RPL_OK) {
		check_printable(r.orcpt, DSN_ORCPT_MAX);
		check_round_trip(r.orcpt);
		if ((r.notify & DSN_NOTIFY_NEVER) && r.notify != DSN_NOTIFY_NEVER)
			abort();
		if (smtp_dsn_rcpt_param(kw, val, &r) == RPL_OK)
			abort();
	}
	char dec[1100];
	if (dsn_xtext_decode(buf, dec, sizeof dec) == 0)
		check_printable(dec, sizeof dec);
	return 0;
}
