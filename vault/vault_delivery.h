/* vault_delivery.h: one delivery as every stage reads it.
 *
 * Postfix cleanup(8)'s model: one pass extracts everything, later stages read the
 * extracted form. policy_deliver opens this once per accepted message: the message
 * parsed once (msg/), what the vault inspected of it once (vault_inspect.h), the sender
 * and each recipient looked up once in the accounts: in mss-smtpd's session, at MAIL
 * and RCPT (sender_rows.h, policy_message.rcpt_rows), which it passes down. The store's INBOX deliveries, the
 * authorised contacts, the patients' copies, the filing and the delivery's audit
 * records all read it; none parses the message or looks a recipient up again. */
#ifndef MSS_VAULT_DELIVERY_H
#define MSS_VAULT_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "directory/account.h"
#include "msg/msg.h"
#include "store/store.h"
#include "vault/vault_inspect.h"
#include "vault/vault_message.h"

/* One envelope recipient, looked up once. */
struct vault_rcpt {
	const char *address;    /* as the envelope gave it */
	bool account;           /* an enabled local account */
	enum account_role role; /* when account */
	/* a patient's account, enabled or not: it gets the patient's copy (one disabled
	 * after RCPT accepted it still has its INBOX, and reads it once enabled again) */
	bool patient;
	char canonical[256]; /* the account's address (lowercase), else address */
	char ins[16];        /* a patient whose address is an INS: that INS, else "" */
};

struct vault_delivery {
	const struct policy_message *m;
	bool parsed;   /* msg holds the parsed message (false: unparseable, delivered as is) */
	bool borrowed; /* msg is the caller's (policy_message.parsed): not freed here */
	struct msg msg;
	struct vault_inspection insp; /* valid when parsed */
	struct vault_rcpt *rcpts;     /* m->nrcpt of them */
	size_t npatients;             /* recipients that are patients' accounts (rcpt.patient) */
	char sender[256];             /* the authenticated account, else MAIL FROM ("" for <>) */
	char sender_name[256];        /* the account's name, else the directory's, else sender */
	bool sender_patient;          /* the sender is a local patient account */
};

/* Parses m once, inspects it for the vault when a recipient is a patient, and looks
 * the sender and every recipient up (from m->sender's rows and m->rcpt_rows when
 * given, else in the store). Returns 0 (close it with vault_delivery_close),
 * or -1 with err on a database error (nothing to close). An unparseable message is not
 * an error: parsed is false, and the patients' copies then withhold every part. */
int vault_delivery_open(struct store *store, const struct policy_message *m, struct vault_delivery *d,
                        char *err, size_t errlen);
void vault_delivery_close(struct vault_delivery *d);
/* Hands an open delivery (its parse, inspection and lookups) from one holder to
 * another: from is left closed (closing it again is harmless). */
void vault_delivery_move(struct vault_delivery *to, struct vault_delivery *from);

/* Fills row with account_get's answer rc (1: a found, 0: none) as the delivery reads
 * it (policy_rcpt_row). */
void vault_rcpt_row_set(struct policy_rcpt_row *row, int rc, const struct account *a);

/* "14602632200019" -> the 15-digit INS an address is built on, "" otherwise. */
void vault_address_ins(const char *address, char *out, size_t outlen);

#endif
