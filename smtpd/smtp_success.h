/* smtp_success.h: the success reports of local deliveries (RFC 3461 NOTIFY=SUCCESS).
 *
 * Once a message is stored (policy_deliver returned 0), each local recipient whose
 * NOTIFY asked for SUCCESS is named in one report, Action: delivered, written by the
 * one report writer (relay_bounce.h) and sent to the sender: its INBOX when the session
 * logged in as a local account, through the outbound queue to a sender at another
 * operator of the trust space. Remote recipients are the queue's (relay_queue.h). */
#ifndef MSS_SMTP_SUCCESS_H
#define MSS_SMTP_SUCCESS_H

#include "smtpd/smtp_data.h"
#include "smtpd/smtp_session.h"

/* Sends the report for s's transaction (d: the stored message, qid its id), if one is
 * due. A failure is logged; the message is delivered whatever happens here. */
void smtp_success_reports(struct smtp_session *s, const struct smtp_data *d, const char *qid);

#endif
