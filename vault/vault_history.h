/* vault_history.h: who did what to a patient's data, and when, read from the audit
 * log (the records whose patient is this patient). For mssctl history and for the
 * read-only IMAP folder Historique, where imapd shows each entry as one message.
 *
 * Records concerning INVISIBLE_PATIENT documents are written without the patient
 * (see vault_file.c), so they never appear here. */
#ifndef MSS_VAULT_HISTORY_H
#define MSS_VAULT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "store/store.h"

struct vault_history_entry {
	int64_t seq;        /* the audit record's number: stable, increasing (use it as UID) */
	int64_t time;       /* unix time */
	char who[256];      /* the actor as recorded ("mssctl" the administrator, "mss" the service) */
	char what[96];      /* the French label of the event, e.g. "Document consulté" */
	char document[512]; /* the target as recorded ("Documents/Biologie UID 3", an address), or "" */
	char result[256];   /* as recorded: "ok" or why it was refused */
	char action[64];    /* the audit action, e.g. "vault.read" */
	char detail[512];   /* as recorded (a message's "from=" is there) */
	char patient[256];  /* whose history it is */
};

/* The one French label of an event kind, in its direction (out: the patient did it,
 * e.g. sent the message), ok or refused. Never the raw action. */
const char *vault_history_label(const char *action, bool out, bool ok);

/* What the patient reads of entry e: subject and body, in French, the time in zone,
 * people by the name the accounts or the directory give them. Returns 0 or -1. */
struct vault_history_text {
	char subject[700];
	char body[3000];
};
int vault_history_text(struct store *st, const char *zone, const struct vault_history_entry *e,
                       struct vault_history_text *out);

/* Calls fn for each entry with seq > after_seq, oldest first; fn returns nonzero to
 * stop. Returns 0 or -1. */
int vault_history_foreach(struct store *st, const char *patient, int64_t after_seq,
                          int (*fn)(const struct vault_history_entry *e, void *arg), void *arg);

/* Builds the message that shows entry e in the Historique folder: the same bytes
 * every time for the same entry and text (Date = the entry's time in zone, Message-ID
 * from its seq), From the service address, text/plain UTF-8 in French. Returns 0 or -1. */
int vault_history_message(const char *service_address, const char *patient, const char *zone,
                          const struct vault_history_entry *e, const struct vault_history_text *t,
                          struct buf *out);

/* The patient's read-only IMAP folder of history entries. */
#define VAULT_HISTORY_MAILBOX "Historique"

/* true when name is the Historique folder (exact name, case-sensitive as stored). */
bool vault_is_history_mailbox(const char *name);

/* Copies into the patient's mailbox "Historique" (created on first use, not a
 * special-use folder) one message per history entry newer than the last one copied
 * (remembered per patient in vault_history_sync), in one write transaction, so that
 * concurrent sessions never copy an entry twice. Each message is
 * vault_history_message() of the entry, with the actor shown by name when the account
 * or the directory knows it, internal date = the entry's time, not \Seen. At most
 * max entries per call (0: no limit); the rest come at the next call. Cheap when there
 * is nothing new (one indexed query). Call with no transaction open. Returns the
 * number of messages added, or -1 with err (nothing added). */
int vault_history_sync(struct store *store, const char *patient, unsigned max, char *err, size_t errlen);

/* "2026-11-29 09:30:00" (UTC) for t. */
#define VAULT_TIME_SIZE 32 /* outlen of vault_history_time, at least */
void vault_history_time(int64_t t, char *out, size_t outlen);

#endif
