/* vault_message.h: the message being delivered, as the vault and the policy see it.
 *
 * The vault files what a delivery carries, so the description of that delivery (the
 * envelope, the bytes) lives here, below policy/, and policy/ includes it; who sent it
 * and how they proved it is auth/auth_sender.h. The names keep their policy_ prefix:
 * mss-smtpd fills these structs through policy.h as before. */
#ifndef MSS_VAULT_MESSAGE_H
#define MSS_VAULT_MESSAGE_H

#include <stddef.h>

#include "auth/auth_sender.h"
#include "lib/dsn.h"

struct msg;
struct vault_copy_plan;

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
};

#endif
