/* vault.h: the patient's document vault (coffre-fort): filing documents that reach a
 * patient into Documents/<Class>, and where they are kept.
 *
 * policy_deliver calls vault_file_message once per patient recipient, after the
 * message is durably stored: filing never loses or delays the message itself.
 *
 * Where documents live (imapd serves them from there):
 * - each document is a message of the patient's own mailbox "Documents/<Class>"
 *   (store user = the patient), with the original file attached byte for byte and the
 *   headers X-MSS-Document-Class, X-MSS-Document-Type (LOINC code, else MIME type),
 *   X-MSS-Author, X-MSS-Source-Message-ID; a document the sender marked MASQUE_PS
 *   carries the keyword $Masked from the start (hidden from professionals, as when
 *   the patient sets it).
 * - a document marked INVISIBLE_PATIENT is never put in the patient's mailboxes: it
 *   goes to the store user vault_ps_user() (a service account without login), mailbox
 *   "<patient-address>/Documents/<Class>", for professionals only, and is never
 *   notified to the patient.
 * - the table vault_document indexes both (no titles, no file names: those stay in
 *   the encrypted message). */
#ifndef MSS_VAULT_H
#define MSS_VAULT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"
#include "store/store.h"
#include "vault/vault_message.h"

#define VAULT_SERVICE_LOCALPART "service"         /* From: of notifications and reports */
#define VAULT_PS_LOCALPART "vault-professionnels" /* holder of INVISIBLE_PATIENT documents */
#define VAULT_MASKED_KEYWORD "$Masked"

/* "service@<patient_domain>": the sender of notifications and integration reports. */
int vault_service_address(const struct mss_config *cfg, char *out, size_t outlen);
/* "vault-professionnels@<patient_domain>": the store user holding INVISIBLE_PATIENT
 * documents (created on first use, no directory account, so no one logs in as it). */
int vault_ps_user(const struct mss_config *cfg, char *out, size_t outlen);
/* "<patient>/Documents/<Class>": that user's mailbox for one patient and class. */
int vault_ps_mailbox(const char *patient, const char *class_name, char *out, size_t outlen);

/* True when name is a vault folder of the patient: "Documents" or "Documents/<Class>". */
bool vault_is_documents_mailbox(const char *name);

struct vault_file_report {
	unsigned filed;   /* documents filed (visible to the patient or not) */
	unsigned refused; /* documents not filed (identity mismatch, over limits, ...) */
	int error_code;   /* first integration error sent to the sender (902...906), 0 none */
};

/* Files every document that message m carries for patient (a patient account, the
 * message already stored in its INBOX): PDF, CDA XML, images, plain-text reports,
 * IHE XDM archives (each document inside filed with its metadata). A document whose
 * INS does not match the patient is not filed and the sender receives an integration
 * error report ([KO Intégration système !][904], local senders only: see doc).
 * Notifies the patient, audits each document. Never fails the delivery: returns 0,
 * or -1 on an internal error (logged, audited), with rep filled as far as it went. */
int vault_file_message(struct store *store, const struct policy_message *m, const char *patient,
                       struct vault_file_report *rep);

/* What policy_deliver calls after storing m: vault_file_message for each recipient
 * that is a patient account (others are left alone). Never fails the delivery. */
void vault_file_delivery(struct store *store, const struct policy_message *m);

/* The copy of a message that a patient's INBOX gets (vault_patient_copy.c). When the
 * message carries documents marked INVISIBLE_PATIENT, returns 1 with out = the message
 * without the parts holding them (the XDM archive, and the readable copies sent beside
 * it), each replaced by a short French text part saying that an attachment reserved
 * for professionals went to the care team, and with a new Message-ID (the message as
 * sent is never in a patient's mailbox). Returns 0 when there is nothing to withhold
 * (deliver the message as it is), -1 on error. Nothing is lost: vault_file_message
 * files those documents, from the original, for professionals (vault_ps_user()). */
struct buf;
int vault_patient_copy(const struct mss_config *cfg, const char *data, size_t len, struct buf *out);

/* Work the caller commits with the delivery (store_delivery.in_transaction). */
struct vault_inbox_hook {
	int (*fn)(void *arg, char *err, size_t errlen);
	void *arg;
};
/* What policy_deliver calls to store m in its recipients' INBOX: one store_deliver as
 * before, except that patient recipients get vault_patient_copy() when it withholds
 * something (then two deliveries: others first, the hook with the last one). hook may
 * be NULL. Returns 0 or -1 with err. */
int vault_deliver_inbox(struct store *store, const struct policy_message *m,
                        const struct vault_inbox_hook *hook, char *err, size_t errlen);

/* Loads the administrator's class table from cfg->vault_classes_file once per process
 * (vault_file_message calls it). Returns 0, or -1 with err (built-in table kept). */
int vault_classes_init(const struct mss_config *cfg, char *err, size_t errlen);

#endif
