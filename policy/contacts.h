/* contacts.h: a patient's authorised contacts.
 *
 * A professional who writes to a patient becomes the patient's authorised contact:
 * the message's Reply-To when it is a trust-space address, else its From (REFERENCE.md
 * "Conversation rules"). The contact is closed when that professional's last message
 * ends the exchange (header X-MSS-MES: FIN, or subject exactly "[FIN]"), and open again
 * if they write later. Table: policy_contacts (policy_schema.h); the blocks are the
 * vault's (vault_access.h). */
#ifndef MSS_CONTACTS_H
#define MSS_CONTACTS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"
#include "policy/policy_rules.h"
#include "store/store.h"

/* What a message says about its conversation, read from its header with libetpan. */
struct contact_info {
	char from[256];     /* first From mailbox, lowercase, "" when none */
	char reply_to[256]; /* first Reply-To mailbox, lowercase, "" when none */
	bool fin;           /* X-MSS-MES: FIN, or Subject exactly "[FIN]" */
};

/* What the delivery's one parse (msg/) says of the conversation: the first From and
 * Reply-To mailboxes (lowercase, "" when not an address) and the end of exchange. */
struct msg_header;
void contacts_info_from_header(const struct msg_header *h, struct contact_info *info);

/* The address a patient will reply to: reply_to when in the trust space (a local
 * domain or a listed domain), else from. Returns it ("" when neither). */
const char *contacts_reply_address(struct store *st, const struct contact_info *info);

/* Records (or updates) patient's contact with state open, or closed when fin: the
 * contact's own message (auth/identity.h identity_may_close). Returns 1 when the
 * exchange opened or closed (new contact, or its state changed: what the patient's
 * history records), 0 when it was already in that state (last_seen moved), -1. */
int contacts_record(struct store *st, const char *patient, const char *contact, bool fin);
/* A third party's message naming contact (its Reply-To) to patient: the contact is
 * opened when the patient has none with it; a closed one stays closed, since the
 * contact ended that exchange and only its own message reopens it (as only its own
 * FIN closes one). Returns 1 when the contact was opened (it was none), 0 when
 * it was known already (open or closed, its state unchanged), -1 on error. */
int contacts_record_named(struct store *st, const char *patient, const char *contact);

/* The state of patient's contact. Returns 0 (out set, CONTACT_NONE when unknown) or -1. */
int contacts_state(struct store *st, const char *patient, const char *contact, enum contact_state *out);

/* 1 when patient has blocked sender, 0 when not, -1 on error (vault_is_blocked). */
int contacts_is_blocked(struct store *st, const char *patient, const char *sender);

#endif
