/* tls_gnutls_sess.c: handshakes and I/O on GnuTLS (lib/tls.h). Errors read as the
 * OpenSSL backend's: the certificate verification text, "no client certificate",
 * "unsupported protocol", "no shared cipher", "no suitable key share", "handshake
 * timed out", "connection closed during handshake", a received alert as OpenSSL names
 * it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "lib/tls_gnutls_int.h"

/* OpenSSL's reason strings for the alerts a peer sends (ssl/ssl_err.c). */
static const char *alert_text(gnutls_alert_description_t a)
{
	static const struct {
		int alert;
		const char *text;
	} texts[] = {
	    {10, "sslv3 alert unexpected message"},  {20, "sslv3 alert bad record mac"},
	    {22, "tlsv1 alert record overflow"},     {40, "sslv3 alert handshake failure"},
	    {42, "sslv3 alert bad certificate"},     {43, "sslv3 alert unsupported certificate"},
	    {44, "sslv3 alert certificate revoked"}, {45, "sslv3 alert certificate expired"},
	    {46, "sslv3 alert certificate unknown"}, {47, "sslv3 alert illegal parameter"},
	    {48, "tlsv1 alert unknown ca"},          {49, "tlsv1 alert access denied"},
	    {50, "tlsv1 alert decode error"},        {51, "tlsv1 alert decrypt error"},
	    {70, "tlsv1 alert protocol version"},    {71, "tlsv1 alert insufficient security"},
	    {80, "tlsv1 alert internal error"},      {86, "tlsv1 alert inappropriate fallback"},
	    {90, "tlsv1 alert user cancelled"},      {100, "tlsv1 alert no renegotiation"},
	    {109, "tlsv13 alert missing extension"}, {110, "tlsv1 unsupported extension"},
	    {112, "tlsv1 unrecognized name"},        {116, "tlsv13 alert certificate required"},
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i].alert == (int)a)
			return texts[i].text;
	return NULL;
}

static void handshake_reason(struct tls_sess *s, int rc, char *err, size_t errlen)
{
	const char *alert;

	switch (rc) {
	case GNUTLS_E_CERTIFICATE_ERROR:
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
		(void)tls_errf(err, errlen, "%s",
		               s->verify_err[0] ? s->verify_err : "certificate verify failed");
		return;
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
		(void)tls_errf(err, errlen, "no client certificate");
		return;
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
		(void)tls_errf(err, errlen, "unsupported protocol");
		return;
	case GNUTLS_E_NO_CIPHER_SUITES:
	case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
	case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
		(void)tls_errf(err, errlen, "no shared cipher");
		return;
	case GNUTLS_E_NO_COMMON_KEY_SHARE: /* TLS 1.3: no group of ours offered */
		(void)tls_errf(err, errlen, "no suitable key share");
		return;
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
		(void)tls_errf(err, errlen, "connection closed during handshake");
		return;
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		alert = alert_text(gnutls_alert_get(s->s));
		(void)tls_errf(err, errlen, "%s",
		               alert ? alert : gnutls_alert_get_name(gnutls_alert_get(s->s)));
		return;
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		if (errno) {
			(void)tls_errf(err, errlen, "handshake I/O error: %s", strerror(errno));
			return;
		}
		(void)tls_errf(err, errlen, "connection closed during handshake");
		return;
	default:
		(void)tls_errf(err, errlen, "%s", tls_gnutls_reason(rc));
	}
}

static int run_handshake(struct tls_sess *s, int fd, unsigned timeout_s, char *err, size_t errlen)
{
	long deadline = timeout_s ? tls_now_ms() + (long)timeout_s * 1000 : LONG_MAX;

	for (;;) {
		int rc, w;

		errno = 0;
		rc = gnutls_handshake(s->s);
		if (rc == GNUTLS_E_SUCCESS)
			return 0;
		if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED && gnutls_error_is_fatal(rc)) {
			handshake_reason(s, rc, err, errlen);
			return -1;
		}
		w = tls_wait_fd(fd, gnutls_record_get_direction(s->s) ? POLLOUT : POLLIN, deadline);
		if (w <= 0)
			return tls_errf(err, errlen, "%s",
			                w == 0 ? "handshake timed out" : "handshake poll failed");
	}
}

static bool sni_allowed(const char *name)
{
	unsigned char addr[16];

	return name && *name && inet_pton(AF_INET, name, addr) != 1 && inet_pton(AF_INET6, name, addr) != 1;
}

static int sess_setup(struct tls_ctx *ctx, struct tls_sess *s, int fd, const char *sni)
{
	bool tickets = !ctx->client && ctx->ticket_key.data != NULL;
	unsigned flags = (ctx->client ? GNUTLS_CLIENT : GNUTLS_SERVER) | GNUTLS_NONBLOCK |
	                 (tickets ? 0 : GNUTLS_NO_TICKETS);
	int rc = gnutls_init(&s->s, flags);

	if (rc < 0)
		return rc;
	gnutls_session_set_ptr(s->s, s);
	/* Tickets (tls.h): the context's key, resumable for ticket_lifetime. No early data
	 * (not GNUTLS_ENABLE_EARLY_DATA): a resumed connection is answered only after its
	 * handshake, whose certificate tls_gnutls_reverify checks again. */
	if (tickets) {
		if ((rc = gnutls_session_ticket_enable_server(s->s, &ctx->ticket_key)) < 0)
			return rc;
		gnutls_db_set_cache_expiration(s->s, (int)ctx->ticket_lifetime);
	}
	if ((rc = gnutls_priority_set(s->s, ctx->prio)) < 0 ||
	    (rc = gnutls_credentials_set(s->s, GNUTLS_CRD_CERTIFICATE, s->gen->cred)) < 0)
		return rc;
	if (!ctx->client)
		gnutls_certificate_server_set_request(
		    s->s, ctx->client_cert == TLS_CLIENT_CERT_REQUIRE    ? GNUTLS_CERT_REQUIRE
		          : ctx->client_cert == TLS_CLIENT_CERT_OPTIONAL ? GNUTLS_CERT_REQUEST
		                                                         : GNUTLS_CERT_IGNORE);
	if (ctx->client && sni_allowed(sni) &&
	    (rc = gnutls_server_name_set(s->s, GNUTLS_NAME_DNS, sni, strlen(sni))) < 0)
		return rc;
	gnutls_transport_set_int(s->s, fd);
	return 0;
}

static struct tls_sess *handshake(struct tls_ctx *ctx, int fd, const char *sni, unsigned timeout_s, char *err,
                                  size_t errlen)
{
	struct tls_sess *s;
	int flags = fcntl(fd, F_GETFL);
	int rc;

	if (flags < 0) {
		(void)tls_errf(err, errlen, "bad socket: %s", strerror(errno));
		return NULL;
	}
	tls_crl_watch_check(&ctx->crl);
	if (!(flags & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	s = xcalloc(1, sizeof(*s));
	s->client = ctx->client;
	s->gen = ctx->gen;
	s->gen->refs++;
	s->trust = s->gen->trust;
	s->trust->refs++;
	rc = sess_setup(ctx, s, fd, sni);
	if (rc < 0)
		rc = tls_errf(err, errlen, "cannot create TLS session: %s", tls_gnutls_reason(rc));
	else
		rc = run_handshake(s, fd, timeout_s, err, errlen);
	/* a resumed handshake skips the verify function: the certificate, again */
	if (rc == 0 && !ctx->client && gnutls_session_is_resumed(s->s))
		rc = tls_gnutls_reverify(s, err, errlen);
	if (rc == 0 && gnutls_certificate_type_get(s->s) != GNUTLS_CRT_X509)
		rc = tls_errf(err, errlen, "unsupported certificate type");
	if (!(flags & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, flags);
	if (rc < 0) {
		s->broken = true;
		tls_sess_free(s);
		return NULL;
	}
	return s;
}

struct tls_sess *tls_accept(struct tls_ctx *ctx, int fd, unsigned timeout_s, char *err, size_t errlen)
{
	if (ctx->client) {
		(void)tls_errf(err, errlen, "tls_accept on a client context");
		return NULL;
	}
	return handshake(ctx, fd, NULL, timeout_s, err, errlen);
}

struct tls_sess *tls_connect(struct tls_ctx *ctx, int fd, const char *server_name, unsigned timeout_s,
                             char *err, size_t errlen)
{
	if (!ctx->client) {
		(void)tls_errf(err, errlen, "tls_connect on a server context");
		return NULL;
	}
	return handshake(ctx, fd, server_name, timeout_s, err, errlen);
}

/* Maps a record-layer failure to the tls.h convention. */
static ssize_t io_result(struct tls_sess *s, ssize_t rc)
{
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
		return -2;
	if (rc == GNUTLS_E_PREMATURE_TERMINATION)
		return 0; /* EOF without close_notify: SMTP and IMAP frame their own data */
	if (rc == GNUTLS_E_REHANDSHAKE) {
		/* A client asking to renegotiate (TLS 1.2) is told no, as OpenSSL does with
		 * SSL_OP_NO_RENEGOTIATION; the session goes on. */
		(void)gnutls_alert_send(s->s, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
		return -2;
	}
	if (!gnutls_error_is_fatal((int)rc))
		return -2;
	s->broken = true;
	return -1;
}

/* The record held in s->pkt, overwritten, then given back to GnuTLS. */
static void drop_packet(struct tls_sess *s)
{
	gnutls_datum_t d;

	if (s->pkt == NULL)
		return;
	gnutls_packet_get(s->pkt, &d, NULL);
	explicit_bzero(d.data, d.size);
	gnutls_packet_deinit(s->pkt);
	s->pkt = NULL;
	s->off = 0;
}

/* Reads through the records themselves (gnutls_record_recv_packet) rather than
 * gnutls_record_recv, which copies out of buffers GnuTLS frees without clearing: the
 * cleartext of each record is overwritten once read (drop_packet). */
ssize_t tls_read(struct tls_sess *s, void *p, size_t n)
{
	gnutls_datum_t d;
	ssize_t rc;

	if (s->broken)
		return -1;
	if (s->pkt == NULL) {
		rc = gnutls_record_recv_packet(s->s, &s->pkt);
		if (rc <= 0) {
			s->pkt = NULL;
			return rc == 0 ? 0 : io_result(s, rc);
		}
		s->off = 0;
	}
	gnutls_packet_get(s->pkt, &d, NULL);
	size_t k = d.size - s->off < n ? d.size - s->off : n;
	memcpy(p, d.data + s->off, k);
	s->off += k;
	if (s->off >= d.size)
		drop_packet(s);
	return (ssize_t)k;
}

ssize_t tls_write(struct tls_sess *s, const void *p, size_t n)
{
	ssize_t rc;

	if (s->broken)
		return -1;
	if (n == 0)
		return 0;
	rc = gnutls_record_send(s->s, p, n);
	if (rc > 0)
		return rc;
	rc = io_result(s, rc);
	return rc == 0 ? -1 : rc; /* the peer closed while we write: the write failed */
}

size_t tls_pending(struct tls_sess *s)
{
	size_t held = 0;

	if (s->pkt != NULL) {
		gnutls_datum_t d;
		gnutls_packet_get(s->pkt, &d, NULL);
		held = d.size - s->off;
	}
	return held + gnutls_record_check_pending(s->s);
}

void tls_peer_info(struct tls_sess *s, struct tls_peer *out)
{
	tls_gnutls_peer_info(s, out);
}

void tls_sess_free(struct tls_sess *s)
{
	if (!s)
		return;
	drop_packet(s);
	if (s->s) {
		if (!s->broken)
			(void)gnutls_bye(s->s, GNUTLS_SHUT_WR); /* one non-blocking try: best effort */
		gnutls_deinit(s->s);
	}
	tls_gtrust_unref(s->trust);
	tls_gen_unref(s->gen);
	free(s);
}
