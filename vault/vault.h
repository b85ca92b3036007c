/* vault.h: the patient's document vault (coffre-fort): filing documents that reach a
 * patient into Documents/<Class>, and where they are kept.
 *
 * policy_deliver calls vault_file_delivery, which files for each patient recipient,
 * after the message is durably stored: filing never loses or delays the message itself.
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
#define VAULT_SUPERSEDED_KEYWORD "$Superseded" /* an earlier version a replacement superseded */

/* "service@<patient_domain>": the sender of notifications and integration reports. */
int vault_service_address(const struct mss_config *cfg, char *out, size_t outlen);
/* "vault-professionnels@<patient_domain>": the store user holding INVISIBLE_PATIENT
 * documents (created on first use, no directory account, so no one logs in as it). */
int vault_ps_user(const struct mss_config *cfg, char *out, size_t outlen);
/* "<patient>/Documents/<Class>": that user's mailbox for one patient and class. */
int vault_ps_mailbox(const char *patient, const char *class_name, char *out, size_t outlen);

/* True when name is a vault folder of the patient: "Documents" or "Documents/<Class>". */
bool vault_is_documents_mailbox(const char *name);
/* True when name is a folder of the patient that granted professionals read
 * (DESIGN.md): a vault folder, or "Profil", "Constantes", "Vaccinations". */
bool vault_is_shared_mailbox(const char *name);

struct vault_file_report {
	unsigned filed;          /* documents filed (visible to the patient or not) */
	unsigned refused;        /* documents not filed (identity mismatch, over limits, ...) */
	int error_code;          /* first integration error sent to the sender (902...906), 0 none */
	const char *notice_kind; /* notify_command's KIND to run once committed, NULL none */
};

struct vault_delivery;
struct vault_rcpt;
/* What policy_deliver calls after storing the message (in each patient recipient's
 * INBOX): files every document that the message carries for each recipient that is a
 * patient account (others are left alone): PDF, CDA XML, images, plain-text reports,
 * IHE XDM archives (each document inside filed with its metadata; the documents sent
 * beside an archive are its readable copies, attached to the document they render).
 * Reads the delivery's one inspection (vault_inspect.h); parses nothing again. A
 * document whose INS does not match the patient, one that was not inspected, and parts
 * withheld from the patient's copy without being filed are reported to the sender
 * ([KO Intégration système !][<code>], local senders only: see doc). Notifies the
 * patient, audits each document. Every patient's documents are read, built and sealed
 * first (the filing plan, vault_filing.h), then their rows written in one write
 * transaction (or inside the caller's when one is open), then notify_command run for
 * each notice once committed. Never fails the delivery. */
void vault_file_delivery(struct store *store, const struct vault_delivery *d);
/* The same in steps, for a caller that writes the filing's rows in the delivery's own
 * transaction (policy_deliver: a message is then never stored without its filing).
 * vault_file_plan_all, before the transaction: every patient's plan; it needs a write
 * transaction when vault_file_writes(d) (the caller asks before choosing one).
 * vault_file_rows_all, inside the caller's transaction: the rows, the reports.
 * vault_file_end, after it: notify_command when committed, and frees run (NULL is
 * fine); a plan's document never stored has its blob file removed. */
struct vault_filing_run;
bool vault_file_writes(const struct vault_delivery *d);
struct vault_filing_run *vault_file_plan_all(struct store *store, const struct vault_delivery *d);
void vault_file_rows_all(struct vault_filing_run *run);
void vault_file_end(struct vault_filing_run *run, bool committed);

/* Work the caller commits with the delivery (store_delivery.in_transaction). */
struct vault_inbox_hook {
	int (*fn)(void *arg, char *err, size_t errlen);
	void *arg;
};
/* What policy_deliver calls to store the message in its recipients' INBOX: the message
 * as sent to the others, and to each patient the copy vault_copy.h decides (patients
 * whose copies are the same share one delivery; a patient whose copy changes nothing
 * gets the message as sent). The hook runs with the last delivery. hook may be NULL.
 * In two steps (store_deliver_prepare's reasons): the prepare, before the transaction,
 * decides the versions, builds the patients' copies and prepares each for the store
 * (sealed, blobs written); *out is set either way, give it to vault_inbox_free. The
 * rows, in the transaction, store each version in turn. d and the hook's arg must live
 * until the rows. Each returns 0 or -1 with err. */
struct vault_inbox_plan;
int vault_inbox_prepare(struct store *store, const struct vault_delivery *d,
                        const struct vault_inbox_hook *hook, struct vault_inbox_plan **out, char *err,
                        size_t errlen);
int vault_inbox_rows(struct store *store, struct vault_inbox_plan *p, char *err, size_t errlen);
/* The copy recipient i of d, a patient, gets (vault_copy.h): decided from d's
 * inspection, or given (policy_message.copies, checked to fit by vault_delivery_open);
 * for a message that could not be parsed, its header and a note. Returns 0 (free it
 * with vault_copy_plan_free), -1 on memory only. */
struct vault_copy_plan;
int vault_copy_for(const struct vault_delivery *d, size_t i, struct vault_copy_plan *plan);
/* Frees p (NULL is fine), removing the blob files of versions never stored. */
void vault_inbox_free(struct store *store, struct vault_inbox_plan *p);

/* Loads the administrator's class table from cfg->vault_classes_file once per process
 * (vault_file_delivery calls it). Returns 0, or -1 with err (built-in table kept). */
int vault_classes_init(const struct mss_config *cfg, char *err, size_t errlen);

/* vault_forget.c, for account deletion. Inside the caller's write transaction:
 * removes the index rows, grants, notices, history position and blocks of address as
 * patient, and its grants and notices as professional (a patient's block of that
 * address stays). Returns 0 or -1 with err. */
int vault_forget_account(struct store *st, const char *address, char *err, size_t errlen);
/* After that commit: deletes the professionals' copies of the patient's
 * INVISIBLE_PATIENT documents. Returns 0 or -1 with err. */
int vault_forget_hidden_documents(struct store *st, const char *patient, char *err, size_t errlen);

#endif
