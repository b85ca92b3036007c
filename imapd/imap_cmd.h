/* imap_cmd.h: the command table and the capability table.
 *
 * Each IMAP command is one row (name, handler, states allowed, flags); the
 * dispatcher checks the state so handlers never re-check it (Dovecot struct command).
 * The CAPABILITY line is generated from the capability table, each row with its RFC
 * and when it is advertised, so what is advertised and what is implemented cannot
 * drift apart. */
#ifndef MSS_IMAP_CMD_H
#define MSS_IMAP_CMD_H

#include "imap/imap_parser.h"
#include "imapd/imap_session.h"

/* Row flags. */
#define CMD_NO_EXPUNGE 0x01u /* untagged EXPUNGE forbidden while answering (RFC 9051 7.5.1) */
#define CMD_STREAM 0x02u     /* reads its own literals, streamed (APPEND: up to max_message_size) */
#define CMD_NO_SYNC 0x04u    /* no untagged updates at all (LOGOUT: nothing after BYE) */
#define CMD_NO_VIEW 0x08u    /* needs no message of the selected mailbox (imap_view_load) */
#define CMD_OWN_VIEW 0x10u   /* reads them itself when it needs them (UID FETCH: imap_view_lookup) */

typedef void (*imap_cmd_fn)(struct imap_session *s, struct imap_command *c);

struct imap_cmd_def {
	const char *name; /* upper case; "UID FETCH" for UID variants */
	imap_cmd_fn fn;
	unsigned states; /* IMAP_STATE_* bits where the command is allowed */
	unsigned flags;  /* CMD_* */
};

/* The row of name (upper case), or NULL. */
const struct imap_cmd_def *imap_cmd_find(const char *name);
/* Checks the state, runs the handler. Unknown command or wrong state: tagged BAD. */
void imap_cmd_dispatch(struct imap_session *s, struct imap_command *c);
/* Appends the capability list (space separated, no "CAPABILITY" word) valid for the
 * session now: STARTTLS/LOGINDISABLED before TLS, AUTH=PLAIN after it, etc. out is a
 * BUF_UNLIMITED buffer. */
void imap_capability_list(const struct imap_session *s, struct buf *out);

/* Handlers, by file. */
/* imap_auth.c */
void cmd_capability(struct imap_session *s, struct imap_command *c);
void cmd_noop(struct imap_session *s, struct imap_command *c);
void cmd_logout(struct imap_session *s, struct imap_command *c);
void cmd_starttls(struct imap_session *s, struct imap_command *c);
void cmd_enable(struct imap_session *s, struct imap_command *c);
void cmd_id(struct imap_session *s, struct imap_command *c);
/* imap_login.c */
void cmd_authenticate(struct imap_session *s, struct imap_command *c);
void cmd_login(struct imap_session *s, struct imap_command *c);
/* What the session offers now, for CAPABILITY and AUTHENTICATE alike. */
struct sasl_offer;
void imap_login_offer(const struct imap_session *s, struct sasl_offer *o);
/* After the TLS handshake: asks auth/ whether the client certificate maps to an
 * account (s->cert_maps), which decides whether EXTERNAL is offered. */
void imap_login_tls_ready(struct imap_session *s);
struct auth_reply;
/* Puts the session in the authenticated state for the account rp names. */
void imap_login_done(struct imap_session *s, const struct auth_reply *rp);
/* imap_mailbox.c */
void cmd_select(struct imap_session *s, struct imap_command *c);
void cmd_create(struct imap_session *s, struct imap_command *c);
void cmd_delete(struct imap_session *s, struct imap_command *c);
void cmd_rename(struct imap_session *s, struct imap_command *c);
void cmd_subscribe(struct imap_session *s, struct imap_command *c);
void cmd_status(struct imap_session *s, struct imap_command *c);
void cmd_check(struct imap_session *s, struct imap_command *c);
void cmd_close(struct imap_session *s, struct imap_command *c);
void cmd_expunge(struct imap_session *s, struct imap_command *c);
/* imap_append.c */
void cmd_append(struct imap_session *s, struct imap_command *c);
/* imap_list.c */
void cmd_list(struct imap_session *s, struct imap_command *c);
void cmd_namespace(struct imap_session *s, struct imap_command *c);
/* imap_fetch.c */
void cmd_fetch(struct imap_session *s, struct imap_command *c);
/* imap_search.c */
void cmd_search(struct imap_session *s, struct imap_command *c);
void cmd_cancelupdate(struct imap_session *s, struct imap_command *c); /* imap_context.c */
void cmd_sort(struct imap_session *s, struct imap_command *c);         /* imap_sort.c */
void cmd_thread(struct imap_session *s, struct imap_command *c);       /* imap_sort.c */
/* imap_msg.c */
void cmd_store(struct imap_session *s, struct imap_command *c);
void cmd_copy(struct imap_session *s, struct imap_command *c);
/* imap_compress.c */
void cmd_compress(struct imap_session *s, struct imap_command *c);
/* imap_catenate.c (RFC 4469): the message of APPEND's CATENATE form whose list is the
 * argument list_i (read on from the parser as needed), appended to ap. Returns 0;
 * -1 after a refusal (reply written: BADURL, TOOBIG, OVERQUOTA...; the caller drains
 * the command); -2 when the command is over. */
struct imap_catenate_meta {
	uint32_t flags;
	const char *keywords;
	int64_t date;
};
struct store_appender;
int imap_catenate_message(struct imap_session *s, const char *tag, size_t list_i, struct store_appender *ap,
                          const struct imap_catenate_meta *meta, uint64_t *quota_used);
/* imap_urlauth.c (RFC 4467) */
void cmd_genurlauth(struct imap_session *s, struct imap_command *c);
void cmd_urlfetch(struct imap_session *s, struct imap_command *c);
void cmd_resetkey(struct imap_session *s, struct imap_command *c);
/* imap_quota.c (RFC 9208) */
void cmd_getquota(struct imap_session *s, struct imap_command *c);
void cmd_getquotaroot(struct imap_session *s, struct imap_command *c);
void cmd_setquota(struct imap_session *s, struct imap_command *c);
/* Whether adding octets to the account would pass quota_storage: 1 yes, 0 no (or no
 * limit), -1 cannot tell (logged). *used: the account's use, read once when it is
 * UINT64_MAX, then kept by the caller (MULTIAPPEND adds each message to it). */
int imap_quota_check(struct imap_session *s, uint64_t adding, uint64_t *used);
/* imap_idle.c */
void cmd_idle(struct imap_session *s, struct imap_command *c);

/* The mailbox name argument i of a command that writes into or removes the mailbox:
 * decoded into out, or false with the reply written (BAD for a bad argument, NO for
 * the shared namespace and a patient's Historique). */
bool imap_writable_mailbox_arg(struct imap_session *s, struct imap_command *c, size_t i, char *out,
                               size_t outlen);

/* Shared by STATUS and LIST RETURN (STATUS): writes "* STATUS name (items)" for the
 * UTF-8 mailbox name with the items of list (an IMAP_ARG_LIST). Returns 0, 1 when the
 * mailbox does not exist, -1 on a store error, -2 on a bad item (err set), -3 when a
 * shared folder may not be read (refusal audited). */
int imap_status_write(struct imap_session *s, const char *name, const struct imap_arg *items,
                      const char **err);

#endif
