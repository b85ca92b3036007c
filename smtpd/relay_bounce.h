/* relay_bounce.h: the one writer of delivery status notifications (RFC 3464), in French
 * and English: a failure report naming each failed recipient with the remote server's
 * reply (Action: failed), a delay warning once a message has waited
 * RELAY_DELAY_WARNING (Action: delayed), and the success reports DSN asks for (RFC 3461
 * NOTIFY=SUCCESS: Action: delivered for a local delivery, Action: relayed when the next
 * hop does not offer DSN). The report is multipart/report;
 * report-type=delivery-status: a text part, the message/delivery-status part (with
 * Original-Envelope-Id and Original-Recipient from ENVID and ORCPT), and the original
 * message's header (text/rfc822-headers: never its body, which may hold health data the
 * report has no need of; so RET=FULL gets the header too, as RFC 3461 4.3 lets a
 * server do). Reports go only to a non-null sender (RFC 5321 6.1: never a report
 * about a report): a local account's INBOX, or through the outbound queue to a sender
 * at another operator of the trust space. Which reports are due is the caller's
 * NOTIFY decision (lib/dsn.h dsn_notify_wants). A report about an SMTPUTF8 message (a
 * UTF-8 address or header field) is RFC 6533's global form: report-type and part
 * message/global-delivery-status, a UTF-8 recipient as "utf-8;", message/global-headers. */
#ifndef MSS_RELAY_BOUNCE_H
#define MSS_RELAY_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/dsn.h"
#include "store/store.h"

#define RELAY_DELAY_WARNING (4 * 3600) /* DESIGN.md: a delay warning after 4 hours */

/* What a report says of its recipients (its Action field, RFC 3464 2.3.3). */
enum relay_action {
	RELAY_ACTION_FAILED = 0,
	RELAY_ACTION_DELAYED,
	RELAY_ACTION_DELIVERED, /* stored in a local mailbox */
	RELAY_ACTION_RELAYED,   /* taken by a next hop that does not offer DSN */
};

/* One recipient of a report. */
struct relay_failure {
	const char *rcpt;
	const char *reply; /* the remote reply or the local reason, one printable line */
	bool expired;      /* a temporary failure given up at queue_lifetime: Status 5.4.7
	                    * (RFC 3463 "delivery time expired"), whatever the last reply said */
	const char *orcpt; /* ORCPT, "addr-type;address" (lib/dsn.h), "" or NULL when none */
};

struct relay_report {
	const char *qid;
	const char *mail_from;
	const char *account; /* the local sender's account; "" for a sender elsewhere */
	int64_t created;
	const char *remote_mta; /* the next hop's name, "" when none was reached */
	enum relay_action action;
	const char *envid; /* ENVID (lib/dsn.h), "" or NULL when none */
	const struct relay_failure *rcpts;
	size_t n;
};

/* Builds the report into out (CRLF lines). header: the original message's header
 * block (may be cut). Returns 0 or -1. */
int relay_report_build(const struct mss_config *cfg, const struct relay_report *r, const char *header,
                       size_t hlen, int64_t now, struct buf *out);
/* The status code (RFC 3463) of a reply line: its enhanced code when it has a valid one
 * of the action's class, else 5.0.0 (failed) / 4.0.0 (delayed) / 2.0.0 (delivered,
 * relayed). Written into out[16]. */
void relay_report_status(const char *reply, enum relay_action action, char out[16]);
/* Builds the report for r with header (the original message's header block, cut at
 * 64 KiB) and sends it: into r->account's INBOX, or, when r->account is "", through
 * the outbound queue to r->mail_from at another operator listed in the trust list.
 * Audited relay.bounce, relay.delay or dsn.success in the same transaction. Returns 0,
 * 1 when no report can go (the null sender, no recipient, a sender neither local nor
 * in the trust space), -1 with err. */
int relay_report_deliver(struct store *st, const struct relay_report *r, const char *data, size_t len,
                         char *err, size_t errlen);
/* relay_report_deliver for a queued message r->qid (its header read from the queue). */
int relay_report_send(struct store *st, const struct relay_report *r, char *err, size_t errlen);

#endif
