/* smtp_dsn.h: the DSN parameters of MAIL and RCPT (RFC 3461 4), pure functions for
 * smtp_parse.c, unit-tested from tables and fuzzed (tests/fuzz/fuzz_smtp_dsn.c).
 *
 * Each parameter is accepted once; a repeated or malformed one gets a 501 5.5.4 that
 * names it (the session goes on). */
#ifndef MSS_SMTP_DSN_H
#define MSS_SMTP_DSN_H

#include "lib/dsn.h"
#include "smtpd/smtp_reply.h"

/* One MAIL parameter kw=val: RET=FULL|HDRS, ENVID=xtext (at most DSN_ENVID_MAX).
 * Returns RPL_OK (m updated), RPL_DSN_RET or RPL_DSN_ENVID (repeated or malformed), or
 * RPL_PARAM_UNKNOWN when kw is not a DSN keyword of MAIL (m untouched). */
enum smtp_reply_id smtp_dsn_mail_param(const char *kw, const char *val, struct dsn_mail *m);
/* One RCPT parameter: NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY (each once);
 * ORCPT=addr-type;xtext with addr-type rfc822 (xtext, decoded printable US-ASCII) or
 * utf-8 (RFC 6533 utf-8-addr-xtext: printable US-ASCII but "+" and "=", "\x{HEX}" for
 * other characters), at most DSN_ORCPT_MAX in all. Returns RPL_OK, RPL_DSN_NOTIFY,
 * RPL_DSN_ORCPT, or RPL_PARAM_UNKNOWN as above. */
enum smtp_reply_id smtp_dsn_rcpt_param(const char *kw, const char *val, struct dsn_rcpt *r);

#endif
