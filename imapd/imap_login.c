/* imap_login.c: LOGIN and AUTHENTICATE (RFC 9051 6.2.2, 6.2.3; SASL-IR, RFC 4959):
 * IMAP's "+" framing of the SASL exchange of auth/sasl.h. Which mechanisms, the role
 * rules, the throttling and the audit records are all auth/'s. */
#include <string.h>
#include <time.h>

#include "auth/auth_chan.h"
#include "auth/sasl.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_kick.h"
#include "lib/log.h"
#include "lib/str.h"

static struct auth_ctx auth_context(const struct imap_session *s)
{
	struct auth_ctx c = {s->store, s->cfg, s->oauth, false, NULL};

	return c;
}

void imap_login_offer(const struct imap_session *s, struct sasl_offer *o)
{
	o->external = s->cert_maps;
	o->oauth = s->oauth != NULL;
}

void imap_login_tls_ready(struct imap_session *s)
{
	struct auth_ctx c;
	struct auth_peer peer;
	struct auth_reply rp;

	s->cert_maps = false;
	if ((s->store == NULL && s->auth_fd < 0) || !conn_is_tls(s->conn))
		return;
	auth_peer_from_tls(&peer, conn_tls_peer(s->conn));
	if (s->auth_fd >= 0) { /* asked of the session process, which holds the database */
		s->cert_maps = auth_chan_cert_map(s->auth_fd, &peer) == 1;
		return;
	}
	c = auth_context(s);
	memset(&rp, 0, sizeof(rp));
	s->cert_maps = auth_cert_map(&c, &peer, &rp) == 1;
}

/* The state changes and the capabilities are resent (RFC 9051 6.2.3). */
void imap_login_done(struct imap_session *s, const struct auth_reply *rp)
{
	memset(&s->account, 0, sizeof(s->account));
	str_assert(str_copy(s->account.address, sizeof(s->account.address), rp->account),
	           "AUTH_ADDRESS_MAX into an account's 256 bytes");
	s->account.role = rp->role;
	s->auth_method = auth_strength_name(rp->strength);
	s->state = IMAP_STATE_AUTH;
	/* from here on another account's message opens only with this account's own key
	 * row (a granted vault document), never with its owner's key (blob_keys, issue 12) */
	char err[256];
	if (s->store != NULL && store_reader_bind(s->store, s->account.address, err, sizeof(err)) < 0)
		log_err("imap.reader", "user=%s error=\"%s\"", s->account.address, err);
	if (s->store != NULL) /* the process that goes on with the session */
		imap_kick_arm(
		    s, rp->strength == AUTH_STRENGTH_PASSWORD || rp->strength == AUTH_STRENGTH_PASSWORD_CERT,
		    rp->strength == AUTH_STRENGTH_CERTIFICATE || rp->strength == AUTH_STRENGTH_PASSWORD_CERT);
}

static void logged_in(struct imap_session *s, const char *tag, const struct auth_reply *rp)
{
	struct buf capa;

	imap_login_done(s, rp);
	buf_init(&capa, BUF_UNLIMITED);
	imap_capability_list(s, &capa);
	imap_send_code(s, tag, IMAP_R_LOGGED_IN, NULL, NULL, "%s", capa.data);
	buf_free(&capa);
}

static void answer(struct imap_session *s, const char *tag, enum sasl_outcome o, const struct auth_reply *rp)
{
	switch (o) {
	case SASL_OK:
		logged_in(s, tag, rp);
		break;
	case SASL_LOCKED:
		imap_send(s, tag, IMAP_R_AUTHFAILED);
		conn_puts(s->conn, "* BYE Too many authentication failures, try again later\r\n");
		s->close_after_reply = true;
		break;
	case SASL_TEMPFAIL:
		imap_send(s, tag, IMAP_R_UNAVAILABLE);
		break;
	case SASL_MALFORMED:
		imap_send(s, tag, IMAP_R_AUTH_BASE64);
		break;
	case SASL_CANCELLED:
		imap_send(s, tag, IMAP_R_AUTH_CANCELLED); /* RFC 9051 6.2.2 */
		break;
	case SASL_GONE:
		s->close_after_reply = true;
		break;
	default:
		imap_send(s, tag, IMAP_R_AUTHFAILED);
		break;
	}
}

static void prepare_request(const struct imap_session *s, struct auth_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	str_assert(str_copy(rq->client_ip, sizeof(rq->client_ip), conn_peer_ip(s->conn)),
	           "the master's 64-byte peer address into 64 bytes");
	str_assert(str_copy(rq->protocol, sizeof(rq->protocol), "imap"), "a constant into 8 bytes");
	str_assert(str_copy(rq->listener, sizeof(rq->listener), s->implicit_tls ? "imaps" : "imap"),
	           "a constant into 16 bytes");
	auth_peer_from_tls(&rq->peer, conn_tls_peer(s->conn));
}

static bool require_tls(struct imap_session *s, const char *tag)
{
	if (conn_is_tls(s->conn))
		return true;
	imap_send(s, tag, IMAP_R_PRIVACYREQUIRED);
	return false;
}

/* ---- AUTHENTICATE ---- */

static int challenge(void *arg, const char *b64, struct buf *line)
{
	struct imap_session *s = arg;
	enum conn_result r;

	conn_printf(s->conn, "+ %s\r\n", b64);
	if (conn_flush(s->conn) < 0)
		return -1;
	r = conn_read_line(s->conn, line, SASL_LINE_MAX, NULL);
	if (r == CONN_TOOLONG || (r == CONN_OK && memchr(line->data, '\0', line->len) != NULL))
		return 1;
	if (r != CONN_OK)
		return -1; /* EOF, error or timeout: the session ends */
	return 0;
}

static void verify(void *arg, const struct auth_request *rq, struct auth_reply *rp)
{
	const struct imap_session *s = arg;
	struct auth_ctx c = auth_context(s);

	if (s->auth_fd >= 0) /* the pre-login process: the session process decides */
		(void)auth_chan_verify(s->auth_fd, rq, rp);
	else
		auth_verify(&c, rq, rp, time(NULL));
}

void cmd_authenticate(struct imap_session *s, struct imap_command *c)
{
	static struct auth_request rq; /* holds a 16 KiB token: kept off the stack */
	struct auth_reply rp;
	struct sasl_offer offer;
	struct sasl_io io = {s, challenge, verify};
	const char *ir = c->nargs == 2 ? imap_arg_astring(&c->args[1]) : NULL;
	enum auth_mech m;

	if (c->nargs < 1 || c->nargs > 2 || c->args[0].type != IMAP_ARG_ATOM ||
	    (c->nargs == 2 && ir == NULL)) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_AUTHENTICATE, c->name);
		return;
	}
	if (!require_tls(s, c->tag))
		return;
	imap_login_offer(s, &offer);
	m = sasl_mech_parse(c->args[0].str);
	if (m == AUTH_MECH_NONE || !sasl_offered(&offer, m)) {
		imap_send(s, c->tag, IMAP_R_MECH_UNSUPPORTED);
		return;
	}
	prepare_request(s, &rq);
	answer(s, c->tag, sasl_run(m, ir, &io, &rq, &rp), &rp);
}

/* ---- LOGIN: the password rules without SASL's encoding ---- */

void cmd_login(struct imap_session *s, struct imap_command *c)
{
	static struct auth_request rq;
	struct auth_reply rp;
	struct sasl_io io = {s, challenge, verify};
	const char *user = c->nargs == 2 ? imap_arg_astring(&c->args[0]) : NULL;
	const char *pass = c->nargs == 2 ? imap_arg_astring(&c->args[1]) : NULL;

	if (user == NULL || pass == NULL) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_LOGIN, c->name);
		return;
	}
	if (!require_tls(s, c->tag))
		return;
	prepare_request(s, &rq);
	answer(s, c->tag, sasl_password(user, pass, &io, &rq, &rp), &rp);
}
