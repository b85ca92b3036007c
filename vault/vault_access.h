/* vault_access.h: who may see a patient's vault. For imapd (ACL commands, the shared
 * namespace Patients/<patient>/Documents/<Class>) and mssctl access.
 *
 * Rules:
 * - a grant gives one professional (or organisation) account read access ("lr") to
 *   the patient's Documents folders; the patient grants (IMAP SETACL Documents PRO lr)
 *   and revokes (DELETEACL) it, or the administrator does with mssctl;
 * - a block (table patient_blocks, shared with the RCPT policy) overrides every grant:
 *   a blocked professional neither reads the vault nor writes to the patient;
 * - masking is per document: the keyword $Masked (VAULT_MASKED_KEYWORD) on a document
 *   message hides it from every professional; imapd leaves such messages out of the
 *   professional's view of the mailbox;
 * - professionals never write to the vault through IMAP (read-only view).
 * Every change is audited (actor, how authenticated, target, result), with the
 * patient, so that it appears in the patient's history.
 *
 * All addresses are compared case-insensitively and stored lowercase. The functions
 * open their own write transactions: call them outside any transaction. */
#ifndef MSS_VAULT_ACCESS_H
#define MSS_VAULT_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Who asks, for the audit record: e.g. {"146026322000196@patient.mss.test",
 * "password", "127.0.0.1"} from imapd, {"mssctl", "local", ""} from mssctl. */
struct vault_actor {
	const char *actor;
	const char *auth;
	const char *peer;
};

/* Grants pro read access to patient's vault. Returns 0 (also when already granted),
 * 1 refused with err (patient is not a patient account, pro is not a local
 * professional or organisation account, is disabled, inactive in the directory or
 * blocked by the patient), -1 error. */
int vault_access_grant(struct store *st, const struct vault_actor *who, const char *patient, const char *pro,
                       char *err, size_t errlen);
/* Removes the grant. Returns 0, 1 when there was none (err), -1. */
int vault_access_revoke(struct store *st, const struct vault_actor *who, const char *patient, const char *pro,
                        char *err, size_t errlen);
/* Blocks pro for patient (RCPT refused with 550 5.7.1, vault hidden). pro may be any
 * valid address. Returns 0 (also when already blocked), 1 refused (err), -1. */
int vault_access_block(struct store *st, const struct vault_actor *who, const char *patient, const char *pro,
                       char *err, size_t errlen);
/* Lifts the block. Returns 0, 1 when there was none (err), -1. */
int vault_access_unblock(struct store *st, const struct vault_actor *who, const char *patient,
                         const char *pro, char *err, size_t errlen);

/* After a revocation, a block or the patient's account disabled (policy_account_disable)
 * committed: a professional idling (IDLE, NOTIFY) in one of the patient's shared
 * folders, or in the PS account's "<patient>/..." ones, is woken at once (store_wake,
 * as a change of the folder would) and finds the access gone (imapd answers BYE,
 * imap_view_sync), rather than at the next change of the folder or the next command.
 * patient: lowercase. Best effort: a lost wake only leaves that BYE to then, and
 * nothing is served meanwhile either way. */
void vault_wake_readers(struct store *st, const char *patient);

/* The decision imapd asks for each access of pro to patient's vault: 1 when pro holds
 * a grant, is not blocked, both accounts exist and are enabled, and pro's directory
 * entry, if any, is active (an entry disabled or struck off suspends the grant, which
 * stays and counts again once the entry is active); 0 otherwise; -1 on a database
 * error (deny). */
int vault_may_read(struct store *st, const char *pro, const char *patient);
/* 1 when patient blocked pro, 0 not, -1 error. */
int vault_is_blocked(struct store *st, const char *patient, const char *pro);

struct vault_access_entry {
	char professional[256];
	char rights[16]; /* "lr" when granted, "" when only blocked */
	int64_t granted; /* unix time, 0 when not granted */
	bool blocked;
	int64_t blocked_since;
	/* the professional's directory entry is inactive (disabled, or struck off): the
	 * grant stays but gives no access while so (vault_may_read) */
	bool inactive;
};
/* Calls fn for every professional with a grant or a block on patient's vault (address
 * order); fn returns nonzero to stop. Returns 0 or -1. (IMAP GETACL, mssctl list.) */
int vault_access_list(struct store *st, const char *patient,
                      int (*fn)(const struct vault_access_entry *e, void *arg), void *arg);
/* Calls fn for every patient whose vault pro may read now (grant, no block, pro's
 * directory entry not inactive), in address order: the Patients/<patient>/... folders
 * imapd lists. Returns 0 or -1. */
int vault_patients_readable_by(struct store *st, const char *pro, int (*fn)(const char *patient, void *arg),
                               void *arg);

/* vault_readers.c: the rule given to the store (store_readers_set) so that each
 * message of a patient's shared folders (and Documents-PS) has its key sealed to every
 * professional vault_may_read lets in, and to no one else (blob_keys, issue 12). Each
 * process calls it once at start, before it opens the store. */
void vault_readers_install(void);
/* Brings the reader rows of patient's messages (and of the PS account's) in line with
 * the grants, blocks and masks in force: after each of them changed. Adding a row opens
 * the patient's message keys (the patient's own session, or mssctl's master key); the
 * PS account's are best effort (logged; mssctl migrate fills them). Returns 0 or -1. */
int vault_readers_refresh(struct store *st, const char *patient, char *err, size_t errlen);
/* mssctl migrate (master key): for every patient and the PS account, each in its own
 * transactions, the shared messages written before store migration 8 rewritten in the
 * new form (store_readers_rekey), then vault_readers_refresh: for grants made before
 * blob_keys existed. Idempotent. Returns 0 with *total, or -1 with err (the owners
 * before stay done). */
int vault_readers_fill_all(struct store *st, struct store_readers_report *total, char *err, size_t errlen);

/* Appends an audit record about patient's vault (imapd: "vault.open" when a
 * professional selects a vault folder, "vault.read" for a document fetched,
 * "vault.mask"/"vault.unmask" for $Masked set or cleared, "acl.refused", ...).
 * target: mailbox and UID or the professional concerned. Returns 0 or -1. */
int vault_audit(struct store *st, const struct vault_actor *who, const char *action, const char *patient,
                const char *target, const char *detail, const char *result);

/* Audits a refused access to patient's vault (vault.refused; vault_refusal.c). The
 * patient's history shows it only when a professional asked for a folder the patient
 * has (folder: the name inside the patient's account), named as stored, at most once
 * per requester and patient per history_refusal_interval; otherwise the record, with
 * the name as requested, stays out of it. why is a short reason ("read-only", "no
 * grant"), under 100 bytes. Returns 0 or -1. */
int vault_audit_refusal(struct store *st, const struct vault_actor *who, bool professional,
                        const char *patient, const char *folder, const char *requested, const char *cmd,
                        const char *why);

#endif
