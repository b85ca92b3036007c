/* audit.h: the tamper-evident audit log.
 *
 * One record per exchange or access: time, actor, how authenticated, action, target,
 * result, a short request summary; never message content, never a secret. Records
 * are chained with BLAKE2b-256 over the previous record's hash and this record's
 * canonical encoding; concurrent writers keep one strict order because each append
 * runs in a write transaction. */
#ifndef MSS_AUDIT_H
#define MSS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "lib/check.h"
#include "store/store.h"

struct audit_event {
	const char *actor;   /* authenticated identity, or "anonymous", or "mssctl" */
	const char *auth;    /* how: "password", "certificate", "operator", "local", ... */
	const char *action;  /* "smtp.rcpt", "smtp.deliver", "imap.login", "vault.read", ... */
	const char *target;  /* the account / mailbox / document concerned */
	const char *detail;  /* request summary, no content (may be NULL) */
	const char *result;  /* "ok", "refused: <reason>", "error: <reason>" */
	const char *peer;    /* peer IP or "" */
	const char *patient; /* the patient whose data this concerns, "" when none (history) */
};

/* Every lookup of audit_log by patient states this condition after `patient = ?N`:
 * the index by patient holds only records about a patient (audit schema step 2), and
 * SQLite and PostgreSQL use such a partial index only for a query that states it. */
#define AUDIT_PATIENT_ONLY " AND patient <> ''"

/* Appends one record: in its own write transaction, or inside the one the caller has
 * open on st (then it commits or rolls back with the caller's work). Returns 0 or -1
 * with err. */
int audit_append(struct store *st, const struct audit_event *ev, char *err, size_t errlen);

/* --- Deferred records (audit_defer.c) ---
 *
 * An accepted MAIL or RCPT changes nothing stored by itself: the delivery that follows
 * does (an accepted submission login neither: auth.h defer_login_record). Its record is
 * kept in the process (with the decision's time) and written with the delivery's rows,
 * in the delivery's transaction: one commit per message instead of one per command.
 * Every refusal, and every record of something stored, is still written before its
 * answer goes out; kept records are written first by the next audit_append of this
 * process that opens its own transaction, so the chain keeps the decisions' order. A
 * crash before they are written loses only records of decisions that stored nothing
 * (no 250 was given after DATA). At most an SMTP transaction's MAIL and
 * smtp_max_recipients RCPTs are kept: smtpd flushes them when a transaction ends. */

/* Keeps a copy of ev, stamped now, to be written later. */
void audit_defer(const struct audit_event *ev);
/* Writes the kept records: inside the transaction the caller holds open on st (then
 * settle them with audit_deferred_settle once it ended), else in one of their own.
 * On failure they stay kept. Returns 0 or -1 with err. */
int audit_flush(struct store *st, char *err, size_t errlen);
/* The caller's transaction in which audit_flush wrote the kept records ended: committed,
 * they are done; rolled back, they are kept again (ahead of newer ones). */
void audit_deferred_settle(bool committed);
/* How many records are kept (tests). */
size_t audit_deferred_count(void);
/* The committer (smtpd/committer.h) writes a session's kept records in its batch: the
 * session reads them out (audit_deferred_get, i < audit_deferred_count), the committer
 * keeps each again with its decision's time (audit_defer_at), and both forget them
 * (audit_deferred_drop) once the batch ended: the session only when the committer said
 * they were committed. Returns 0, -1 when i is out of range. */
int audit_deferred_get(size_t i, struct audit_event *ev, int64_t *when);
void audit_defer_at(const struct audit_event *ev, int64_t when);
void audit_deferred_drop(void);

/* --- Signed checkpoints, verification and reading (vault). ---
 *
 * Tables (audit_schema.h): audit_log(seq 1,2,3..., time, actor, auth, action,
 * target, detail, result, peer, patient, prev, hash), audit_checkpoint(seq, time, hash,
 * signature), audit_head(seq, hash, signature). Record n's hash is
 * BLAKE2b-256(hash(n-1) || canonical(n)); record 1 chains over 32 zero bytes. The
 * canonical encoding is "MSSAUDIT1", seq and time as 8-byte big-endian numbers, then
 * each of actor, auth, action, target, detail, result, peer, patient as a 4-byte
 * big-endian length and its bytes (NULL is the empty string).
 *
 * The Ed25519 key is KEYDIR/audit.key (64-byte secret key, mode 0600) with its public
 * half in KEYDIR/audit.pub (hex, 0644); KEYDIR defaults to data_dir/keys.
 *
 * Signing (issue 12): writers never sign. The key belongs to whoever started the
 * daemon or mssctl (root in production) and only the signer process, forked before the
 * privilege drop, reads it (audit_signer_start). audit_append tells the signer a record
 * exists; the signer signs the head (last seq + hash) of the *committed* log, and a
 * checkpoint every 1,000th record and when asked to finish, but only when the records
 * since the last head it signed chain from that head: a shortened or rewritten log
 * gets no new signature. `mssctl audit anchor` prints the signed head and the key for
 * the administrator to keep elsewhere; `audit verify --anchor` checks against it, which
 * also catches a log re-signed with a new key by someone who replaced audit.pub. */

/* Overrides the key directory for this process (NULL: back to data_dir/keys).
 * Call before the first signing. Returns 0, or -1 when dir is too long (then back to
 * data_dir/keys: never a cut path). */
MSS_MUST_CHECK int audit_set_key_dir(const char *dir);
/* Signs the committed log as described above: a head over the last record, the due
 * checkpoints, and with final a checkpoint over the last record. signed_seq (may be
 * NULL) receives the last record signed. Returns 0, or -1 with err (no key, a log that
 * does not extend the last signed head, a database error). The signer's work; tests
 * and tools without a signer call it directly. */
int audit_sign(struct store *st, int final, int64_t *signed_seq, char *err, size_t errlen);
/* audit_sign(st, 1, ...): a signed checkpoint over the current last record. */
int audit_checkpoint(struct store *st, char *err, size_t errlen);
/* The committed log's last record (0 for an empty log). Returns 0, or -1 with err. */
int audit_tail_seq(struct store *st, int64_t *seq, char *err, size_t errlen);

/* Forks the signer process (call before dropping privileges, before any session). Each
 * later audit_append in this process and its children notifies it. Returns 0 or -1. */
int audit_signer_start(const struct mss_config *cfg, char *err, size_t errlen);
/* Tells the signer record seq exists (audit_append does it; no-op without a signer). */
void audit_signer_notify(int64_t seq);
/* Asks the signer to sign what is left, checkpoint and exit, and waits for it (at most
 * 20 s): at daemon shutdown, at the end of an mssctl run. */
void audit_signer_finish(void);
/* Closes this process's channel to the signer (a child that must not reach it). */
void audit_signer_forget(void);

struct audit_verify_result {
	int64_t records;       /* records checked */
	int64_t checkpoints;   /* signed checkpoints that verified */
	int64_t head;          /* the signed head's record */
	int64_t unsigned_tail; /* records after the signed head (not signed yet) */
	int64_t anchor_seq;    /* the anchored record found in the chain (0: no anchor) */
	int64_t broken_seq;    /* first broken record (0 when the chain holds) */
	char why[256];         /* one line naming the first broken place, "" when ok */
};
/* The administrator's copy of a signed head, kept off the machine ("anchor"). */
struct audit_anchor {
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	int64_t seq;
	char hash[65]; /* hex */
	char sig[129]; /* hex, the head signature */
};
/* The anchor's one-line text form:
 * "mss-audit-anchor 1 key=HEX seq=N hash=HEX sig=HEX". */
int audit_anchor_format(const struct audit_anchor *a, char *out, size_t outlen);
/* Parses that line (surrounding blanks allowed). Returns 0, or -1 with err. */
int audit_anchor_parse(const char *line, struct audit_anchor *a, char *err, size_t errlen);
/* The current signed head of a log that verifies, with the public key of keydir.
 * Returns 0, 1 when the log does not verify (r->why), -1 on error (r->why). */
int audit_anchor_take(struct store *st, const char *keydir, struct audit_anchor *a,
                      struct audit_verify_result *r);

/* Checks the whole chain, every checkpoint signature and the signed head against the
 * public key: the anchor's when anchor is not NULL (and then record anchor->seq must be
 * in the chain with the anchored hash), else keydir/audit.pub (keydir NULL:
 * data_dir/keys). Records after the signed head are counted in r->unsigned_tail: they
 * are being signed (or were written after the signer stopped) and are not an error.
 * Returns 0 when everything holds, 1 when broken (r->why names the first broken
 * record), -1 on an error reading (r->why). */
int audit_verify_anchored(struct store *st, const char *keydir, const struct audit_anchor *anchor,
                          struct audit_verify_result *r);
int audit_verify(struct store *st, const char *keydir, struct audit_verify_result *r);

/* One stored record, as read back (history, mssctl). */
struct audit_record {
	int64_t seq;
	int64_t time; /* unix time */
	char actor[256];
	char auth[32];
	char action[64];
	char target[512];
	char detail[512];
	char result[256];
	char peer[64];
	char patient[256];
};
/* 1 when patient's history holds a record of action by actor at or after since (unix
 * time), 0 when not, -1 on error: how the vault keeps one actor from flooding a
 * patient's history with the same refusal. */
int audit_patient_recent(struct store *st, const char *patient, const char *actor, const char *action,
                         int64_t since);
/* Calls fn for each record concerning patient (the patient column), oldest first,
 * from seq > after_seq; fn returns nonzero to stop. Returns 0 or -1. */
int audit_foreach_patient(struct store *st, const char *patient, int64_t after_seq,
                          int (*fn)(const struct audit_record *rec, void *arg), void *arg);

#endif
