/* policy.h: who may write to whom, and delivery with its consequences.
 *
 * mss-smtpd asks; policy decides. One call per RCPT. The sender is described by how
 * the session authenticated, never by the MAIL FROM text alone. */
#ifndef MSS_POLICY_H
#define MSS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "auth/identity.h"
#include "lib/status.h"
#include <sys/types.h>

#include "store/store.h"
#include "vault/vault_message.h"

/* The schema of every part that keeps tables in the store (directory, store, audit,
 * vault, policy), as one: mssctl init creates it and mssctl migrate upgrades it with
 * policy_schema_migrate; the daemons and mssctl's other commands refuse to work on an
 * older or newer one (policy_schema_check). */

/* Applies every part's pending migrations, each step in its own transaction
 * (idempotent; concurrent runs apply each step once). *applied (may be NULL): steps
 * run. Returns 0 or -1 with err naming the part and step. */
int policy_schema_migrate(struct store *st, int *applied, char *err, size_t errlen);
/* Returns 0 when every part is at this code's version; 1 when the store is older
 * (err: "store schema older than this code (store 1 < 2): run mssctl migrate"); 2
 * when newer (err names the part: this code is older than the data); -1 on error. */
int policy_schema_check(struct store *st, char *err, size_t errlen);
/* Whether the daemons can work on cfg's store, checked as they will run: in a child
 * process switched to cfg->user (as lib/master's sessions are), data_dir's files are
 * checked (store_check_data_dir), the store opened and its schema checked. Returns 0,
 * or -1 with err giving the cause and the remedy. The caller's privileges are kept. */
int policy_store_ready(const struct mss_config *cfg, char *err, size_t errlen);

struct account;
/* Deletes an account and everything kept about it except the audit log: the account
 * and its fingerprints, mailboxes, messages and blob files, vault index, grants and
 * notices, authorised contacts, and the professionals' copies of its hidden documents
 * (when a patient). The rows go in one transaction (a failure leaves the account
 * whole), the files after the commit. *deleted: the account as it was. Returns 0, 1
 * when there is no such account, -1 with err (nothing deleted), 2 when the account
 * is deleted but some copies of its hidden documents are left (err says why; running
 * it again cannot reach them: see doc/operations.md). The caller writes the audit
 * record. */
int policy_account_delete(struct store *st, const char *address, struct account *deleted, char *err,
                          size_t errlen);

/* Disables the account (account_disable, which wakes its own sessions) and, for a
 * patient, wakes the professionals' sessions watching her shared folders
 * (vault_wake_readers): her vault is no longer readable by anyone, and an IDLE or
 * NOTIFY there gets its BYE at once. (Deleting needs no such call: the folders' deletion
 * wakes their watchers.) Returns 0, 1 when there is no such account (err), -1 (err). */
int policy_account_disable(struct store *st, const char *address, char *err, size_t errlen);

/* Retention (policy_retention.c, DESIGN.md "Retention"): each account idle (no login
 * since its last login or creation) for inactive_warning is warned once (INBOX message
 * and notify_command account.inactive); idle for inactive_delete, and warned at least
 * inactive_delete - inactive_warning before, it is deleted (policy_account_delete).
 * inactive_delete = 0 turns retention off. Audited as retention.warn and
 * retention.delete. */
struct policy_retention_opts {
	bool dry_run; /* decide and report only */
	/* called for each account acted on (action "warn" or "delete"); may be NULL */
	void (*each)(void *arg, const char *address, const char *action, int64_t idle_days);
	void *arg;
};
struct policy_retention_report {
	size_t accounts, warned, deleted;
};
/* One run at time now. Returns 0, or -1 when something failed (logged; the others
 * are still done). */
int policy_retention_run(struct store *st, int64_t now, const struct policy_retention_opts *o,
                         struct policy_retention_report *r);
/* data_dir/run/retention.lock, so that two runs (both daemons, mssctl) never overlap:
 * returns the locked descriptor (close it to release), -1 when held elsewhere. */
int policy_retention_lock(const struct mss_config *cfg);
/* The daemons' daily run: forks a process that switches to cfg->user, runs retention
 * at once and then every retention_interval seconds, and ends with its parent. Call
 * before binding listeners (the process keeps none). Returns its pid, 0 when retention
 * is off, -1 when fork failed. */
pid_t policy_retention_start(const struct mss_config *cfg);

/* Decides MAIL FROM for this sender (e.g. a professional may only send as their own
 * address: 553 5.7.1; an operator must be listed for the MAIL FROM domain: 550 5.7.1).
 * Returns 0 accept, 1 refused (st filled), -1 internal error (st = 451 4.3.0). */
int policy_check_mail(struct store *store, struct policy_sender *s, const char *mail_from,
                      struct mss_status *st);
/* Decides the author fields of a message at the end of DATA (auth/identity.h: From
 * and Sender must be the identity the sender proved). A refusal is audited. Same
 * returns as policy_check_mail. */
int policy_check_header(struct store *store, const struct policy_sender *s, const char *mail_from,
                        const struct identity_header *h, struct mss_status *st);
/* Decides one RCPT (the conversation rules). Same returns. Audited with its reason.
 * row (may be NULL): the recipient's account as read for the decision (rc -1 when not
 * read: not local, or a database error), for the transaction's delivery
 * (policy_message.rcpt_rows). */
int policy_check_rcpt(struct store *store, const struct policy_sender *s, const char *mail_from,
                      const char *rcpt, struct policy_rcpt_row *row, struct mss_status *st);

/* Delivers an accepted message to its local recipients: stores it (durably), then
 * applies its consequences (authorised contacts, vault filing, notifications) and
 * audits the transaction. Returns 0 when stored (250 may be said), -1 with st filled
 * (451 4.3.0) when nothing was stored. */
int policy_deliver(struct store *store, const struct policy_message *m, struct mss_status *st);

/* The committer's batch (smtpd/committer.h, doc/architecture.md "Durability"):
 * policy_deliver for a message whose recipients are all local (policy_all_local), in
 * three steps, the same code as a session's. policy_deliver_prepare, before the write
 * transaction, does what needs no row given out in it (parse, vault inspection and
 * lookups, the patients' copies, blobs sealed and written, keys sealed to the
 * recipients), writes nothing to the database, and never fails: its failure is given
 * by the next step. m must live until policy_deliver_finish. policy_deliver_stage,
 * inside the write transaction the caller holds open: the rows, the contacts and the
 * audit records (the session's kept ones given with audit_defer_at first) in a
 * savepoint of their own, so a failure leaves the batch's other deliveries whole; the
 * failure's own record joins the batch. Returns 0 with st accepted, or -1 with st
 * filled and nothing of this message stored. */
struct policy_staged;
struct policy_staged *policy_deliver_prepare(struct store *store, const struct policy_message *m);
int policy_deliver_stage(struct store *store, struct policy_staged *staged, struct mss_status *st);
/* After policy_deliver_stage: whether its rows are in (to be filed once committed), as
 * policy_deliver_finish will say of a commit; false for one accepted with nothing
 * stored (a patient's profile section) or not delivered. */
bool policy_deliver_stored(const struct policy_staged *staged);
/* After the caller's commit (committed: it succeeded and was synced): the vault's
 * filing, as policy_deliver files after its commit; else nothing is filed. Frees staged,
 * removing the blob files of a delivery whose rows were never stored (a batch that
 * could not begin). staged may be NULL. Returns true when the message's rows are
 * committed and its filing is the process that inspected it (m->copies given: the
 * committer's session, policy_inspection_end), false otherwise. */
bool policy_deliver_finish(struct store *store, struct policy_staged *staged, bool committed);

/* The session's half of a committer delivery (doc/architecture.md "Durability"): the
 * steps of policy_deliver_prepare that read content no one vouches for run in the
 * session process of the peer who sent it, never in the committer. policy_inspect
 * parses (or borrows m->parsed), inspects for the vault (vault_inspect.h: the XDM
 * archives, the CDA and XDS metadata) and decides each patient recipient's copy; the
 * copies go to the committer (policy_inspection_copies, one per recipient, as
 * policy_message.copies), which builds them from its own parse without inspecting.
 * After the committer's answer, policy_inspection_end files the delivery in the vault
 * when file (the answer said its rows are committed: policy_deliver_finish's true),
 * as policy_deliver files after its commit, and frees in. policy_inspect returns NULL
 * with err on a database error (the caller then delivers itself, and fails as that
 * would). */
struct policy_inspection;
struct vault_copy_plan;
struct policy_inspection *policy_inspect(struct store *store, const struct policy_message *m, char *err,
                                         size_t errlen);
const struct vault_copy_plan *policy_inspection_copies(const struct policy_inspection *in);
/* Whether the message has documents to file for a patient (vault_file_writes): then
 * it is delivered by the session itself, its filing in the delivery's transaction
 * (policy_deliver), never through the committer. */
bool policy_inspection_files(const struct policy_inspection *in);
void policy_inspection_end(struct store *store, struct policy_inspection *in, bool file);
/* policy_deliver for the message in was made from (its recipients all local, else the
 * relay's part is policy_deliver's), delivered by this process with in's parse, vault
 * inspection and lookups instead of its own: a message with documents for a patient
 * (policy_inspection_files), or one no committer took, is inspected once in its
 * session. Frees in; returns as policy_deliver. */
int policy_deliver_inspected(struct store *store, struct policy_inspection *in, struct mss_status *st);
/* st set to a refusal (code 5xx, returns 1) or a failure (returns -1). enh is a constant;
 * text may come from the vault (a profile section's refusal, of no bounded length) and is
 * cut at the reply's length: a cut reply still says why, an abort would end the session. */
int policy_refuse(struct mss_status *st, int code, const char *enh, const char *text);
/* st set to what a delivery nothing of which was stored answers (451 4.3.0): the
 * session's, and the committer's when its batch or its answer was lost. */
void policy_not_stored(struct mss_status *st);
/* Whether m has recipients and all of them are in a local domain. */
bool policy_all_local(const struct mss_config *cfg, const struct policy_message *m);

#endif
