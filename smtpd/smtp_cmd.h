/* smtp_cmd.h: the one command table and the EHLO capability table.
 *
 * Each verb is one row: name, handler, and flags saying when it is allowed. The
 * dispatcher checks the flags and answers 530/503 itself; a handler never re-checks
 * session state. EHLO keywords come from a capability table whose rows say when each
 * is offered, and the dispatcher and handlers consult the same predicates, so what
 * EHLO advertises and what the server does cannot drift apart (Postfix
 * smtpd_cmd_table, Cyrus capa_struct). */
#ifndef MSS_SMTP_CMD_H
#define MSS_SMTP_CMD_H

#include <stdbool.h>

#include "lib/buf.h"
#include "smtpd/smtp_session.h"

#define CMD_BEFORE_TLS 0x01 /* allowed before STARTTLS (every listener requires TLS for mail) */
#define CMD_NEEDS_AUTH 0x02 /* on submission listeners, only after AUTH (530 5.7.0) */
#define CMD_NEEDS_HELO 0x04 /* only after HELO/EHLO (503 5.5.1) */
#define CMD_NEEDS_MAIL 0x08 /* only inside a transaction (503 5.5.1) */
#define CMD_NEEDS_RCPT 0x10 /* only with at least one accepted recipient (503 5.5.1) */
#define CMD_ENDS_GROUP 0x20 /* RFC 2920 3.1: last command of a pipelined group: flush */
#define CMD_NO_TXN 0x40     /* refused inside a transaction (503 5.5.1) */
/* runs in the session process: a pre-login process hands the conversation over, this
 * line first (the database's first use on the MX: the sender's policy) */
#define CMD_AFTER_HANDOFF 0x80

typedef int (*smtp_handler)(struct smtp_session *s, const char *args);

struct smtp_cmd {
	const char *verb;
	smtp_handler handler;
	unsigned flags;
};

/* The row for verb (uppercase), or NULL. */
const struct smtp_cmd *smtp_cmd_find(const char *verb);
/* Parses and runs one command line (no CRLF, no NUL). Replies are queued on the
 * connection; the caller flushes. Returns the command's flags (0 for an unknown or
 * refused command), so the caller knows whether a pipelined group ended. */
unsigned smtp_cmd_dispatch(struct smtp_session *s, const char *line);

/* The dispatcher's checks for a command with these flags: RPL_OK or the refusal.
 * BDAT runs them itself, after reading its chunk (RFC 3030 2). */
enum smtp_reply_id smtp_cmd_check(const struct smtp_session *s, unsigned flags);

/* Appends the EHLO keyword lines (without codes, one per "\n") the session would
 * advertise now. For tests and for the EHLO handler. Returns 0, or -1 when out's limit
 * cut the list (out then holds a part of it, not to be sent). */
MSS_MUST_CHECK int smtp_cmd_ehlo_keywords(const struct smtp_session *s, struct buf *out);
/* True when AUTH is offered now (submission listener, TLS active, not yet authenticated). */
bool smtp_cmd_auth_offered(const struct smtp_session *s);
/* True when SASL EXTERNAL is offered now (AUTH offered and the certificate maps). */
bool smtp_cmd_external_offered(const struct smtp_session *s);
/* True when STARTTLS is offered now. */
bool smtp_cmd_starttls_offered(const struct smtp_session *s);

/* Handlers living in their own files. */
int smtp_cmd_starttls(struct smtp_session *s, const char *args); /* smtp_session.c */
int smtp_cmd_auth(struct smtp_session *s, const char *args);     /* smtp_auth.c */
int smtp_cmd_mail(struct smtp_session *s, const char *args);     /* smtp_txn.c */
int smtp_cmd_rcpt(struct smtp_session *s, const char *args);
int smtp_cmd_data(struct smtp_session *s, const char *args);
int smtp_cmd_bdat(struct smtp_session *s, const char *args); /* smtp_bdat.c */

struct smtp_data;
/* The end of a message (DATA's final dot, BDAT LAST): the reader's verdict, then the
 * delivery, audited either way (smtp_txn.c). The caller resets the transaction. */
void smtp_txn_end(struct smtp_session *s, struct smtp_data *d);

#endif
