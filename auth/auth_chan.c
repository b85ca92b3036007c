/* auth_chan.c: the typed, checked messages between a pre-login process and its
 * session process (see auth_chan.h). */
#include "auth/auth_chan.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/str.h"

#define HDR sizeof(struct auth_chan_hdr)

int auth_chan_pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

static size_t body_len(int type)
{
	switch (type) {
	case AUTH_CHAN_VERIFY:
		return sizeof(struct auth_request);
	case AUTH_CHAN_CERT_MAP:
		return sizeof(struct auth_peer);
	case AUTH_CHAN_REPLY:
		return sizeof(struct auth_reply);
	case AUTH_CHAN_HANDOFF:
		return sizeof(struct auth_handoff);
	default:
		return 0;
	}
}

/* A fixed-size field must hold its terminating NUL. */
#define TERMINATED(f) (memchr((f), '\0', sizeof(f)) != NULL)

static bool peer_ok(const struct auth_peer *p)
{
	return TERMINATED(p->sha256) && TERMINATED(p->email) && TERMINATED(p->subject_dn);
}

static bool request_ok(const struct auth_request *rq)
{
	return (unsigned)rq->mech <= AUTH_MECH_OAUTHBEARER && (unsigned)rq->input <= AUTH_INPUT_CANCELLED &&
	       TERMINATED(rq->user) && TERMINATED(rq->authzid) && TERMINATED(rq->secret) &&
	       TERMINATED(rq->client_ip) && TERMINATED(rq->protocol) && TERMINATED(rq->listener) &&
	       peer_ok(&rq->peer);
}

static bool reply_ok(const struct auth_reply *rp)
{
	return (unsigned)rp->result <= AUTH_TEMPFAIL && (unsigned)rp->reason < AUTH_R_COUNT &&
	       (unsigned)rp->strength <= AUTH_STRENGTH_TOKEN && TERMINATED(rp->account) &&
	       (rp->result != AUTH_OK ||
	        (rp->role >= ROLE_PATIENT && rp->role <= ROLE_ORGANISATION && rp->account[0] != '\0'));
}

static bool handoff_ok(const struct auth_handoff *ho)
{
	return (ho->flags & ~AUTH_HANDOFF_FLAGS) == 0 && TERMINATED(ho->client_name) &&
	       TERMINATED(ho->sha256) && TERMINATED(ho->email) && TERMINATED(ho->subject_dn) &&
	       TERMINATED(ho->issuer_dn) && TERMINATED(ho->tls_version) && TERMINATED(ho->tls_cipher) &&
	       ((ho->flags & AUTH_HANDOFF_TLS) || !(ho->flags & AUTH_HANDOFF_CERT));
}

int auth_chan_check(const struct auth_chan_msg *m, size_t n, int want, char *err, size_t errlen)
{
	if (n < HDR) {
		str_error(err, errlen, "short message (%zu octets)", n);
		return -1;
	}
	if (m->h.magic != AUTH_CHAN_MAGIC || m->h.version != AUTH_CHAN_VERSION || m->h.pad != 0) {
		str_error(err, errlen, "bad header");
		return -1;
	}
	int type = m->h.type;
	bool expected =
	    want ? type == want
	         : (type == AUTH_CHAN_VERIFY || type == AUTH_CHAN_CERT_MAP || type == AUTH_CHAN_HANDOFF);
	if (!expected) {
		str_error(err, errlen, "unexpected message type %d", type);
		return -1;
	}
	if (m->h.length != HDR + body_len(type) || n != m->h.length) {
		str_error(err, errlen, "length %zu, announced %u, type %d needs %zu", n, m->h.length, type,
		          HDR + body_len(type));
		return -1;
	}
	bool ok = type == AUTH_CHAN_VERIFY     ? request_ok(&m->b.rq)
	          : type == AUTH_CHAN_CERT_MAP ? peer_ok(&m->b.peer)
	          : type == AUTH_CHAN_HANDOFF  ? handoff_ok(&m->b.ho)
	                                       : reply_ok(&m->b.rp);
	if (!ok) {
		str_error(err, errlen, "type %d: a field out of range or without its end", type);
		return -1;
	}
	return type;
}

static void set_header(struct auth_chan_msg *m, int type)
{
	memset(&m->h, 0, sizeof(m->h));
	m->h.magic = AUTH_CHAN_MAGIC;
	m->h.version = AUTH_CHAN_VERSION;
	m->h.type = (uint16_t)type;
	m->h.length = (uint32_t)(HDR + body_len(type));
}

static int send_msg(int fd, const struct auth_chan_msg *m)
{
	ssize_t n;

	do
		n = send(fd, m, m->h.length, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)m->h.length ? 0 : -1;
}

/* One message into m (MSG_TRUNC: the datagram's true length). Returns its length, 0 on
 * end of file, -1 on error (EINTR included: a stopping process gives up). */
static ssize_t recv_msg(int fd, struct auth_chan_msg *m)
{
	return recv(fd, m, sizeof(*m), MSG_TRUNC);
}

/* The request crosses with its secret: it is built in, and wiped from, a static
 * buffer (16 KiB tokens stay off the stack). */
static struct auth_chan_msg msgbuf;

static void wipe(void)
{
	sodium_memzero(&msgbuf, sizeof(msgbuf));
}

static int ask(int fd, int type, struct auth_reply *rp)
{
	char err[160];
	ssize_t n;
	int rc = -1;

	set_header(&msgbuf, type);
	if (send_msg(fd, &msgbuf) == 0) {
		wipe();
		n = recv_msg(fd, &msgbuf);
		if (n > 0 && auth_chan_check(&msgbuf, (size_t)n, AUTH_CHAN_REPLY, err, sizeof(err)) > 0) {
			*rp = msgbuf.b.rp;
			rc = 0;
		} else if (n > 0) {
			log_err("auth.chan_refused", "error=\"%s\"", err);
		}
	}
	wipe();
	return rc;
}

int auth_chan_verify(int fd, const struct auth_request *rq, struct auth_reply *rp)
{
	memcpy(&msgbuf.b.rq, rq, sizeof(*rq));
	if (ask(fd, AUTH_CHAN_VERIFY, rp) == 0)
		return 0;
	memset(rp, 0, sizeof(*rp));
	rp->result = AUTH_TEMPFAIL;
	rp->reason = AUTH_R_INTERNAL;
	return -1;
}

int auth_chan_cert_map(int fd, const struct auth_peer *peer)
{
	struct auth_reply rp;

	memcpy(&msgbuf.b.peer, peer, sizeof(*peer));
	if (ask(fd, AUTH_CHAN_CERT_MAP, &rp) < 0 || rp.result == AUTH_TEMPFAIL)
		return -1; /* TEMPFAIL: a session process of another account refused it */
	return rp.result == AUTH_OK ? 1 : 0;
}

int auth_chan_handoff(int fd, const struct auth_handoff *ho)
{
	int rc;

	set_header(&msgbuf, AUTH_CHAN_HANDOFF);
	msgbuf.b.ho = *ho;
	rc = send_msg(fd, &msgbuf);
	wipe();
	return rc;
}

/* A field of the TLS state into its twin: both have the same size (checked on
 * receipt to hold their end), so a cut is a broken invariant. */
#define COPY(dst, src) str_assert(str_copy((dst), sizeof(dst), (src)), "struct tls_peer's sizes both")

void auth_handoff_set_tls(struct auth_handoff *ho, const struct tls_peer *tls)
{
	ho->flags &= ~(AUTH_HANDOFF_TLS | AUTH_HANDOFF_CERT);
	if (tls == NULL)
		return;
	ho->flags |= AUTH_HANDOFF_TLS | (tls->has_cert ? AUTH_HANDOFF_CERT : 0);
	COPY(ho->sha256, tls->sha256);
	COPY(ho->email, tls->email);
	COPY(ho->subject_dn, tls->subject_dn);
	COPY(ho->issuer_dn, tls->issuer_dn);
	COPY(ho->tls_version, tls->version);
	COPY(ho->tls_cipher, tls->cipher);
}

void auth_handoff_tls(const struct auth_handoff *ho, struct tls_peer *out)
{
	memset(out, 0, sizeof(*out));
	if (!(ho->flags & AUTH_HANDOFF_TLS))
		return;
	out->has_cert = (ho->flags & AUTH_HANDOFF_CERT) != 0;
	COPY(out->sha256, ho->sha256);
	COPY(out->email, ho->email);
	COPY(out->subject_dn, ho->subject_dn);
	COPY(out->issuer_dn, ho->issuer_dn);
	COPY(out->version, ho->tls_version);
	COPY(out->cipher, ho->tls_cipher);
}

static int answer(int fd, const struct auth_reply *rp)
{
	struct auth_chan_msg *m = &msgbuf;

	set_header(m, AUTH_CHAN_REPLY);
	m->b.rp = *rp;
	return send_msg(fd, m);
}

static void handle(const struct auth_chan_msg *m, int type, const struct auth_ctx *ctx, struct auth_reply *rp)
{
	memset(rp, 0, sizeof(*rp));
	if (type == AUTH_CHAN_VERIFY) {
		auth_verify(ctx, &m->b.rq, rp, time(NULL));
		return;
	}
	int maps = auth_cert_map(ctx, &m->b.peer, rp);
	if (maps != 1) /* the certificate's account, or nothing */
		memset(rp, 0, sizeof(*rp));
	rp->result = maps == 1 ? AUTH_OK : AUTH_FAILED;
	rp->reason = maps == 1 ? AUTH_R_OK : AUTH_R_CERT_UNMAPPED;
}

/* A message that does not check: logged, and its sender ended. */
static enum auth_chan_served refuse(pid_t peer, const char *err)
{
	wipe();
	log_err("auth.chan_refused", "peer_pid=%ld error=\"%s\" action=ended", (long)peer, err);
	if (peer > 0)
		kill(peer, SIGKILL);
	return AUTH_CHAN_REFUSED;
}

/* Whether rp (a VERIFY's or CERT_MAP's answer) names an account other than own's (the
 * one the serving process logged in before; NULL or "": none yet). */
static bool other_account(const struct auth_reply *rp, const struct auth_chan_own *own)
{
	return own != NULL && own->account != NULL && own->account[0] != '\0' && rp->result == AUTH_OK &&
	       strcmp(rp->account, own->account) != 0;
}

/* What the connection's first VERIFY (m, of type) or CERT_MAP (answered rp) named, into
 * own (see struct auth_chan_own): the SASL user it was asked for, or the account the
 * certificate maps to. */
static void first_named(struct auth_chan_own *own, const struct auth_chan_msg *m, int type,
                        const struct auth_reply *rp)
{
	if (own == NULL || own->named_set)
		return;
	own->named_set = true;
	const char *named = type == AUTH_CHAN_VERIFY ? m->b.rq.user
	                    : rp->result == AUTH_OK  ? rp->account
	                                             : "";
	str_assert(str_copy(own->named, sizeof(own->named), named), "user and account: AUTH_ADDRESS_MAX");
}

/* handoff: where a HANDOFF goes, NULL when none is accepted; logged_in: only a
 * HANDOFF is; own: see struct auth_chan_own. */
static enum auth_chan_served serve(int fd, pid_t peer, const struct auth_ctx *ctx, bool logged_in,
                                   struct auth_chan_own *own, struct auth_reply *ok,
                                   struct auth_handoff *handoff)
{
	struct auth_reply rp;
	char err[160];
	ssize_t n = recv_msg(fd, &msgbuf);
	int type;

	if (n <= 0)
		return AUTH_CHAN_CLOSED;
	type = auth_chan_check(&msgbuf, (size_t)n, logged_in ? AUTH_CHAN_HANDOFF : 0, err, sizeof(err));
	if (type < 0)
		return refuse(peer, err);
	if (type == AUTH_CHAN_HANDOFF) {
		if (handoff == NULL)
			return refuse(peer, "unexpected message type 4");
		*handoff = msgbuf.b.ho;
		wipe();
		return AUTH_CHAN_HANDED_OVER;
	}
	handle(&msgbuf, type, ctx, &rp);
	first_named(own, &msgbuf, type, &rp);
	wipe();
	if (other_account(&rp, own)) { /* a temporary failure for the client; the caller ends */
		memset(&rp, 0, sizeof(rp));
		rp.result = AUTH_TEMPFAIL;
		rp.reason = AUTH_R_INTERNAL;
		(void)answer(fd, &rp);
		wipe();
		return AUTH_CHAN_OTHER_ACCOUNT;
	}
	if (answer(fd, &rp) < 0) {
		wipe();
		return AUTH_CHAN_CLOSED;
	}
	wipe();
	if (type == AUTH_CHAN_VERIFY && rp.result == AUTH_OK) {
		*ok = rp;
		return AUTH_CHAN_LOGGED_IN;
	}
	return AUTH_CHAN_ANSWERED;
}

enum auth_chan_served auth_chan_serve(int fd, pid_t peer, const struct auth_ctx *ctx, struct auth_reply *ok)
{
	return serve(fd, peer, ctx, false, NULL, ok, NULL);
}

enum auth_chan_served auth_chan_serve_until_handoff(int fd, pid_t peer, const struct auth_ctx *ctx,
                                                    bool logged_in, struct auth_chan_own *own,
                                                    struct auth_reply *ok, struct auth_handoff *ho)
{
	return serve(fd, peer, ctx, logged_in, own, ok, ho);
}

int auth_chan_wait(int fd)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, 1000);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 0;
	}
}
