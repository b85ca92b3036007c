/* imap_vault.h: the patient's vault as IMAP shows it (DESIGN.md "The vault").
 *
 * - A patient shares the vault with SETACL Documents <professional> lr and stops with
 *   DELETEACL (RFC 4314); GETACL, MYRIGHTS and LISTRIGHTS answer for it. The decision
 *   and its record belong to vault/vault_access.
 * - A professional with a grant (and no block) sees the folders read-only under the
 *   shared namespace "Patients/<patient>/Documents/<Class>", without the documents
 *   that carry $Masked. Opening such a folder and fetching a document are audited
 *   (vault.open, vault.read) and the patient is notified of the opening.
 * - The documents the sender marked INVISIBLE_PATIENT (held by vault_ps_user()) are
 *   shown to the same professionals under "Patients/<patient>/Documents-PS/<Class>",
 *   read-only; their opening and reading are audited without the patient (they never
 *   appear in the patient's history) and the patient is not notified.
 * - Anything else in that namespace (writes, ACL changes, other folders) is refused,
 *   and the refusal audited.
 * - A patient's own folder "Historique" holds their history (vault_history_sync):
 *   brought up to date at login and before the commands that show folders; only
 *   \Seen may change there (no APPEND, COPY/MOVE into it, other flags, EXPUNGE,
 *   CREATE, DELETE, RENAME: NO [NOPERM]). */
#ifndef MSS_IMAP_VAULT_H
#define MSS_IMAP_VAULT_H

#include "imap/imap_parser.h"
#include "imapd/imap_session.h"

#define IMAP_VAULT_NAMESPACE "Patients"
#define IMAP_VAULT_PS_FOLDER "Documents-PS" /* INVISIBLE_PATIENT documents, for professionals */

/* Brings the patient's Historique up to date (no-op for other accounts); failures
 * are logged only. */
void imap_history_sync(struct imap_session *s);
/* Rebuilds the patient's vaccination book when documents were filed since (vault_vacc.h:
 * filing is write-only, the book is read and written with the patient's key, here);
 * no-op for other accounts and when it is up to date (one lookup). Failures are
 * logged only: the entries wait for the next command. */
void imap_book_refresh(struct imap_session *s);
/* Both: the patient's folders the vault keeps brought up to date, at login and before
 * the commands that show folders (SELECT, EXAMINE, STATUS, LIST, LSUB, NOOP, CHECK,
 * IDLE). */
void imap_vault_refresh(struct imap_session *s);
/* true when name is the session's own Historique and the session is a patient's. */
bool imap_history_protected(const struct imap_session *s, const char *name);
/* true when name is one of a patient's own vault folders ("Documents", "Documents/..."):
 * only the filing creates documents there, so the patient's APPEND, COPY or MOVE into
 * them, MOVE out of them, CREATE, RENAME and DELETE of them answer NO [NOPERM]; the
 * patient may delete a document (STORE \Deleted + EXPUNGE), audited as their own. */
bool imap_documents_protected(const struct imap_session *s, const char *name);
/* true when name is a patient's own folder Vaccinations: its book is written by the
 * vault only (vault_vacc.h; a forged one would pass the patient's entries off as a
 * professional's), so APPEND, COPY or MOVE into it, MOVE out of it, CREATE, RENAME and
 * DELETE of it answer NO [NOPERM], as for Documents. */
bool imap_book_protected(const struct imap_session *s, const char *name);
/* Audits documents a patient expunged from their own vault folder (vault.delete, one
 * record each, in their history). No-op elsewhere. */
void imap_vault_deleted(struct imap_session *s, const uint32_t *uids, size_t n);

/* false when a STORE in the patient's own vault folder would set or clear
 * $Superseded (in any case) on one of the messages idx[0..n): that keyword is the
 * vault's own state (an XDS replacement), and professionals see it. true elsewhere. */
bool imap_vault_store_allowed(const struct imap_session *s, const struct store_flags_req *req,
                              const size_t *idx, size_t n);
/* true when a keyword list holds $Masked, in any case. */
bool imap_keywords_masked(const char *keywords);
/* The one visibility check of a shared folder's document, made just before anything of
 * it is served (FETCH, BINARY, SEARCH): true when the session may see message uid now,
 * as the database says at this moment (grant, block, $Masked), not as the view said
 * when it was last brought up to date. Always true outside a shared view. */
bool imap_vault_visible(struct imap_session *s, uint32_t uid);
/* A message about to enter a shared view loses the patient's flags and keywords; only
 * the vault's own state ($Masked, $Superseded) crosses. No-op outside a shared view. */
void imap_vault_strip(const struct imap_session *s, struct store_msg *m);
/* After a shared view opened: 0 when no document is visible (the folder does not exist
 * for the professional), else 1 with mb's UIDNEXT that of the visible documents
 * (nothing tells a masked one exists). 1 outside a shared view.
 * A shared view has no MODSEQ (RFC 7162 3.1.2 NOMODSEQ): the folder's MODSEQ counts the
 * patient's own changes too (\Seen, flags, keywords, masks), so any MODSEQ shown would
 * tell the professional when the patient read or handled each document. SELECT says
 * [NOMODSEQ], STATUS HIGHESTMODSEQ is 0, FETCH MODSEQ / CHANGEDSINCE and SEARCH MODSEQ
 * answer BAD, the QRESYNC parameter is ignored (a full resynchronisation), and no
 * untagged FETCH carries MODSEQ (doc/architecture.md "Readers other than the owner"). */
int imap_vault_shown(struct imap_session *s, struct store_mailbox *mb);
/* Audits a search in the documents' content (SEARCH BODY/TEXT) in a shared view as a
 * consultation (vault.search); listing and header searches are not. */
void imap_vault_searched(struct imap_session *s);
/* true when name lies in the shared namespace ("Patients" or "Patients/..."). */
bool imap_vault_name(const char *name);
/* Resolves a decoded mailbox name (shorter than STORE_MAILBOX_MAX, as imap_mailbox_arg
 * and the store give them) for reading (SELECT, EXAMINE, STATUS). Returns 1
 * with t filled (own mailbox, or a shared vault folder the session may read), 0 when
 * the shared folder may not be read (the refusal is audited; answer NO), -1 on a
 * database error. */
int imap_vault_resolve(struct imap_session *s, const char *name, struct imap_target *t, const char *cmd);
/* Audits a refused operation on another account's data and answers NO [NOPERM]. */
void imap_vault_refuse(struct imap_session *s, const char *tag, const char *cmd, const char *name);
/* Audits the opening of a shared folder and notifies its patient. */
void imap_vault_opened(struct imap_session *s, const struct imap_target *t);
/* Audits one document read through a shared view (vault.read, mailbox and UID). */
void imap_vault_read(struct imap_session *s, uint32_t uid);
/* Audits a patient's $Masked change on a vault document (vault.mask / vault.unmask). */
void imap_vault_mask_changed(struct imap_session *s, uint32_t uid, bool masked);
/* Adds the shared folders the professional may read to l (names prefixed with
 * "Patients/<patient>/", not subscribed). Returns 0 or -1. */
int imap_vault_list(struct imap_session *s, struct store_mailbox_list *l);
/* STATUS of a shared folder as the professional may see it: counts, UIDNEXT and
 * HIGHESTMODSEQ of the visible documents, UNSEEN = MESSAGES (the patient's \Seen is
 * theirs). Returns 1, 0 when it does not exist or holds no visible document, -1. */
int imap_vault_status(struct imap_session *s, const struct imap_target *t, struct store_mailbox *mb);

/* RFC 4314 commands. */
void cmd_setacl(struct imap_session *s, struct imap_command *c);
void cmd_getacl(struct imap_session *s, struct imap_command *c);
void cmd_myrights(struct imap_session *s, struct imap_command *c);
void cmd_listrights(struct imap_session *s, struct imap_command *c);

/* imap_profile.c: whether mailbox is the patient's own Profil, where an APPEND is a
 * profile section sent from a mail client; and, once the APPEND stored uids (n) there,
 * filing it as the section's next version (vault_profile.h), removing what was
 * appended, and the tagged reply (OK [APPENDUID] with the version's UID, or NO [CANNOT]
 * with the reason in French, nothing changed). */
bool imap_profile_target(const struct imap_session *s, const char *mailbox);
void imap_profile_appended(struct imap_session *s, const char *tag, uint32_t uidvalidity,
                           const uint32_t *uids, size_t n);
/* The same for a COPY or MOVE into Profil, once store_copy copied (never moved) the
 * messages: the copy is filed as a section and removed; a MOVE then removes the
 * source message (its EXPUNGE sent) only when the section was filed, so that a refused
 * one loses nothing. OK [COPYUID] names the version's UID. */
struct store_copy_result;
void imap_profile_copied(struct imap_session *s, const char *tag, const char *name, bool move,
                         const struct store_copy_result *res);

#endif
