/* dsn.h: Delivery Status Notification parameters (RFC 3461) as they travel with a
 * message: the transaction's RET and ENVID, each recipient's NOTIFY and ORCPT. Parsed
 * by smtpd (smtpd/smtp_dsn.h), kept with a queued message (queue/queue.h), honoured by
 * the reports (smtpd/relay_bounce.h) and passed on to a next hop that offers DSN.
 *
 * Values are kept decoded (xtext, RFC 3461 4), printable US-ASCII only, so that a
 * report can write them into its fields as they are; dsn_xtext_encode gives the wire
 * form back for the next hop. */
#ifndef MSS_DSN_H
#define MSS_DSN_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/check.h"

/* RFC 3461 4.4: an ENVID is at most 100 characters (its xtext form). */
#define DSN_ENVID_MAX 100
/* RFC 3461 4.2: an ORCPT value ("addr-type;xtext") is at most 500 characters. */
#define DSN_ORCPT_MAX 500

/* NOTIFY (RFC 3461 4.1). 0 = not given: FAILURE and DELAY, as without DSN. */
#define DSN_NOTIFY_SUCCESS 0x1
#define DSN_NOTIFY_FAILURE 0x2
#define DSN_NOTIFY_DELAY 0x4
#define DSN_NOTIFY_NEVER 0x8
#define DSN_NOTIFY_ALL (DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY | DSN_NOTIFY_NEVER)

/* RET (RFC 3461 4.3). */
enum dsn_ret {
	DSN_RET_NONE = 0,
	DSN_RET_FULL = 1,
	DSN_RET_HDRS = 2,
};

/* The transaction's parameters (MAIL). */
struct dsn_mail {
	enum dsn_ret ret;
	char envid[DSN_ENVID_MAX + 1]; /* decoded; "" when not given */
};

/* One recipient's parameters (RCPT). */
struct dsn_rcpt {
	unsigned notify;               /* DSN_NOTIFY_* bits, 0 when not given */
	char orcpt[DSN_ORCPT_MAX + 1]; /* "addr-type;address" decoded, "" when not given */
};

/* Whether a report of kind event (one DSN_NOTIFY_* bit other than NEVER) is due for a
 * recipient whose NOTIFY is notify (0: FAILURE and DELAY). */
bool dsn_notify_wants(unsigned notify, unsigned event);

/* Decodes xtext (RFC 3461 4: "+" two uppercase hex digits, else "!".."~" but "+" and
 * "="). The decoded text must be printable US-ASCII (space to "~"): it goes into report
 * fields, so never a CR or LF. Returns 0, or -1 when malformed or longer than outlen-1. */
MSS_MUST_CHECK int dsn_xtext_decode(const char *in, char *out, size_t outlen);
/* Encodes printable US-ASCII as xtext ("+", "=" and anything outside "!".."~" as
 * "+HH"). Returns 0, or -1 when it does not fit. */
MSS_MUST_CHECK int dsn_xtext_encode(const char *in, char *out, size_t outlen);
/* The NOTIFY keyword list for notify ("SUCCESS,DELAY", "NEVER"; "" for 0). */
void dsn_notify_format(unsigned notify, char out[32]);

#endif
