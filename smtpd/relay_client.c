/* relay_client.c: the relay's SMTP client (relay_client.h). */
#include "smtpd/relay_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "directory/trust.h"
#include "lib/str.h"
#include "smtpd/relay_stream.h"

/* libetpan 1.9 exports these two from its mailsmtp_private.h, which Debian does not
 * install. MAIL with the parameters mailesmtp_mail cannot send (SMTPUTF8, REQUIRETLS)
 * goes through them, so that libetpan still reads and parses the reply (into
 * response_code and response) as for every other command. */
int mailsmtp_send_command(mailsmtp *session, char *command);
int mailsmtp_read_response(mailsmtp *session);

struct relay_conn {
	struct relay_io io;
	mailsmtp *smtp;
	unsigned timeout;
	char peer_dn[512];
	char host[MSS_DOMAIN_SIZE];
	/* what the EHLO over TLS offered beyond libetpan's MAILSMTP_ESMTP_* flags */
	bool smtputf8;   /* RFC 6531 */
	bool requiretls; /* RFC 8689 */
};

/* Whether the EHLO reply (libetpan's response: one keyword line per '\n') offers kw. */
static bool ehlo_offers(const char *response, const char *kw)
{
	size_t n = strlen(kw);
	const char *l = response;
	while (l != NULL && *l) {
		/* the keyword alone or with parameters; strchr also matches the final NUL */
		if (strncasecmp(l, kw, n) == 0 && strchr(" \r\n", l[n]) != NULL)
			return true;
		l = strchr(l, '\n');
		if (l != NULL)
			l++;
	}
	return false;
}

static void set_result(struct relay_result *r, enum relay_verdict v, int code, const char *text)
{
	r->verdict = v;
	relay_reply_line(code, text, r->reply, sizeof r->reply);
}

/* The session's last reply as a result; a failure with no reply (lost connection,
 * timeout, a reply that did not parse) is temporary and says what happened. */
static void reply_result(struct relay_conn *c, int rc, struct relay_result *r)
{
	int code = c->smtp->response_code;
	if (rc == MAILSMTP_ERROR_STREAM || code < 200 || code > 599) {
		char why[160];
		if (str_format(why, sizeof why, "no usable reply from the server (%s)",
		               c->io.failure ? c->io.failure : mailsmtp_strerror(rc)) != 0)
			why[0] = '\0';
		set_result(r, RELAY_TEMPORARY, 0, why);
		return;
	}
	set_result(r, relay_reply_verdict(code), code, c->smtp->response);
}

/* Non-blocking connect to one address, bounded by timeout. Returns the fd or -1. */
static int connect_addr(const struct addrinfo *ai, unsigned timeout)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (poll(&p, 1, (int)timeout * 1000) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
			return fd;
	}
	close(fd);
	return -1;
}

/* Each address of hop in turn (RFC 5321 5.1). Returns the fd or -1 with why. */
static int connect_hop(const struct relay_hop *hop, unsigned timeout, struct relay_result *why)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	char port[16], text[QUEUE_REPLY_SIZE];
	int fd = -1;
	if (str_format(port, sizeof port, "%u", hop->port) != 0)
		return -1;
	int g = getaddrinfo(hop->host, port, &hints, &res);
	if (g != 0) {
		if (str_format(text, sizeof text, "cannot resolve %s: %s", hop->host, gai_strerror(g)) != 0)
			text[0] = '\0';
		set_result(why, RELAY_TEMPORARY, 0, text);
		return -1;
	}
	for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = connect_addr(ai, timeout);
	freeaddrinfo(res);
	if (fd < 0) {
		if (str_format(text, sizeof text, "cannot connect to %s port %u", hop->host, hop->port) != 0)
			text[0] = '\0';
		set_result(why, RELAY_TEMPORARY, 0, text);
	}
	return fd;
}

/* STARTTLS is required (no plaintext fallback); then the peer must be the operator
 * the trust list names for domain. Returns 0 or -1 with why. */
static int secure(struct relay_conn *c, struct store *st, struct tls_ctx *ctx, const char *domain,
                  const struct relay_hop *hop, struct relay_result *why)
{
	char err[256], text[QUEUE_REPLY_SIZE];
	struct tls_peer peer;
	if (!(c->smtp->esmtp & MAILSMTP_ESMTP_STARTTLS)) {
		set_result(why, RELAY_TEMPORARY, 0, "the server does not offer STARTTLS");
		return -1;
	}
	int rc = mailesmtp_starttls(c->smtp);
	if (rc != MAILSMTP_NO_ERROR) {
		reply_result(c, rc, why);
		why->verdict = RELAY_TEMPORARY;
		return -1;
	}
	if (relay_stream_starttls(c->smtp->stream, &c->io, ctx, hop->host, c->timeout, err, sizeof err) < 0) {
		if (str_format(text, sizeof text, "TLS handshake failed: %s", err) != 0)
			text[0] = '\0';
		set_result(why, RELAY_TEMPORARY, 0, text);
		return -1;
	}
	tls_peer_info(c->io.tls, &peer);
	if (!peer.has_cert || trust_is_listed(st, domain, peer.subject_dn) != 1) {
		if (str_format(text, sizeof text,
		               "server certificate %s is not listed for %s in the trust list",
		               peer.subject_dn[0] ? peer.subject_dn : "(none)", domain) != 0)
			text[0] = '\0';
		set_result(why, RELAY_TEMPORARY, 0, text);
		return -1;
	}
	if (str_copy(c->peer_dn, sizeof c->peer_dn, peer.subject_dn) != 0)
		c->peer_dn[0] = '\0';
	rc = mailesmtp_ehlo(c->smtp);
	if (rc != MAILSMTP_NO_ERROR) {
		reply_result(c, rc, why);
		return -1;
	}
	/* only this EHLO counts: RFC 3207 4.2 discards what was said before TLS */
	c->smtputf8 = ehlo_offers(c->smtp->response, "SMTPUTF8");
	c->requiretls = ehlo_offers(c->smtp->response, "REQUIRETLS");
	return 0;
}

/* Greeting and the first EHLO. Returns 0 or -1 with why. */
static int greet(struct relay_conn *c, struct relay_result *why)
{
	int rc = mailsmtp_connect(c->smtp, c->smtp->stream);
	if (rc != MAILSMTP_NO_ERROR) {
		reply_result(c, rc, why);
		return -1;
	}
	rc = mailesmtp_ehlo(c->smtp);
	if (rc != MAILSMTP_NO_ERROR) {
		/* an SMTP server without EHLO offers no STARTTLS either */
		reply_result(c, rc, why);
		why->verdict = why->verdict == RELAY_OK ? RELAY_TEMPORARY : why->verdict;
		return -1;
	}
	return 0;
}

struct relay_conn *relay_open(struct store *st, struct tls_ctx *ctx, const struct mss_config *cfg,
                              const char *domain, const struct relay_hop *hop, struct relay_result *why)
{
	struct relay_conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		abort();
	c->timeout = cfg->relay_timeout;
	c->io.timeout = c->timeout;
	if (str_copy(c->host, sizeof c->host, hop->host) != 0)
		c->host[0] = '\0';
	c->io.fd = connect_hop(hop, c->timeout, why);
	if (c->io.fd < 0) {
		free(c);
		return NULL;
	}
	c->smtp = mailsmtp_new(0, NULL);
	mailstream *s = relay_stream_new(&c->io);
	if (c->smtp == NULL || s == NULL) {
		if (s != NULL)
			mailstream_close(s);
		set_result(why, RELAY_TEMPORARY, 0, "out of memory");
		relay_close(c);
		return NULL;
	}
	/* mailsmtp_connect takes the stream (and reads the greeting) */
	c->smtp->stream = s;
	if (greet(c, why) < 0 || secure(c, st, ctx, domain, hop, why) < 0) {
		relay_close(c);
		return NULL;
	}
	return c;
}

const char *relay_peer_dn(const struct relay_conn *c)
{
	return c->peer_dn;
}

const char *relay_peer_host(const struct relay_conn *c)
{
	return c->host;
}

bool relay_peer_dsn(const struct relay_conn *c)
{
	return (c->smtp->esmtp & MAILSMTP_ESMTP_DSN) != 0;
}

/* libetpan's NOTIFY bits are lib/dsn.h's, so a recipient's NOTIFY is handed over as is. */
_Static_assert(DSN_NOTIFY_SUCCESS == MAILSMTP_DSN_NOTIFY_SUCCESS &&
                   DSN_NOTIFY_FAILURE == MAILSMTP_DSN_NOTIFY_FAILURE &&
                   DSN_NOTIFY_DELAY == MAILSMTP_DSN_NOTIFY_DELAY &&
                   DSN_NOTIFY_NEVER == MAILSMTP_DSN_NOTIFY_NEVER,
               "NOTIFY bits");

/* RCPT with NOTIFY and ORCPT (RFC 3461 4.1, 4.2) when the peer offers DSN. */
static int send_rcpt(struct relay_conn *c, const struct relay_envelope *env, size_t i)
{
	const struct dsn_rcpt *d = env->rcpt_dsn ? &env->rcpt_dsn[i] : NULL;
	char orcpt[3 * DSN_ORCPT_MAX + 8];
	if (!relay_peer_dsn(c) || d == NULL || (d->notify == 0 && !d->orcpt[0]))
		return mailsmtp_rcpt(c->smtp, env->rcpts[i]);
	/* "addr-type;address" kept decoded: the address goes back to xtext */
	const char *semi = strchr(d->orcpt, ';');
	int n = semi ? (int)(semi - d->orcpt) : 0;
	if (semi == NULL || str_format(orcpt, sizeof orcpt, "%.*s;", n, d->orcpt) != 0 ||
	    dsn_xtext_encode(semi + 1, orcpt + n + 1, sizeof orcpt - (size_t)n - 1) != 0)
		orcpt[0] = '\0';
	return mailesmtp_rcpt(c->smtp, env->rcpts[i], (int)d->notify, orcpt[0] ? orcpt : NULL);
}

static void all_results(struct relay_result *res, size_t n, const struct relay_result *r)
{
	for (size_t i = 0; i < n; i++)
		res[i] = *r;
}

/* A message whose options the next hop cannot carry fails for good, without MAIL:
 * RFC 8689 5 (5.7.30, no sending in the clear or to a hop without REQUIRETLS) and
 * RFC 6531 3.2 (5.6.7, no downgrade of a message that needs SMTPUTF8). Returns true
 * with why filled when it cannot go. */
static bool options_refused(const struct relay_conn *c, unsigned flags, struct relay_result *why)
{
	if ((flags & QUEUE_REQUIRETLS) && !c->requiretls) {
		set_result(why, RELAY_PERMANENT, 0,
		           "5.7.30 REQUIRETLS support required: the next hop does not offer REQUIRETLS "
		           "(RFC 8689)");
		return true;
	}
	if ((flags & QUEUE_SMTPUTF8) && !c->smtputf8) {
		set_result(why, RELAY_PERMANENT, 0,
		           "5.6.7 the message has UTF-8 addresses or header fields and the next hop does "
		           "not offer SMTPUTF8 (RFC 6531)");
		return true;
	}
	return false;
}

/* RET and ENVID (RFC 3461 4.3, 4.4) for MAIL: only to a peer that offers DSN, and only
 * those the sender gave (a message without them goes as it came). Returns 0, or -1
 * when they do not fit out. */
static int dsn_mail_params(const struct relay_conn *c, const struct dsn_mail *dsn, char *out, size_t outlen)
{
	char envid[3 * DSN_ENVID_MAX + 1] = "";
	out[0] = '\0';
	if (!relay_peer_dsn(c) || dsn == NULL)
		return 0;
	if (dsn->envid[0] && dsn_xtext_encode(dsn->envid, envid, sizeof envid) != 0)
		return -1;
	return str_format(out, outlen, "%s%s%s%s", dsn->ret == DSN_RET_FULL ? " RET=FULL" : "",
	                  dsn->ret == DSN_RET_HDRS ? " RET=HDRS" : "", envid[0] ? " ENVID=" : "", envid) == 0
	           ? 0
	           : -1;
}

/* The MAIL command, with every parameter the message needs: the one place they are
 * built. Returns 0, or -1 when it does not fit out. */
static int mail_command(const struct relay_conn *c, const struct relay_envelope *env, char *out,
                        size_t outlen)
{
	char dsn[3 * DSN_ENVID_MAX + 32];
	if (dsn_mail_params(c, env->dsn, dsn, sizeof dsn) < 0)
		return -1;
	return str_format(out, outlen, "MAIL FROM:<%s>%s%s%s\r\n", env->mail_from,
	                  (env->flags & QUEUE_SMTPUTF8) && c->smtputf8 ? " SMTPUTF8" : "",
	                  env->flags & QUEUE_REQUIRETLS ? " REQUIRETLS" : "", dsn) == 0
	           ? 0
	           : -1;
}

/* Sends MAIL (mail_command) and reads its reply with libetpan. Returns a MAILSMTP_*
 * code as mailsmtp_mail does. */
static int send_mail(struct relay_conn *c, const struct relay_envelope *env)
{
	char cmd[MSS_ADDRESS_SIZE + 3 * DSN_ENVID_MAX + 128];
	if (mail_command(c, env, cmd, sizeof cmd) < 0)
		return MAILSMTP_ERROR_MEMORY;
	if (mailsmtp_send_command(c->smtp, cmd) < 0)
		return MAILSMTP_ERROR_STREAM;
	int code = mailsmtp_read_response(c->smtp);
	return code == 250 ? MAILSMTP_NO_ERROR
	       : code == 0 ? MAILSMTP_ERROR_STREAM
	                   : MAILSMTP_ERROR_UNEXPECTED_CODE;
}

int relay_send(struct relay_conn *c, const struct relay_envelope *env, const char *data, size_t len,
               struct relay_result *res)
{
	struct relay_result r;
	size_t accepted = 0, n = env->n;
	if (options_refused(c, env->flags, &r)) {
		all_results(res, n, &r);
		return 0;
	}
	c->io.timeout = c->timeout;
	int rc = send_mail(c, env);
	if (rc != MAILSMTP_NO_ERROR) {
		reply_result(c, rc, &r);
		all_results(res, n, &r);
		return rc == MAILSMTP_ERROR_STREAM ? -1
		                                   : (mailsmtp_reset(c->smtp) == MAILSMTP_NO_ERROR ? 0 : -1);
	}
	for (size_t i = 0; i < n; i++) {
		rc = send_rcpt(c, env, i);
		reply_result(c, rc, &res[i]);
		if (rc == MAILSMTP_ERROR_STREAM) {
			all_results(res + i, n - i, &res[i]);
			return -1;
		}
		accepted += res[i].verdict == RELAY_OK;
	}
	if (accepted == 0)
		return mailsmtp_reset(c->smtp) == MAILSMTP_NO_ERROR ? 0 : -1;
	rc = mailsmtp_data(c->smtp);
	if (rc == MAILSMTP_NO_ERROR) {
		c->io.timeout = c->timeout * 2; /* RFC 5321 4.5.3.2.6: the final dot's reply */
		rc = mailsmtp_data_message(c->smtp, data, len);
		c->io.timeout = c->timeout;
	}
	reply_result(c, rc, &r);
	for (size_t i = 0; i < n; i++)
		if (res[i].verdict == RELAY_OK)
			res[i] = r;
	return rc == MAILSMTP_ERROR_STREAM || r.verdict == RELAY_TEMPORARY ? -1 : 0;
}

int relay_reset(struct relay_conn *c)
{
	c->io.timeout = c->timeout;
	return mailsmtp_reset(c->smtp) == MAILSMTP_NO_ERROR ? 0 : -1;
}

void relay_close(struct relay_conn *c)
{
	if (c == NULL)
		return;
	if (c->smtp != NULL) {
		if (c->smtp->stream != NULL && c->io.failure == NULL) {
			c->io.timeout = 10;
			mailsmtp_quit(c->smtp);
		}
		mailsmtp_free(c->smtp); /* closes the stream (not the socket: ours) */
	}
	if (c->io.tls != NULL)
		tls_sess_free(c->io.tls);
	if (c->io.fd >= 0)
		close(c->io.fd);
	free(c);
}
