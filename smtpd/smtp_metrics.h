/* smtp_metrics.h: what mss-smtpd counts for metrics_listen (lib/metrics.h).
 *
 * Every 4xx and 5xx reply is a refusal with a reason: the name of its row in the reply
 * table (smtp_reply.h), or "policy" for a reply the policy wrote, labelled with its code
 * and enhanced code (a bounded set, never the text, which may hold an address). */
#ifndef MSS_SMTP_METRICS_H
#define MSS_SMTP_METRICS_H

#include "lib/status.h"
#include "smtpd/smtp_reply.h"

/* The reason label of reply id: "relay_denied", ...; NULL for a reply that is no refusal
 * (code below 400). */
const char *smtp_metrics_reason(enum smtp_reply_id id);
/* Counts one refusal by the reply table's row id. */
void smtp_metrics_refusal(enum smtp_reply_id id);
/* Counts one refusal the policy wrote (st->code 400 or more). */
void smtp_metrics_refusal_status(const struct mss_status *st);

#endif
