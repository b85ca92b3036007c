/* vault_message.h: the message being delivered, as the vault and the policy see it.
 *
 * The vault files what a delivery carries, so the description of that delivery (the
 * envelope, the bytes) lives here, below policy/, and policy/ includes it; who sent it
 * and how they proved it is auth/auth_sender.h. The names keep their policy_ prefix:
 * mss-smtpd fills these structs through policy.h as before. */
#ifndef MSS_VAULT_MESSAGE_H
#define MSS_VAULT_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth_sender.h"
#include "lib/dsn.h"

struct msg;
struct vault_copy_plan;

/* One recipient's account as the RCPT that accepted it read it (policy_check_rcpt), so
 * that the delivery of the same transaction does not read it again (vault_delivery.h's
 * lookup). mss-smtpd reads it afresh at every RCPT and drops it when the transaction
 * ends: an account disabled between the RCPT and the end of DATA counts from the next
 * transaction on, as the sender's rows do (sender_rows.h). An account's role and
 * address change only when it is deleted and added again. What must be current is read
 * where it is written: the store's recipient key and mailboxes (an account deleted
 * meanwhile: 451), the vault's readers and access rules (a disabled patient's vault is
 * readable by no one), the committer's own lookup (doc/architecture.md "One delivery,
 * one parse"). */
struct policy_rcpt_row {
	int rc;                 /* account_get's answer: 1 found, 0 none; -1 not read (remote) */
	enum account_role role; /* when rc is 1 */
	bool disabled;
	char address[256]; /* the account's (lowercase) */
};

/* An accepted message on its way to its local recipients (policy_deliver). */
struct policy_message {
	const struct policy_sender *sender;
	const char *mail_from;
	const char *const *rcpts;
	size_t nrcpt;
	const char *data; /* full message, CRLF lines, with Received: etc. already added */
	size_t len;
	const char *queue_id;
	/* The caller's parse of exactly data (msg/: mss-smtpd parses once at the end of
	 * DATA, for its own checks too), NULL to let the delivery parse it. Never freed by
	 * the delivery; it must outlive policy_deliver. */
	const struct msg *parsed;
	/* Envelope options the outbound queue keeps for remote recipients (queue/queue.h
	 * QUEUE_SMTPUTF8, QUEUE_REQUIRETLS); 0 for none. */
	unsigned relay_flags;
	/* DSN (RFC 3461): the transaction's RET and ENVID, and each recipient's NOTIFY and
	 * ORCPT in rcpts' order; NULL when none were given. */
	const struct dsn_mail *dsn;
	const struct dsn_rcpt *rcpt_dsn;
	/* The patients' copies (vault_copy.h) as the process that inspected the message
	 * decided them, one per recipient in rcpts' order (read for the patients only),
	 * or NULL: the delivery inspects the message itself and files it. The committer's
	 * deliveries (smtpd/committer.h) carry them: their sessions inspect and file, so
	 * that no parser of an archive or a CDA runs where other peers' messages pass. A
	 * plan that does not fit the delivery's own parse fails it (451). */
	const struct vault_copy_plan *copies;
	/* Each recipient's account as its RCPT read it, in rcpts' order, or NULL: the
	 * delivery reads them (the committer's, whose sessions it does not trust). */
	const struct policy_rcpt_row *rcpt_rows;
};

#endif
