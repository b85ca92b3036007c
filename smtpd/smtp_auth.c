/* smtp_auth.c: the AUTH command (see smtp_auth.h). */
#include "smtpd/smtp_auth.h"

#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth/auth_chan.h"
#include "lib/log.h"
#include "lib/str.h"
#include "smtpd/smtp_cmd.h"
#include "store/store.h"

static struct auth_ctx auth_context(const struct smtp_session *s)
{
	struct auth_ctx c = {s->store, s->cfg, s->ctx->oauth, true, NULL};

	return c;
}

void smtp_auth_offer(const struct smtp_session *s, struct sasl_offer *o)
{
	o->external = s->cert_mapped;
	o->oauth = s->ctx->oauth != NULL;
}

/* The pre-login process's session process, when the master hands them out per
 * account: asked for at the connection's first authentication request, naming the
 * certificate ("c:" fingerprint) or the SASL user ("u:"), a hint the session process
 * checks. Returns 0 (s->auth_fd, s->relay_fd), or -1: no session process for this
 * connection (the client is told to try again). */
static int session_for(struct smtp_session *s, const char *kind, const char *name)
{
	char hint[MASTER_HINT_MAX];
	const struct session_info *si = s->ask;

	if (si == NULL)
		return s->auth_fd >= 0 ? 0 : -1;
	s->ask = NULL; /* once per connection */
	if (str_format(hint, sizeof(hint), "%s%s", kind, name) < 0) {
		/* cut to fit: still a hint, of as many connections as before */
	}
	int rc = master_session_ask(si, hint, &s->auth_fd, &s->relay_fd);
	sodium_memzero(hint, sizeof(hint)); /* a reused pre-login process serves others next */
	if (rc < 0)
		log_warn("smtp.session_ask", "session=%s error=\"no session process for this connection\"",
		         s->id);
	return rc;
}

void smtp_auth_map_certificate(struct smtp_session *s)
{
	struct auth_ctx c;
	struct auth_peer peer;
	struct auth_reply rp;

	s->cert_mapped = false;
	memset(&s->cert_account, 0, sizeof(s->cert_account));
	if (!s->peer.has_cert || (s->store == NULL && !s->prelogin))
		return;
	/* the pre-login process asks its session process, which holds the database: the
	 * answer only offers EXTERNAL; the session process maps the account itself. The MX
	 * offers no AUTH (smtp_cmd_auth_offered), so there it asks nothing: a round trip
	 * and a lookup per connection whose answer nothing read. */
	if (s->prelogin && s->kind == SMTP_KIND_MX)
		return;
	auth_peer_from_tls(&peer, &s->peer);
	if (s->prelogin) {
		int rc = session_for(s, "c:", peer.sha256) < 0 ? -1 : auth_chan_cert_map(s->auth_fd, &peer);
		s->cert_mapped = rc == 1;
		if (rc < 0) { /* no session process, or it refused this certificate's account */
			smtp_reply(s, RPL_SESSION_RETRY);
			s->closing = true;
		}
		return;
	}
	c = auth_context(s);
	memset(&rp, 0, sizeof(rp));
	if (auth_cert_map(&c, &peer, &rp) != 1)
		return;
	str_assert(str_copy(s->cert_account.address, sizeof(s->cert_account.address), rp.account),
	           "AUTH_ADDRESS_MAX into an account's 256 bytes");
	s->cert_account.role = rp.role;
	s->cert_mapped = true;
}

/* ---- the SASL exchange in SMTP's framing ---- */

static int challenge(void *arg, const char *b64, struct buf *line)
{
	enum conn_result r = smtp_session_challenge(arg, b64, line);

	return r == CONN_OK ? 0 : r == CONN_TOOLONG ? 1 : -1;
}

static void verify(void *arg, const struct auth_request *rq, struct auth_reply *rp)
{
	struct smtp_session *s = arg;
	struct auth_ctx c = auth_context(s);

	if (s->prelogin && session_for(s, "u:", rq->user) < 0) {
		memset(rp, 0, sizeof(*rp));
		rp->result = AUTH_TEMPFAIL;
		rp->reason = AUTH_R_INTERNAL;
	} else if (s->prelogin) /* the pre-login process: the session process decides */
		(void)auth_chan_verify(s->auth_fd, rq, rp);
	else
		auth_verify(&c, rq, rp, time(NULL));
}

static enum sender_auth sender_kind(enum auth_strength st)
{
	switch (st) {
	case AUTH_STRENGTH_CERTIFICATE:
	case AUTH_STRENGTH_PASSWORD_CERT:
		return SENDER_CERTIFICATE;
	case AUTH_STRENGTH_TOKEN:
		return SENDER_TOKEN;
	default:
		return SENDER_PASSWORD;
	}
}

void smtp_auth_logged_in(struct smtp_session *s, const struct auth_reply *rp)
{
	s->authenticated = true;
	memset(&s->auth_account, 0, sizeof(s->auth_account));
	str_assert(str_copy(s->auth_account.address, sizeof(s->auth_account.address), rp->account),
	           "AUTH_ADDRESS_MAX into an account's 256 bytes");
	s->auth_account.role = rp->role;
	memcpy(s->auth_account.password_stamp, rp->password_stamp, sizeof(rp->password_stamp));
	memcpy(s->auth_account.cert_stamp, rp->cert_stamp, sizeof(rp->cert_stamp));
	s->auth_kind = sender_kind(rp->strength);
	s->auth_by_password =
	    rp->strength == AUTH_STRENGTH_PASSWORD || rp->strength == AUTH_STRENGTH_PASSWORD_CERT;
	s->auth_by_cert =
	    rp->strength == AUTH_STRENGTH_CERTIFICATE || rp->strength == AUTH_STRENGTH_PASSWORD_CERT;
}

static int logged_in(struct smtp_session *s, const struct auth_reply *rp)
{
	smtp_auth_logged_in(s, rp);
	if (s->prelogin) /* the peer is identified: the session process goes on */
		s->handoff = SMTP_HANDOFF_AFTER;
	return smtp_reply(s, RPL_AUTH_OK);
}

static int answer(struct smtp_session *s, enum sasl_outcome o, const struct auth_reply *rp)
{
	switch (o) {
	case SASL_OK:
		return logged_in(s, rp);
	case SASL_LOCKED:
		return smtp_reply(s, RPL_AUTH_LOCKED);
	case SASL_TEMPFAIL:
		return smtp_reply(s, RPL_AUTH_TEMPFAIL);
	case SASL_MALFORMED:
		return smtp_reply(s, RPL_AUTH_BAD_BASE64);
	case SASL_CANCELLED:
		return smtp_reply(s, RPL_AUTH_ABORTED);
	case SASL_GONE:
		return -1;
	default:
		return smtp_reply(s, RPL_AUTH_FAILED);
	}
}

static void prepare_request(const struct smtp_session *s, struct auth_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	str_assert(str_copy(rq->client_ip, sizeof(rq->client_ip), s->peer_ip), "64 bytes both");
	str_assert(str_copy(rq->protocol, sizeof(rq->protocol), "smtp"), "a constant into 8 bytes");
	str_assert(str_copy(rq->listener, sizeof(rq->listener), s->listener),
	           "smtpd's listener names (\"submissions\" the longest) into 16 bytes");
	auth_peer_from_tls(&rq->peer, &s->peer);
}

int smtp_cmd_auth(struct smtp_session *s, const char *args)
{
	static struct auth_request rq; /* holds a 16 KiB token: kept off the stack */
	struct auth_reply rp;
	struct sasl_offer offer;
	struct sasl_io io = {s, challenge, verify};
	char mech[32];
	const char *resp;
	enum auth_mech m;

	if (s->authenticated)
		return smtp_reply(s, RPL_ALREADY_AUTH);
	if (!smtp_cmd_auth_offered(s))
		return smtp_reply(s, RPL_AUTH_NOT_ENABLED);
	if (smtp_parse_auth(args, mech, sizeof(mech), &resp) < 0)
		return smtp_reply(s, RPL_SYNTAX);
	smtp_auth_offer(s, &offer);
	m = sasl_mech_parse(mech);
	if (m == AUTH_MECH_NONE || !sasl_offered(&offer, m))
		return smtp_reply(s, RPL_MECH_UNKNOWN);
	prepare_request(s, &rq);
	int rc = answer(s, sasl_run(m, resp[0] ? resp : NULL, &io, &rq, &rp), &rp);
	/* a reused pre-login process serves the next peer with this memory: the names and
	 * certificate of this attempt go (sasl_run already wiped the secret) */
	sodium_memzero(&rq, sizeof(rq));
	return rc;
}
