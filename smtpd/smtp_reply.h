/* smtp_reply.h: every SMTP reply the server sends, as one table.
 *
 * Handlers name a reply by its id; code, RFC 3463 enhanced status and text live in
 * smtp_reply.c only, so a reply cannot drift between two handlers. ENHANCEDSTATUSCODES
 * (RFC 2034) is on every 2xx/4xx/5xx reply except the greeting and the HELO/EHLO
 * answers, which RFC 2034 section 3 exempts. */
#ifndef MSS_SMTP_REPLY_H
#define MSS_SMTP_REPLY_H

#include <stdbool.h>

#include "lib/status.h"

struct conn;

enum smtp_reply_id {
	RPL_OK,                /* 250 2.0.0 */
	RPL_MAIL_OK,           /* 250 2.1.0 */
	RPL_RCPT_OK,           /* 250 2.1.5 */
	RPL_BYE,               /* 221 2.0.0 */
	RPL_RESET_OK,          /* 250 2.0.0 */
	RPL_VRFY,              /* 252 2.0.0 */
	RPL_HELP,              /* 214 2.0.0 */
	RPL_DATA_GO,           /* 354 */
	RPL_CHUNK_OK,          /* 250 2.0.0 (BDAT without LAST) */
	RPL_STARTTLS_GO,       /* 220 2.0.0 */
	RPL_AUTH_OK,           /* 235 2.7.0 */
	RPL_TIMEOUT,           /* 421 4.4.2 */
	RPL_SHUTDOWN,          /* 421 4.3.2 */
	RPL_TOO_MANY_ERRORS,   /* 421 4.7.0 */
	RPL_AUTH_LOCKED,       /* 421 4.7.0 */
	RPL_OVERLOAD,          /* 421 4.7.0 */
	RPL_UNAVAILABLE,       /* 421 4.3.0 */
	RPL_SESSION_RETRY,     /* 421 4.3.2 */
	RPL_TEMPFAIL,          /* 451 4.3.0 */
	RPL_TOO_MANY_RCPTS,    /* 452 4.5.3 */
	RPL_QUOTA_FULL,        /* 452 4.2.2 */
	RPL_TLS_UNAVAILABLE,   /* 454 4.7.0 */
	RPL_AUTH_TEMPFAIL,     /* 454 4.7.0 */
	RPL_UNKNOWN_COMMAND,   /* 500 5.5.2 */
	RPL_LINE_TOO_LONG,     /* 500 5.5.2 */
	RPL_NUL_IN_COMMAND,    /* 500 5.5.2 */
	RPL_BARE_LF,           /* 550 5.5.2, then the session closes */
	RPL_BARE_CR,           /* 550 5.5.2, the message is refused, the session goes on */
	RPL_BARE_LF_CHUNK,     /* 550 5.5.2, a bare LF in BDAT: the session goes on */
	RPL_SYNTAX,            /* 501 5.5.4 */
	RPL_SYNTAX_HELO,       /* 501 5.5.4 */
	RPL_SYNTAX_MAIL,       /* 501 5.5.4 */
	RPL_SYNTAX_RCPT,       /* 501 5.5.4 */
	RPL_NO_ARGS,           /* 501 5.5.4 */
	RPL_SYNTAX_BDAT,       /* 501 5.5.4, then the session closes */
	RPL_BAD_SENDER,        /* 501 5.1.7 */
	RPL_BAD_RECIPIENT,     /* 501 5.1.3 */
	RPL_BAD_BODY,          /* 501 5.5.4 */
	RPL_DSN_RET,           /* 501 5.5.4, names RET (RFC 3461 4.3) */
	RPL_DSN_ENVID,         /* 501 5.5.4, names ENVID (RFC 3461 4.4) */
	RPL_DSN_NOTIFY,        /* 501 5.5.4, names NOTIFY (RFC 3461 4.1) */
	RPL_DSN_ORCPT,         /* 501 5.5.4, names ORCPT (RFC 3461 4.2) */
	RPL_AUTH_ABORTED,      /* 501 5.7.0 */
	RPL_AUTH_BAD_BASE64,   /* 501 5.5.2 */
	RPL_HELO_FIRST,        /* 503 5.5.1 */
	RPL_NESTED_MAIL,       /* 503 5.5.1 */
	RPL_NEED_MAIL,         /* 503 5.5.1 */
	RPL_NEED_RCPT,         /* 503 5.5.1 */
	RPL_DATA_AFTER_BDAT,   /* 503 5.5.1 */
	RPL_TLS_ACTIVE,        /* 503 5.5.1 */
	RPL_ALREADY_AUTH,      /* 503 5.5.1 */
	RPL_AUTH_IN_MAIL,      /* 503 5.5.1 */
	RPL_AUTH_NOT_ENABLED,  /* 503 5.5.1 */
	RPL_MECH_UNKNOWN,      /* 504 5.5.4 */
	RPL_TLS_REQUIRED,      /* 530 5.7.0 */
	RPL_AUTH_REQUIRED,     /* 530 5.7.0 */
	RPL_AUTH_FAILED,       /* 535 5.7.8 */
	RPL_RELAY_DENIED,      /* 550 5.7.1 */
	RPL_SIZE_EXCEEDED,     /* 552 5.3.4 */
	RPL_QUOTA_TOO_BIG,     /* 552 5.2.2 */
	RPL_MSG_LINE_TOO_LONG, /* 500 5.5.2 */
	RPL_MSG_NUL,           /* 554 5.6.0 */
	RPL_PARAM_UNKNOWN,     /* 555 5.5.4 */
	RPL_NEED_SMTPUTF8,     /* 553 5.6.7 */
	RPL_REQUIRETLS_NO_TLS, /* 530 5.7.10 */
	RPL_COUNT
};

struct smtp_reply {
	int code;
	const char *enhanced; /* "" when RFC 2034 exempts the reply */
	const char *text;
};

/* The table row for id (never NULL for a valid id). */
const struct smtp_reply *smtp_reply_get(enum smtp_reply_id id);
/* The reply as a status (for audit records and logs). */
void smtp_reply_status(enum smtp_reply_id id, struct mss_status *out);
/* True for replies after which the session must close (421, the bare LF reply, a BDAT
 * whose size cannot be read). */
bool smtp_reply_closes(enum smtp_reply_id id);

/* Queues "code enhanced text\r\n" on c. Returns 0 or -1 (connection broken). */
int smtp_reply_send(struct conn *c, enum smtp_reply_id id);
/* Queues a reply from a status (e.g. the policy's); CR/LF in text are replaced so a
 * status can never inject a second reply line. */
int smtp_reply_send_status(struct conn *c, const struct mss_status *st);
/* Queues one line built from parts; last: false gives "code-" continuation lines. */
int smtp_reply_send_line(struct conn *c, int code, const char *enhanced, const char *text, bool last);

#endif
