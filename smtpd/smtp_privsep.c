/* smtp_privsep.c: mss-smtpd's two processes per connection (issue 12, lib/privsep.h,
 * doc/architecture.md "mss-smtpd's two kinds").
 *
 * The pre-login process (login_user, chrooted, no database, no key) runs the TLS
 * handshake (through the key agent), the greeting, EHLO/HELO, STARTTLS and AUTH, whose
 * verify and certificate map cross the authentication channel to the session process.
 * It hands the conversation over once the peer is identified, or must be to go on:
 *   - submission: when AUTH succeeds (after its 235);
 *   - MX: at the first MAIL that may run (after TLS and EHLO), the line given back to
 *     be relayed first: from MAIL on, the sender's policy, SPF, the trust list and the
 *     relay networks decide who the peer is, and they need the database. An MX peer
 *     that none of them identifies is the "anonymous" sender of the policy, which can
 *     only deliver to local recipients.
 * So every parser of bytes sent before the peer is identified (the command line,
 * EHLO, STARTTLS, AUTH's SASL exchange, the certificate) runs in the pre-login process;
 * the session process then runs the rest of the conversation on the cleartext the
 * pre-login process relays (privsep_relay), from the state the HANDOFF message
 * carries (auth/auth_chan.h). A login is never taken from that message: only the
 * session process's own successful VERIFY counts, and a submission hand-off without
 * one is refused as forged. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "auth/auth_chan.h"
#include "lib/log.h"
#include "lib/privsep.h"
#include "lib/str.h"
#include "smtpd/smtp_auth.h"
#include "smtpd/smtp_session.h"
#include "store/store.h"

/* From the hand-off on, under smtp_relay_batch: the pre-login process relays and the
 * session process answers the relayed conversation, each woken by the other (and the
 * session process by the committer) only to hand the work on and wait again: under
 * SCHED_BATCH neither preempts the process that woke it, which is about to wait anyway
 * (privsep_relay_batch; issue 15, bench/README.md "mxcpu"). Returns whether it took. */
static bool relay_batch(const struct smtp_session *s)
{
	if (!s->cfg->smtp_relay_batch)
		return false;
	if (privsep_relay_batch() == 0)
		return true;
	log_warn("smtp.relay_batch",
	         "session=%s error=\"SCHED_BATCH: %s (smtp_relay_batch = no stops trying)\"", s->id,
	         strerror(errno));
	return false;
}

/* A reused process's next connection starts under the normal policy, as a fresh one. */
static void relay_batch_end(bool batch)
{
	if (batch)
		(void)privsep_relay_normal();
}

/* Builds and sends the HANDOFF, then relays until either side closes. */
static void hand_over(struct smtp_session *s)
{
	struct auth_handoff ho;

	memset(&ho, 0, sizeof(ho));
	ho.flags = s->esmtp ? AUTH_HANDOFF_EXTENDED : 0;
	ho.errors = s->errors;
	str_assert(str_copy(ho.client_name, sizeof(ho.client_name), s->helo), "SMTP_DOMAIN_MAX into 256");
	auth_handoff_set_tls(&ho, s->tls ? &s->peer : NULL);
	int rc = auth_chan_handoff(s->auth_fd, &ho);

	sodium_memzero(&ho, sizeof(ho)); /* the peer's names and certificate (reuse) */
	close(s->auth_fd);
	s->auth_fd = -1;
	if (rc < 0) { /* the session process is gone */
		smtp_reply(s, RPL_UNAVAILABLE);
		conn_flush(s->conn);
		return;
	}
	/* every command of the session process is bounded by its own deadlines; this
	 * bounds a partial TLS record or a stuck write only */
	bool batch = relay_batch(s);
	privsep_relay(s->conn, s->relay_fd, s->cfg->smtp_data_timeout);
	relay_batch_end(batch);
}

/* The connection's channels to its session process, if it has one. */
static void close_channels(struct smtp_session *s)
{
	if (s->auth_fd >= 0)
		close(s->auth_fd);
	if (s->relay_fd >= 0)
		close(s->relay_fd);
	s->auth_fd = s->relay_fd = -1;
}

void smtp_session_prelogin(int fd, const struct session_info *si, void *arg)
{
	struct smtpd_ctx *ctx = arg;
	struct smtp_session s;
	if (privsep_prelogin_begin(&ctx->privsep, fd, si, &ctx->agent, ctx->tls) < 0)
		return;
	log_set_session(NULL); /* smtpd's lines name their session by hand */
	if (smtp_session_start(&s, ctx, fd, si) < 0)
		return;
	s.prelogin = true;
	s.auth_fd = si->auth_fd;
	s.relay_fd = si->relay_fd;
	/* per-account session processes: none yet, asked for at the first authentication
	 * request (smtp_auth.c) */
	s.ask = si->auth_fd < 0 && si->pool_fd >= 0 ? si : NULL;
	if (smtp_session_open(&s) == 0)
		smtp_session_loop(&s);
	if (s.handoff != SMTP_HANDOFF_NONE && !s.closing && s.auth_fd >= 0) {
		hand_over(&s); /* the session process logs the end */
		close_channels(&s);
		conn_free(s.conn);
	} else {
		close_channels(&s); /* the session process ends its connection with the channel */
		smtp_session_end(&s);
	}
	/* a reused pre-login process serves the next peer with this stack: this peer's
	 * names, certificate and AUTH state go */
	sodium_memzero(&s, sizeof(s));
}

/* Until the hand-off: answers the pre-login process's requests (own: see struct
 * auth_chan_own; filled with what the first of them named). Returns 1 handed over
 * (*ho; *logged_in when a VERIFY succeeded first, *ok its reply), 0 when the
 * connection ended before, -1 when the pre-login process sent a forged message
 * (logged, and ended), -2 when an answer named another account than the one this
 * process logged in before (refused: the pre-login process got a temporary failure). */
static int serve_requests(const struct session_info *si, const struct auth_ctx *c, struct auth_chan_own *own,
                          bool *logged_in, struct auth_reply *ok, struct auth_handoff *ho)
{
	*logged_in = false;
	for (;;) {
		if (!auth_chan_wait(si->auth_fd))
			return 0;
		switch (auth_chan_serve_until_handoff(si->auth_fd, (pid_t)si->prelogin_pid, c, *logged_in,
		                                      own, ok, ho)) {
		case AUTH_CHAN_LOGGED_IN:
			*logged_in = true;
			break;
		case AUTH_CHAN_ANSWERED:
			break;
		case AUTH_CHAN_HANDED_OVER:
			return 1;
		case AUTH_CHAN_REFUSED:
			return -1;
		case AUTH_CHAN_OTHER_ACCOUNT:
			return -2;
		default:
			return 0;
		}
	}
}

/* serve_requests with this connection's certificate mapping kept for its login
 * (struct auth_cert_memo), wiped after: a reused process serves another peer next. */
static int serve(const struct smtp_session *s, const struct session_info *si, struct auth_chan_own *own,
                 bool *logged_in, struct auth_reply *ok, struct auth_handoff *ho)
{
	struct auth_cert_memo memo;
	struct auth_ctx c = {s->store, s->cfg, s->ctx->oauth, true, &memo};

	memset(&memo, 0, sizeof(memo));
	int rc = serve_requests(si, &c, own, logged_in, ok, ho);
	sodium_memzero(&memo, sizeof(memo));
	return rc;
}

/* A hand-off the pre-login process could not have made honestly: on submission before
 * a login, on the MX before TLS and EHLO (MAIL is refused until then), or with a
 * client name past this side's limit. */
static const char *handoff_refused(const struct smtp_session *s, bool logged_in,
                                   const struct auth_handoff *ho)
{
	if (s->kind != SMTP_KIND_MX && !logged_in)
		return "hand-off without a login";
	if (s->kind == SMTP_KIND_MX && (!(ho->flags & AUTH_HANDOFF_TLS) || ho->client_name[0] == '\0'))
		return "hand-off before TLS and EHLO";
	if (strlen(ho->client_name) >= sizeof(s->helo))
		return "client name too long";
	return NULL;
}

/* The session state from the hand-off; the certificate's account is this process's
 * own answer (the store). */
static void take_over(struct smtp_session *s, bool logged_in, const struct auth_reply *ok,
                      const struct auth_handoff *ho)
{
	s->tls = (ho->flags & AUTH_HANDOFF_TLS) != 0;
	s->esmtp = (ho->flags & AUTH_HANDOFF_EXTENDED) != 0;
	s->errors = ho->errors;
	str_assert(str_copy(s->helo, sizeof(s->helo), ho->client_name), "checked by handoff_refused");
	auth_handoff_tls(ho, &s->peer);
	/* the certificate's account is read by the MX alone (an organisation's makes a
	 * relay, smtp_txn.c): a session logged in (submission's hand-off always is) offers
	 * AUTH no more, so its mapping was a lookup per connection read by nothing */
	if (logged_in)
		smtp_auth_logged_in(s, ok);
	else
		smtp_auth_map_certificate(s);
}

/* The store for this connection: the one a reused process kept from its last
 * connection when it is still sound (store_reuse_begin), else a new one. Keeping it
 * saves opening the database per connection: SQLite's schema parse and the delivery's
 * statements prepared again, or a new PostgreSQL backend. NULL with err. */
static struct store *session_store(struct smtpd_ctx *ctx, const char *id, char *err, size_t errlen)
{
	struct store *st = ctx->kept;

	ctx->kept = NULL;
	if (st != NULL && store_reuse_begin(st, err, errlen) == 0)
		return st;
	if (st != NULL) {
		log_info("smtp.store", "session=%s action=reopen reason=\"%s\"", id, err);
		store_close(st);
	}
	/* never the master key here: account keys come from the account key agent, over
	 * this process's own channel (an MX session's may have none) */
	return store_open_nokeys(ctx->cfg, err, errlen);
}

/* After a connection: a reused process keeps its store for the next one, with
 * everything of this peer forgotten (store_reuse_end: key agent channel and binding,
 * account keys, decrypted message); a store whose connection failed, or that is not
 * in a reused process, is closed. The audit records of this peer's accepted MAIL/RCPT
 * that could not be written (audit_flush failed) stay kept on purpose: they are this
 * peer's decisions, written at the next flush, and the next peer sees none of them. */
static void session_store_done(struct smtpd_ctx *ctx, const struct session_info *si, struct store *st)
{
	if (st == NULL)
		return;
	if (si->pool_fd < 0 || store_reuse_end(st) < 0) {
		store_close(st);
		return;
	}
	ctx->kept = st;
}

void smtp_session_reused_end(void *arg)
{
	struct smtpd_ctx *ctx = arg;

	store_close(ctx->kept);
	ctx->kept = NULL;
}

/* After a connection of a submission session process reused for its own account: the
 * master hands it out again under the hint its pre-login process named, the
 * connection's first certificate or SASL user (smtp_auth.c session_for). Unless that
 * certificate maps to, or that user is, the account this process logged in (as it
 * verified them itself: own->named), the hint would lead that certificate's or user's
 * next connection here (another account's: refused with 421 4.3.2, one in two for
 * ever), so this connection is its last. A case-insensitive match is the directory's:
 * it looks addresses up lowercase. */
static void keep_or_end(const struct smtp_session *s, const struct session_info *si,
                        const struct auth_chan_own *own)
{
	const char *account = s->ctx->account;

	if (si->pool_fd < 0 || s->kind == SMTP_KIND_MX)
		return; /* not reused, or no one's (the MX) */
	if (account[0] != '\0' && own->named_set && str_ieq(own->named, account))
		return;
	log_info("smtp.session_not_kept", "session=%s reason=\"%s\" action=ends_after_connection", s->id,
	         account[0] == '\0' ? "no login" : "its first certificate or user is not its account");
	master_reused_last();
}

/* A connection whose certificate or login names another account than the one this
 * session process served: refused (the client was told to try again), logged, and the
 * process ends, so that a session process never serves a second account. */
__attribute__((noreturn)) static void other_account(struct smtpd_ctx *ctx, struct smtp_session *s,
                                                    const struct session_info *si)
{
	log_warn("smtp.session_refused",
	         "session=%s peer=%s error=\"the certificate or login names another account than "
	         "this session process's\" action=ended",
	         s->id, si->peer_ip);
	close(si->auth_fd);
	close(si->relay_fd);
	smtp_session_reset_txn(s); /* this connection's login, accepted before (auth.h) */
	store_close(s->store);
	smtp_session_reused_end(ctx);
	_exit(0);
}

void smtp_session_split(struct smtpd_ctx *ctx, const struct session_info *si)
{
	struct smtp_session s;
	struct auth_reply ok;
	struct auth_handoff ho;
	struct auth_chan_own own = {0};
	bool logged_in;
	const char *why;
	char err[256];
	int rc;

	log_set_session(NULL); /* smtpd's lines name their session by hand */
	/* the pre-login process runs every handshake: here the server's TLS context is only
	 * what it would give away (the ticket key, the table of live sessions), so it goes */
	tls_ctx_free(ctx->tls);
	ctx->tls = NULL;
	smtp_session_init(&s, ctx, si);
	s.store = session_store(ctx, s.id, err, sizeof(err));
	if (s.store == NULL) {
		log_err("smtp.store", "session=%s result=failed error=\"%s\"", s.id, err);
		return; /* the pre-login process sees its channel close: 421 at the hand-off */
	}
	store_use_agent(s.store, si->keys_fd);
	store_agent_bind(s.store); /* a submission session: its own account only */
	own.account = ctx->account;
	rc = serve(&s, si, &own, &logged_in, &ok, &ho);
	if (rc == -2)
		other_account(ctx, &s, si);
	if (logged_in && s.kind != SMTP_KIND_MX && ctx->account[0] == '\0') /* its account for good */
		str_assert(str_copy(ctx->account, sizeof(ctx->account), ok.account),
		           "AUTH_ADDRESS_MAX into MSS_ADDRESS_SIZE");
	keep_or_end(&s, si, &own);
	sodium_memzero(&own, sizeof(own)); /* a SASL user: this connection's */
	why = rc == 1 ? handoff_refused(&s, logged_in, &ho) : NULL;
	close(si->auth_fd);
	if (why != NULL) {
		log_err("auth.chan_refused", "session=%s peer_pid=%ld error=\"%s\" action=ended", s.id,
		        si->prelogin_pid, why);
		rc = -1;
	}
	if (rc != 1) {
		/* a login accepted before the connection ended, or before a forged message:
		 * its record, kept for a delivery (auth.h), is written now */
		smtp_session_reset_txn(&s);
		if (rc < 0)
			store_close(s.store);
		else
			session_store_done(ctx, si, s.store);
		close(si->relay_fd);
		if (rc < 0)
			_exit(MASTER_EXIT_PEER_REFUSED); /* the master ends the pre-login process */
		return;
	}
	take_over(&s, logged_in, &ok, &ho);
	s.conn = conn_new(si->relay_fd, si->peer_ip);
	conn_set_timeout(s.conn, s.cfg->smtp_command_timeout);
	bool batch = relay_batch(&s);
	smtp_session_loop(&s);
	relay_batch_end(batch);
	smtp_session_reset_txn(&s); /* the transaction's end needs the store (audit) */
	session_store_done(ctx, si, s.store);
	s.store = NULL;
	smtp_session_end(&s);
}
