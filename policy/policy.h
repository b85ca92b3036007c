/* policy.h: who may write to whom, and delivery with its consequences.
 *
 * mss-smtpd asks; policy decides. One call per RCPT. The sender is described by how
 * the session authenticated, never by the MAIL FROM text alone. */
#ifndef MSS_POLICY_H
#define MSS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "lib/status.h"
#include "store/store.h"
#include "vault/vault_message.h"

/* Applies every component's migrations (directory, store, audit, policy, vault) on db:
 * run by mssctl init and at each daemon's start (idempotent). Returns 0 or -1 + err. */
int policy_schema_migrate(sqlite3 *db, char *err, size_t errlen);

/* Decides MAIL FROM for this sender (e.g. a professional may only send as their own
 * address: 553 5.7.1; an operator must be listed for the MAIL FROM domain: 550 5.7.1).
 * Returns 0 accept, 1 refused (st filled), -1 internal error (st = 451 4.3.0). */
int policy_check_mail(struct store *store, const struct policy_sender *s, const char *mail_from,
                      struct mss_status *st);
/* Decides one RCPT (the conversation rules). Same returns. Audited with its reason. */
int policy_check_rcpt(struct store *store, const struct policy_sender *s, const char *mail_from,
                      const char *rcpt, struct mss_status *st);

/* Delivers an accepted message to its local recipients: stores it (durably), then
 * applies its consequences (authorised contacts, vault filing, notifications) and
 * audits the transaction. Returns 0 when stored (250 may be said), -1 with st filled
 * (451 4.3.0) when nothing was stored. */
int policy_deliver(struct store *store, const struct policy_message *m, struct mss_status *st);

#endif
