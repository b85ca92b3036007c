/* queue.h: the outbound queue, messages waiting to leave for other operators of the
 * trust space (DESIGN.md "Relay out to the trust space").
 *
 * A queued message is one encrypted file, <blob_dir>/queue/<qid>, under a key of its
 * own sealed to the queue's public key (store_queue_public_key: any process may queue;
 * only the queue process and mssctl hold the secret half that reads), and rows in the store's database: one
 * for the message (queue_messages) and one per recipient still to deliver
 * (queue_rcpts). A recipient's row goes when it is delivered or bounced; the message
 * goes with its last recipient. Recipients are found by their next attempt time
 * through an index (queue_rcpts_due): the due ones are read in one range scan, so
 * 100,000 deferred recipients cost a new message nothing.
 *
 * Durability: queue_put writes and fsyncs the file before the transaction that names
 * it commits; once it returns 0 the message survives a crash (250 may be said). A
 * process that dies while delivering loses nothing: a claim only moves the next
 * attempt time forward (queue_due), so the recipient comes due again (delivery is
 * at least once, never at most once).
 *
 * Claims: a claimed recipient's row names its owner, the queue process that claimed it
 * (queue_owner_self), and the call of queue_due that did (a generation, so that a
 * batch gives back only what it still holds: a recipient its worker deferred may be
 * claimed again by the same process for another batch before the first one's end is
 * seen), and its next attempt is the claim's lease. Nothing hands a claimed
 * recipient out again while its owner lives, so a message being sent is never sent a
 * second time beside it: mssctl queue flush makes due only recipients that are
 * deferred or whose owner is gone (queue_owner_state), and the queue's own scheduling
 * renews, rather than takes, a claim of a live owner whose lease ran out. A claim whose
 * owner is gone is released: by the queue process that starts next
 * (queue_release_gone), by a flush, or by the queue process itself when the worker
 * that carried it ended without recording it (queue_release). An owner on another
 * host cannot be judged: its claim waits for its lease.
 *
 * Conventions as store.h: 0 success, 1 a refusal the caller caused (no such message),
 * -1 an internal error with err (never content). */
#ifndef MSS_QUEUE_H
#define MSS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/dsn.h"
#include "lib/mss_limits.h"
#include "store/store.h"

#define QUEUE_ID_SIZE 32     /* a queue id, NUL included: letters and digits only */
#define QUEUE_REPLY_SIZE 512 /* the last reply kept for a recipient (cut) */
/* A claim's owner: "<boot id> <pid namespace> <pid> <start time>" of a queue process;
 * a claim is its owner and the claim's generation (queue_due), "<owner> <generation>",
 * both kept cut to QUEUE_OWNER_SIZE (an owner takes under 100). */
#define QUEUE_OWNER_SIZE 160

/* Envelope options kept with a queued message (queue_put.flags). */
#define QUEUE_SMTPUTF8 1u   /* RFC 6531: the message needs SMTPUTF8 (UTF-8 address or header) */
#define QUEUE_REQUIRETLS 2u /* RFC 8689: every next hop must offer REQUIRETLS */

/* A message handed to the queue. */
struct queue_put {
	const char *qid;       /* the queue id smtpd gave it (letters and digits) */
	const char *mail_from; /* envelope sender, "" for <> */
	const char *account;   /* the local account that sent it, "" for the server itself */
	const char *const *rcpts;
	size_t nrcpt;
	const char *data; /* the whole message, CRLF lines */
	size_t len;
	int64_t now;
	unsigned flags;                  /* QUEUE_SMTPUTF8 | QUEUE_REQUIRETLS */
	const struct dsn_mail *dsn;      /* RET, ENVID (RFC 3461); NULL when none */
	const struct dsn_rcpt *rcpt_dsn; /* NOTIFY, ORCPT, in rcpts' order; NULL when none */
};

/* Work done in the same transaction as the queue's rows (the audit records of the
 * acceptance): fn returns 0 to commit, else everything is rolled back. */
struct queue_hook {
	int (*fn)(void *arg, char *err, size_t errlen);
	void *arg;
};

/* Queues m for all its recipients, first attempt at m->now. Returns 0 once the file
 * and the rows are durable (inside the caller's write transaction: the rows in a
 * savepoint of it, durable with its commit); -1 with err, nothing queued. hook may be
 * NULL. */
int queue_put(struct store *st, const struct queue_put *m, const struct queue_hook *hook, char *err,
              size_t errlen);

/* One recipient still to deliver. */
struct queue_rcpt {
	char rcpt[MSS_ADDRESS_SIZE];
	char domain[MSS_DOMAIN_SIZE];
	int64_t next_attempt; /* unix time */
	unsigned attempts;
	char last_reply[QUEUE_REPLY_SIZE];  /* "" before the first attempt */
	struct dsn_rcpt dsn;                /* NOTIFY and ORCPT, as RCPT gave them */
	char claim_owner[QUEUE_OWNER_SIZE]; /* the claim, "<owner> <generation>", "" for none */
};

/* One queued message (envelope only: the content stays in its encrypted file). */
struct queue_entry {
	char qid[QUEUE_ID_SIZE];
	char mail_from[MSS_ADDRESS_SIZE];
	char account[MSS_ADDRESS_SIZE];
	uint64_t size;
	int64_t created;
	bool warned;         /* a delay warning went to the sender */
	unsigned flags;      /* QUEUE_SMTPUTF8 | QUEUE_REQUIRETLS */
	struct dsn_mail dsn; /* RET and ENVID, as MAIL gave them */
	struct queue_rcpt *rcpts;
	size_t nrcpt;
};
void queue_entry_free(struct queue_entry *e);

/* Calls each(arg, e) for every queued message, oldest first (mssctl queue list);
 * each returns 0 to go on. Returns 0 or -1. */
int queue_list(struct store *st, int (*each)(void *arg, const struct queue_entry *e), void *arg, char *err,
               size_t errlen);
/* Reads one message's envelope and recipients. Returns 0, 1 when there is no such
 * message, -1. */
int queue_get(struct store *st, const char *qid, struct queue_entry *out, char *err, size_t errlen);
/* Decrypts a queued message's content, appended to out. Returns 0, 1 no such message,
 * -1 (missing or altered file). */
int queue_read(struct store *st, const char *qid, struct buf *out, char *err, size_t errlen);
/* Makes every recipient of qid (all messages when qid is NULL) due at now, but those a
 * live queue process has claimed (see "Claims" above: they are being sent): mssctl
 * queue flush. *n: recipients made due. Returns 0, 1 when qid names no message, -1. */
int queue_flush(struct store *st, const char *qid, int64_t now, size_t *n, char *err, size_t errlen);
/* Removes qid, its recipients and its file without delivering (mssctl queue delete).
 * hook runs in the transaction (the audit record). Returns 0, 1 no such message, -1. */
int queue_delete(struct store *st, const char *qid, const struct queue_hook *hook, char *err, size_t errlen);
/* Counts the recipients waiting (all of them) and those due at now. Returns 0 or -1. */
int queue_count(struct store *st, int64_t now, uint64_t *waiting, uint64_t *due, char *err, size_t errlen);

/* ---- delivery (the queue process of mss-smtpd) ---- */

/* A recipient due for an attempt, claimed by queue_due. */
struct queue_due {
	char qid[QUEUE_ID_SIZE];
	char rcpt[MSS_ADDRESS_SIZE];
	char domain[MSS_DOMAIN_SIZE];
	char mail_from[MSS_ADDRESS_SIZE];
	char account[MSS_ADDRESS_SIZE]; /* the local sender, "" for the server itself */
	int64_t created;
	unsigned attempts;
	bool warned;                  /* the delay warning went out */
	unsigned flags;               /* QUEUE_SMTPUTF8 | QUEUE_REQUIRETLS */
	struct dsn_mail dsn;          /* the message's RET and ENVID (zero: none) */
	struct dsn_rcpt rdsn;         /* this recipient's NOTIFY and ORCPT (zero: none) */
	char claim[QUEUE_OWNER_SIZE]; /* the claim its row holds, "<owner> <generation>" */
};
/* Claims up to max recipients due at now, soonest first (one index range scan), for
 * owner (queue_owner_self): each one's next attempt moves to now + lease, so that
 * another process takes it again only once lease has passed and its owner cannot be
 * told alive. Each call's claims carry a generation of their own (a counter of this
 * process), so that the recipients of one call are told from the same ones claimed
 * again by a later call. A due recipient whose claim's owner lives (a lease that ran
 * out during a long batch) is renewed instead, not taken (its claim unchanged). Fills
 * out (sorted by domain, then qid) and *n. Returns 0 or -1. */
int queue_due(struct store *st, const char *owner, int64_t now, int64_t lease, struct queue_due *out,
              size_t max, size_t *n, char *err, size_t errlen);
/* The recipients of d[0..n) still held by the very claim queue_due gave them (d[i].claim:
 * a worker ended before it recorded them): due again at next, attempts + 1, reply kept
 * as the last one, the claim gone (mssctl queue flush may then make them due now). A
 * recipient recorded and claimed again since, for another batch, is left alone.
 * *released: how many. Returns 0 or -1. */
int queue_release(struct store *st, const struct queue_due *d, size_t n, int64_t next, const char *reply,
                  size_t *released, char *err, size_t errlen);
/* Releases the claims (of every generation) of owners that are gone (queue_owner_state),
 * on qid's recipients (all when qid is NULL): due at now. *released: how many. Returns 0 or -1. */
int queue_release_gone(struct store *st, const char *qid, int64_t now, size_t *released, char *err,
                       size_t errlen);

/* This process as a claim's owner, into out. Returns 0 or -1 (no /proc). */
int queue_owner_self(char *out, size_t outlen);
enum queue_owner_state {
	QUEUE_OWNER_ALIVE,   /* that process runs, on this kernel and in this pid namespace */
	QUEUE_OWNER_GONE,    /* it ended (its pid free or given to a process started later) */
	QUEUE_OWNER_UNKNOWN, /* another kernel or pid namespace: its lease decides */
};
/* Judges a claim's owner (its first four words; the generation is not read). */
enum queue_owner_state queue_owner_state(const char *owner);
/* The pid an owner or a claim names, 0 when it names none (mssctl queue show). */
long queue_owner_pid(const char *owner);
/* A claim's owner, its first four words, into out. Returns 0, -1 when it names none. */
int queue_owner_of(const char *claim, char *out, size_t outlen);
/* The soonest next attempt of all recipients (INT64_MAX when the queue is empty).
 * Returns 0 or -1. */
int queue_next_due(struct store *st, int64_t *when, char *err, size_t errlen);
/* Outcomes of an attempt. reply: the remote server's reply or the local reason (kept
 * cut to QUEUE_REPLY_SIZE). hook runs in the same transaction (the audit record). */
/* Delivered, or failed for good (bounced): the recipient leaves the queue, and the
 * message with its file when it was the last. Returns 0, 1 when it was no longer
 * queued (deleted meanwhile), -1. */
int queue_done(struct store *st, const char *qid, const char *rcpt, const struct queue_hook *hook, char *err,
               size_t errlen);
/* Deferred: tried again at next (attempts + 1, reply kept). Returns 0, 1, -1. */
int queue_defer(struct store *st, const char *qid, const char *rcpt, int64_t next, const char *reply,
                const struct queue_hook *hook, char *err, size_t errlen);
/* The delay warning went out for qid (sent once). Returns 0 or -1. */
int queue_set_warned(struct store *st, const char *qid, char *err, size_t errlen);

/* mssctl migrate: messages queued by an older MSS (no sealed key, their file under
 * the master key's "mssqueue" subkey) written again under keys of their own, sealed
 * to the queue's public key; a reseal an earlier migrate left half done finished.
 * Needs the old key (an ADMIN channel or the master key). *resealed: how many.
 * Returns 0 or -1. */
int queue_reseal_all(struct store *st, size_t *resealed, char *err, size_t errlen);

/* Whether qid is a well-formed queue id (1 to QUEUE_ID_SIZE-1 letters and digits). */
bool queue_id_valid(const char *qid);

#endif
