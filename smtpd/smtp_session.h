/* smtp_session.h: one SMTP conversation, from the greeting to the close.
 *
 * The session owns its connection and its store handle; it runs in its own process
 * (forked by lib/master), so nothing here is shared with other sessions except the
 * read-only daemon context (authentication failures are counted in the store, see
 * auth/auth_throttle.h). */
#ifndef MSS_SMTP_SESSION_H
#define MSS_SMTP_SESSION_H

#include "lib/key_agent.h"
#include "store/store_agent.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "directory/account.h"
#include "lib/config.h"
#include "lib/conn.h"
#include "lib/master.h"
#include "lib/privsep.h"
#include "lib/tls.h"
#include "policy/policy.h"
#include "smtpd/smtp_parse.h"
#include "smtpd/smtp_reply.h"

/* The listener kinds of mss-smtpd (struct listener.kind). */
enum smtp_kind {
	SMTP_KIND_MX = 0,          /* smtp_listen: STARTTLS, peers are MTAs */
	SMTP_KIND_SUBMISSION = 1,  /* submission_listen: STARTTLS, AUTH required */
	SMTP_KIND_SUBMISSIONS = 2, /* submissions_listen: implicit TLS, AUTH required */
};

struct oauth_keys;
struct smtp_data;
struct smtp_spf;

/* Built by the master before it forks; read-only in sessions. */
struct smtpd_ctx {
	const struct mss_config *cfg;
	struct tls_ctx *tls;      /* NULL when no certificate is configured */
	struct oauth_keys *oauth; /* OAuth signing keys, NULL when not configured */
	struct smtp_spf *spf;
	struct key_agent agent;  /* signs for tls: no process but the agent holds the key */
	struct store_agent keys; /* unwraps account keys: no process but it holds the master key */
	struct privsep privsep;  /* the pre-login processes' confinement */
	/* A reused MX session process's store between two connections (smtp_privsep.c
	 * session_store), NULL otherwise */
	struct store *kept;
	/* A submission session process: the account it logged in first, "" before. Its
	 * later connections (a session process reused for its own account) may name no
	 * other: it refuses them and ends (smtp_privsep.c). */
	char account[MSS_ADDRESS_SIZE];
};

/* Where a pre-login process (lib/privsep.h) hands the conversation to its session
 * process (doc/architecture.md "mss-smtpd's two kinds"). */
enum smtp_handoff {
	SMTP_HANDOFF_NONE = 0,
	SMTP_HANDOFF_AFTER = 1, /* AUTH succeeded: after its reply */
	SMTP_HANDOFF_LINE = 2,  /* MX: MAIL, which the session process runs: the line goes back */
};

struct smtp_session {
	const struct smtpd_ctx *ctx;
	const struct mss_config *cfg;
	struct conn *conn;
	struct store *store;
	enum smtp_kind kind;
	const char *listener; /* "smtp", "submission", "submissions" */
	char id[16];          /* session id for logs */
	char peer_ip[64];

	char helo[SMTP_DOMAIN_MAX];
	bool esmtp; /* EHLO (not HELO) */
	bool tls;
	struct tls_peer peer; /* verified client certificate, if any */
	bool cert_mapped;     /* peer certificate maps to cert_account (address and role only) */
	struct account cert_account;
	bool authenticated;
	struct account auth_account; /* address, role, password_stamp and cert_stamp only */
	enum sender_auth auth_kind;  /* SENDER_PASSWORD, _CERTIFICATE or _TOKEN once authenticated */
	bool auth_by_password;       /* the login used the password (with a certificate or not) */
	bool auth_by_cert;           /* the login used a certificate (with the password or not) */

	/* The current transaction. */
	bool in_mail;
	char mail_from[SMTP_PATH_MAX];
	struct smtp_mail_params mail_params;
	struct policy_sender sender;
	char **rcpts;              /* accepted recipients, each once */
	struct dsn_rcpt *rcpt_dsn; /* their NOTIFY and ORCPT (RFC 3461), rcpts' order */
	/* their accounts as their RCPT read them, rcpts' order: the delivery's lookup
	 * (policy_message.rcpt_rows), read afresh in the next transaction */
	struct policy_rcpt_row *rcpt_rows;
	size_t nrcpt;
	unsigned rcpt_count;    /* accepted RCPT commands, duplicates included */
	struct smtp_data *bdat; /* the message so far when BDAT began it (RFC 3030), else NULL */

	unsigned errors;
	unsigned messages;
	bool closing; /* reply sent; close after flushing */

	/* In a pre-login process (lib/privsep.h; false, the zero value, elsewhere): its
	 * authentication channel (auth/auth_chan.h: verify and certificate map asked of
	 * the session process); and whether, and where, the conversation goes to the
	 * session process. */
	bool prelogin;
	int keys_fd; /* the channel to the account key agent (master's), -1 without */
	int auth_fd;
	int relay_fd;
	/* The connection to ask the master for its session process at the first
	 * authentication request (master_session_ask: per-account session processes),
	 * NULL when there is one already or it was asked for. */
	const struct session_info *ask;
	enum smtp_handoff handoff;
};

/* Session entry point for lib/master (arg: struct smtpd_ctx): the whole session in one
 * process, or with privilege separation (si->auth_fd >= 0) the session process, which
 * answers its pre-login process and continues once handed the conversation. */
void smtp_session_main(int fd, const struct session_info *si, void *arg);
/* The pre-login entry point for lib/master (master_opts.prelogin; smtp_privsep.c). */
void smtp_session_prelogin(int fd, const struct session_info *si, void *arg);

/* The pieces both layouts share (smtp_privsep.c runs them in two processes). */
/* Fills s with what the master says of the connection (no conn, no store). */
void smtp_session_init(struct smtp_session *s, const struct smtpd_ctx *ctx, const struct session_info *si);
/* Sets s up for the connection on fd (the key agent channel, the conn, the connect
 * line). Returns 0, or -1 when the session cannot start (logged). */
int smtp_session_start(struct smtp_session *s, struct smtpd_ctx *ctx, int fd, const struct session_info *si);
/* Implicit TLS, the store (in one process only), the certificate map, the greeting.
 * Returns 0 when the conversation may start. */
int smtp_session_open(struct smtp_session *s);
/* Reads and runs commands until QUIT, a closing reply, EOF, timeout or a hand-off. */
void smtp_session_loop(struct smtp_session *s);
/* Logs the disconnect and frees what s holds. */
void smtp_session_end(struct smtp_session *s);
/* The session process with privilege separation (smtp_privsep.c). */
/* A reused process's end (master_opts.reused_end): closes the kept store. */
void smtp_session_reused_end(void *arg);
void smtp_session_split(struct smtpd_ctx *ctx, const struct session_info *si);
/* Overload reply for lib/master (421). */
void smtp_session_overload(int fd, const struct session_info *si, const char *why);

/* Sends a reply from the table; counts errors (5xx/4xx other than 452 too many
 * recipients) and marks the session closing for 421. Returns 0 or -1. */
int smtp_reply(struct smtp_session *s, enum smtp_reply_id id);
/* Sends a status (e.g. the policy's verdict), counting it like smtp_reply. */
int smtp_reply_st(struct smtp_session *s, const struct mss_status *st);
/* Sends "334 b64", flushes, and reads the client's answer into line (reset first), at
 * most SASL_LINE_MAX octets (line's limit must allow them).
 * Returns CONN_OK; CONN_TOOLONG for an unusable line (too long, NUL, bare LF); or
 * EOF/ERROR/TIMEOUT, after which the session is closing (421 already sent on timeout). */
enum conn_result smtp_session_challenge(struct smtp_session *s, const char *b64, struct buf *line);
/* Forgets the current transaction (RSET, after DATA, after STARTTLS/EHLO). */
void smtp_session_reset_txn(struct smtp_session *s);
/* Forgets everything learnt before STARTTLS (RFC 3207 4.2). */
void smtp_session_reset_after_tls(struct smtp_session *s);

/* Protocol name for Received: (RFC 3848; the UTF8SMTP family of RFC 6531 3.7.3 in an
 * SMTPUTF8 transaction). */
const char *smtp_session_protocol(const struct smtp_session *s);
/* Records a refusal decided by smtpd itself in the audit log (the policy records its
 * own decisions). Never content: envelope, size and reason only. */
void smtp_session_audit(struct smtp_session *s, const char *action, const char *target, const char *detail,
                        const struct mss_status *st);

#endif
