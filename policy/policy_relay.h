/* policy_relay.h: a submitted message's remote recipients go to the outbound queue
 * (queue/queue.h), with the audit record of each in the same transaction. Used by
 * policy_deliver only; policy_check_rcpt has decided who may be reached. */
#ifndef MSS_POLICY_RELAY_H
#define MSS_POLICY_RELAY_H

#include <stddef.h>

#include "lib/status.h"
#include "store/store.h"
#include "vault/vault_message.h"

/* Queues m for the nremote recipients given (durable on return 0: 250 may be said),
 * with m's DSN parameters and remote_dsn (theirs, in remote's order; NULL: none); each
 * gets an "smtp.queue" audit record. Returns 0, or -1 with st 451 4.3.0 and nothing
 * queued. */
int policy_relay_queue(struct store *store, const struct policy_message *m, const char *const *remote,
                       const struct dsn_rcpt *remote_dsn, size_t nremote, struct mss_status *st);
/* Withdraws m from the queue when its local delivery failed after it was queued
 * (audited "queue.withdraw"); failures are logged. */
void policy_relay_withdraw(struct store *store, const struct policy_message *m);

/* policy.c's audit record of a decision (fail closed on -1), for the files of policy/. */
int policy_audit_decision(struct store *store, const struct policy_sender *s, const char *action,
                          const char *target, const char *detail, const struct mss_status *st,
                          const char *patient);

#endif
