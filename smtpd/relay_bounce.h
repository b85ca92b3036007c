/* relay_bounce.h: delivery status notifications for the relay (RFC 3464), in French
 * and English, put in the local sender's INBOX: a failure report naming each failed
 * recipient with the remote server's reply (Action: failed), or a delay warning once a
 * message has waited RELAY_DELAY_WARNING (Action: delayed). The report is
 * multipart/report; report-type=delivery-status: a text part, the message/delivery-status
 * part, and the original message's header (text/rfc822-headers: never its body, which
 * may hold health data the report has no need of). Reports go only to a local
 * account's non-null sender (RFC 5321 6.1: never a report about a report). */
#ifndef MSS_RELAY_BOUNCE_H
#define MSS_RELAY_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "store/store.h"

#define RELAY_DELAY_WARNING (4 * 3600) /* DESIGN.md: a delay warning after 4 hours */

struct relay_failure {
	const char *rcpt;
	const char *reply; /* the remote reply or the local reason, one printable line */
	bool expired;      /* a temporary failure given up at queue_lifetime: Status 5.4.7
	                    * (RFC 3463 "delivery time expired"), whatever the last reply said */
};

struct relay_report {
	const char *qid;
	const char *mail_from;
	const char *account; /* the local sender's account ("" = none: no report) */
	int64_t created;
	const char *remote_mta; /* the next hop's name, "" when none was reached */
	bool delayed;           /* a delay warning rather than a failure */
	const struct relay_failure *rcpts;
	size_t n;
};

/* Builds the report into out (CRLF lines). header: the original message's header
 * block (may be cut). Returns 0 or -1. */
int relay_report_build(const struct mss_config *cfg, const struct relay_report *r, const char *header,
                       size_t hlen, int64_t now, struct buf *out);
/* The status code (RFC 3463) of a reply line: its enhanced code when it has a valid one
 * of the right class, else 5.0.0 (failed) / 4.0.0 (delayed). Written into out[16]. */
void relay_report_status(const char *reply, bool delayed, char out[16]);
/* Builds the report for r (reading the queued message's header) and stores it in
 * the sender's INBOX, audited relay.bounce or relay.delay. Returns 0, 1 when no report
 * is due (no local sender, or the null sender), -1 with err. */
int relay_report_send(struct store *st, const struct relay_report *r, char *err, size_t errlen);

#endif
