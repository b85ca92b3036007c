/* vault_settings.h: what the patient chose to be told (notification settings).
 *
 * A patient may turn off each kind of notice vault_notify.h sends: documents filed or
 * replaced in the vault (document.added, document.changed) and a professional opening
 * the vault (vault.opened). What is turned off is neither put in INBOX nor passed to
 * notify_command; the event itself is still audited and shown in the history. The
 * retention warning (account.inactive) cannot be turned off. Without a row every
 * notice is on (table vault_settings, component "vault" step 5). A change is audited
 * ("settings.notify", with the patient) so that it shows in the history. */
#ifndef MSS_VAULT_SETTINGS_H
#define MSS_VAULT_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "vault/vault_access.h"

struct vault_settings {
	bool notify_documents; /* document.added, document.changed */
	bool notify_access;    /* vault.opened */
};

/* Reads patient's settings into out (every notice on when none were saved). Returns
 * 0, or -1 on a database error (out then says every notice on: telling too much is
 * safer than telling nothing). */
int vault_settings_get(struct store *st, const char *patient, struct vault_settings *out);

/* Saves s for patient (a patient account here) and audits it. Returns 0, 1 refused
 * with err (not a patient account), -1 error with err. Opens its own write
 * transaction. */
int vault_settings_set(struct store *st, const struct vault_actor *who, const char *patient,
                       const struct vault_settings *s, char *err, size_t errlen);

#endif
