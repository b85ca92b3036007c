/* audit.h: the tamper-evident audit log.
 *
 * One record per exchange or access: time, actor, how authenticated, action, target,
 * result, a short request summary; never message content, never a secret. Records
 * are chained with BLAKE2b-256 over the previous record's hash and this record's
 * canonical encoding; concurrent writers keep one strict order because each append
 * runs in a write transaction. */
#ifndef MSS_AUDIT_H
#define MSS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

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

/* Appends one record: in its own write transaction, or inside the one the caller has
 * open on st (then it commits or rolls back with the caller's work). Returns 0 or -1
 * with err. */
int audit_append(struct store *st, const struct audit_event *ev, char *err, size_t errlen);

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
 * The Ed25519 key is KEYDIR/audit.key (64-byte secret key, mode 0600, created when
 * missing, owned like KEYDIR) with its public half in KEYDIR/audit.pub (hex). KEYDIR
 * defaults to data_dir/keys. With the key, every
 * append also re-signs the head (last seq + hash) so that cutting records off the end
 * of the table is detected, and every 1,000th record gets a signed checkpoint. */

/* Overrides the key directory for this process (NULL: back to data_dir/keys).
 * Call before the first append (e.g. at daemon start); the key is loaded lazily. */
void audit_set_key_dir(const char *dir);
/* Writes a signed checkpoint over the current last record unless one exists (daemon
 * shutdown, end of an mssctl run). Returns 0 (also when the log is empty) or -1. */
int audit_checkpoint(struct store *st, char *err, size_t errlen);
/* For a daemon master's on_shutdown, which holds no store: opens one on cfg,
 * checkpoints, closes, logging the outcome (one line). Never fails the shutdown. */
void audit_shutdown_checkpoint(const struct mss_config *cfg);

struct audit_verify_result {
	int64_t records;     /* records checked */
	int64_t checkpoints; /* signed checkpoints that verified */
	int64_t broken_seq;  /* first broken record (0 when the chain holds) */
	char why[256];       /* one line naming the first broken place, "" when ok */
};
/* Checks the whole chain, every checkpoint signature and the signed head against the
 * public key in keydir (NULL: data_dir/keys). Returns 0 when everything holds, 1 when
 * broken (r->why names the first broken record), -1 on an error reading (r->why). */
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
