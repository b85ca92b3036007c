/* vault_notify.h: telling the patient what happened to their vault.
 *
 * A notification is a short message in the patient's INBOX, From the service
 * address of patient_domain, in French, naming at most the document class and the
 * author or professional: never a title, a file name or any content. When
 * notify_command is set, it is also run as `notify_command KIND PATIENT-ADDRESS`
 * (KIND: document.added, document.changed, vault.opened), without a shell, with
 * stdin/stdout on /dev/null, killed after notify_timeout seconds; its failure is
 * logged and never blocks delivery. Each notification is audited. A kind of notice the
 * patient turned off (vault_settings.h) is neither stored nor passed to the command. */
#ifndef MSS_VAULT_NOTIFY_H
#define MSS_VAULT_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"
#include "store/store.h"

struct vault_notice_item {
	const char *class_name; /* "Biologie" */
	const char *author;     /* as the document's metadata say ("Jean MARTIN"), "" when they do not */
	const char *sender;     /* who sent it, as the patient knows them ("Dr Durand") */
	bool changed;           /* a new version of a document already filed */
};

/* One message for the documents filed from one incoming message (n >= 1).
 * Returns 0 (also when the patient turned these notices off), or -1 (logged) when it could not be stored. */
int vault_notify_documents(struct store *store, const char *patient, const struct vault_notice_item *items,
                           size_t n);
/* The same without notify_command, for a caller that stores the notice inside its
 * transaction and must not run a command (for up to notify_timeout seconds) while it
 * holds the write lock, nor announce what it has not committed (vault_file_delivery):
 * *command_kind is the KIND to run it with once committed, NULL for none. */
int vault_notice_documents(struct store *store, const char *patient, const struct vault_notice_item *items,
                           size_t n, const char **command_kind);

/* A professional opened the patient's vault (imapd: SELECT/EXAMINE of a shared
 * Patients/<patient>/Documents... mailbox). At most one notice per professional and
 * patient per notify_access_interval seconds (0: every time). Returns 1 sent, 0 not
 * needed (already told recently, or the patient turned these notices off), -1 error (logged). */
int vault_notify_access(struct store *store, const char *patient, const char *professional);

/* Retention (DESIGN.md): tells the account's INBOX, and notify_command with KIND
 * account.inactive, that without a login it will be deleted after delete_after (Unix
 * time). Audited. Returns 0, or -1 when the message could not be stored (logged). */
int vault_notify_inactive(struct store *store, const char *address, int64_t delete_after);

/* Runs notify_command KIND PATIENT when configured. Returns 0 (also when not
 * configured), -1 when it failed or timed out (logged). Waits at most notify_timeout. */
int vault_notify_command(const struct mss_config *cfg, const char *kind, const char *patient);

#endif
