/* web_http.c: libmicrohttpd under lib/master's process model (web.h).
 *
 * The master accepts and forks; the session process starts a libmicrohttpd daemon
 * without a listening socket (MHD_USE_NO_LISTEN_SOCKET), hands it the one accepted
 * connection (MHD_add_connection) and runs its event loop until that connection is
 * closed. libmicrohttpd does the TLS (GnuTLS, TLS 1.2 and 1.3 only; the certificate and
 * the agent-held key from web_tls.h's callback), the HTTP parsing,
 * keep-alive and the form bodies (its post processor): no HTTP is parsed here. Every
 * response leaves through respond(), which adds the security headers. */
#include "webd/web.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/str.h"
#include "webd/web_html.h"
#include "webd/web_msg.h"
#include "webd/web_tls.h"

/* GnuTLS priorities, as lib/tls's policy for the mail ports (mss.conf(5) "TLS"): TLS 1.2
 * and 1.3 only, ECDHE key exchange, AEAD ciphers only, the server's order. */
#define WEB_TLS_PRIORITIES                                                                                   \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:-CIPHER-ALL:+AES-256-"   \
	"GCM:"                                                                                               \
	"+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

struct web_conn {
	const struct webd *d;
	struct store *st; /* NULL in the front process */
	const char *peer;
	int chan;                     /* the session process's end, -1 when the pages run here */
	char bound[AUTH_ADDRESS_MAX]; /* the connection's account (web_bind) */
};

struct web_call {
	struct web_req r;
	struct MHD_PostProcessor *pp;
	size_t bytes;
	bool too_big;
	bool args_bad; /* a path, query argument or count past web.h's bounds */
};

const char *web_query(const struct web_req *r, const char *name)
{
	for (size_t i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].name, name) == 0)
			return r->query[i].value;
	return NULL;
}

/* Only the two cookies of mss-webd are ever looked at (and carried to the session
 * process). */
const char *web_cookie(const struct web_req *r, const char *name)
{
	const char *v = strcmp(name, WEB_SESSION_COOKIE) == 0 ? r->cookie_session
	                : strcmp(name, WEB_LOGIN_COOKIE) == 0 ? r->cookie_login
	                                                      : "";
	return v[0] ? v : NULL;
}

const char *web_field(const struct web_req *r, const char *name)
{
	for (size_t i = 0; i < r->form.n; i++)
		if (strcmp(r->form.f[i].name, name) == 0) {
			struct buf *v = (struct buf *)&r->form.f[i].value;
			if (buf_append_char(v, '\0') < 0)
				return NULL;
			v->len--; /* NUL-terminated, length unchanged */
			return v->data;
		}
	return NULL;
}

/* A query argument, as libmicrohttpd decoded it: the first of a repeated name is the
 * one (MHD_lookup_connection_value's choice); past the bounds the request is refused. */
static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct web_call *c = cls;
	struct web_req *r = &c->r;

	(void)kind;
	if (web_query(r, key) != NULL)
		return MHD_YES;
	if (r->nquery == WEB_QUERY_ARGS ||
	    str_copy(r->query[r->nquery].name, sizeof(r->query[0].name), key) < 0 ||
	    str_copy(r->query[r->nquery].value, sizeof(r->query[0].value), value ? value : "") < 0) {
		c->args_bad = true;
		return MHD_NO;
	}
	r->nquery++;
	return MHD_YES;
}

/* The request's path, query arguments and our two cookies into r. */
static void request_args(struct web_call *c, struct MHD_Connection *conn, const char *url)
{
	struct web_req *r = &c->r;
	const char *v;

	if (str_copy(r->path_buf, sizeof(r->path_buf), url) < 0)
		c->args_bad = true;
	(void)MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_arg, c);
	v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, WEB_SESSION_COOKIE);
	if (v == NULL || str_copy(r->cookie_session, sizeof(r->cookie_session), v) < 0)
		r->cookie_session[0] = '\0';
	v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, WEB_LOGIN_COOKIE);
	if (v == NULL || str_copy(r->cookie_login, sizeof(r->cookie_login), v) < 0)
		r->cookie_login[0] = '\0';
}

/* A field repeated, or one too many, makes the whole form unusable: a page never
 * guesses which of two values was meant. */
static enum MHD_Result post_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                  const char *content_type, const char *transfer_encoding, const char *data,
                                  uint64_t off, size_t size)
{
	struct web_call *c = cls;
	struct web_form *f = &c->r.form;
	struct web_field *fd = NULL;

	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->f[i].name, key) == 0)
			fd = &f->f[i];
	if (fd != NULL && off == 0)
		f->bad = true;
	if (fd == NULL) {
		if (f->n == WEB_FORM_FIELDS || strlen(key) >= WEB_FIELD_NAME_MAX || filename != NULL) {
			f->bad = true;
			return MHD_YES;
		}
		fd = &f->f[f->n++];
		str_assert(str_copy(fd->name, sizeof(fd->name), key), "the length is checked above");
		buf_init(&fd->value, c->r.d->cfg.web_max_form);
	}
	if (size > 0 && buf_append(&fd->value, data, size) < 0)
		f->bad = true;
	return MHD_YES;
}

static void add_header(struct MHD_Response *resp, const char *name, const char *value)
{
	if (MHD_add_response_header(resp, name, value) != MHD_YES)
		log_err("web.header", "error=\"cannot add %s\"", name);
}

/* The headers of every response: nothing cached (a shared computer keeps no health
 * page), no framing, no sniffing, no referrer, HTTPS only. A document the patient
 * opens is served sandboxed: it runs nothing and reaches nothing of the site. */
static void security_headers(struct MHD_Response *resp, const struct web_req *r)
{
	add_header(resp, "Cache-Control", "no-store");
	add_header(resp, "Pragma", "no-cache");
	add_header(resp, "Content-Security-Policy",
	           r->sandbox
	               ? "default-src 'self'; sandbox; frame-ancestors 'none'"
	               : "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
	add_header(resp, "X-Content-Type-Options", "nosniff");
	add_header(resp, "X-Frame-Options", "DENY");
	add_header(resp, "Referrer-Policy", "no-referrer");
	add_header(resp, "Strict-Transport-Security", "max-age=31536000");
	add_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
}

static enum MHD_Result respond(struct MHD_Connection *conn, struct web_req *r)
{
	web_finish(r);
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(r->body.len, r->body.data, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (resp == NULL)
		return MHD_NO;
	security_headers(resp, r);
	add_header(resp, "Content-Type", r->content_type ? r->content_type : "text/html; charset=utf-8");
	if (r->location[0])
		add_header(resp, "Location", r->location);
	for (size_t i = 0; i < 2; i++)
		if (r->set_cookie[i][0])
			add_header(resp, "Set-Cookie", r->set_cookie[i]);
	if (r->disposition[0])
		add_header(resp, "Content-Disposition", r->disposition);
	if (r->close) /* libmicrohttpd closes the connection once this response is sent */
		add_header(resp, "Connection", "close");
	rc = MHD_queue_response(conn, r->status ? r->status : 200, resp);
	MHD_destroy_response(resp);
	return rc;
}

static struct web_call *call_new(struct web_conn *wc, struct MHD_Connection *conn, const char *url,
                                 const char *method)
{
	struct web_call *c = xcalloc(1, sizeof(*c));

	c->r.d = wc->d;
	c->r.st = wc->st;
	c->r.bound = wc->bound;
	str_assert(str_copy(c->r.peer, sizeof(c->r.peer), wc->peer), "the master's 64-byte peer address");
	c->r.path = c->r.path_buf;
	c->r.post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	buf_init(&c->r.body, WEB_BODY_MAX);
	request_args(c, conn, url);
	return c;
}

static void call_free(struct web_call *c)
{
	if (c->pp != NULL)
		MHD_destroy_post_processor(c->pp);
	for (size_t i = 0; i < c->r.form.n; i++)
		buf_free(&c->r.form.f[i].value);
	buf_free(&c->r.body);
	free(c);
}

/* The front process: the request to the session process, its answer back into r. A
 * session process that is gone or answers what does not check ends this connection
 * (logged). Returns 0 or -1. */
static int remote(struct web_conn *wc, struct web_req *r)
{
	struct buf out, in;
	char err[256];
	int rc = -1;

	buf_init(&out, BUF_UNLIMITED);
	buf_init(&in, WEB_BODY_MAX + WEB_MSG_RESP_OVERHEAD);
	web_msg_put_request(&out, r);
	if (web_msg_write(wc->chan, &out) < 0) {
		str_error(err, sizeof(err), "the session process is gone");
	} else {
		enum web_msg_read got = web_msg_read(
		    wc->chan, WEB_MSG_RESPONSE, WEB_BODY_MAX + WEB_MSG_RESP_OVERHEAD, &in, err, sizeof(err));
		if (got == WEB_MSG_EOF)
			str_error(err, sizeof(err), "the session process closed its channel");
		else if (got == WEB_MSG_OK)
			rc = web_msg_get_response((const uint8_t *)in.data, in.len, r, err, sizeof(err));
	}
	if (rc < 0)
		log_err("web.chan_refused", "peer=%s error=\"%s\"", wc->peer, err);
	buf_free(&out);
	buf_free(&in);
	return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct web_conn *wc = cls;
	struct web_call *c = *con_cls;

	if (c == NULL) {
		c = call_new(wc, conn, url, method);
		*con_cls = c;
		if (c->r.post)
			c->pp = MHD_create_post_processor(conn, 16 * 1024, post_field, c);
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0 &&
		    !c->r.post) {
			web_message(&c->r, 405, "Méthode refusée",
			            "Cette adresse ne sert pas cette méthode.");
			return respond(conn, &c->r);
		}
		return MHD_YES;
	}
	if (*upload_size != 0) {
		c->bytes += *upload_size;
		if (c->bytes > wc->d->cfg.web_max_form)
			c->too_big = true;
		else if (c->pp != NULL && MHD_post_process(c->pp, upload, *upload_size) != MHD_YES)
			c->r.form.bad = true;
		*upload_size = 0;
		return MHD_YES;
	}
	if (c->args_bad)
		web_message(&c->r, 400, "Adresse trop longue",
		            "L'adresse demandée est trop longue ou porte trop de paramètres.");
	else if (c->too_big)
		web_message(&c->r, 413, "Formulaire trop long",
		            "Le formulaire envoyé dépasse la taille permise.");
	else if (c->r.post && c->pp == NULL)
		web_message(&c->r, 415, "Formulaire illisible",
		            "Le formulaire doit être envoyé en application/x-www-form-urlencoded.");
	else if (wc->chan < 0)
		web_dispatch(&c->r);
	else if (remote(wc, &c->r) < 0)
		return MHD_NO; /* libmicrohttpd closes the connection */
	return respond(conn, &c->r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	if (*con_cls != NULL)
		call_free(*con_cls);
	*con_cls = NULL;
}

static struct MHD_Daemon *start(const struct webd *d, struct web_conn *wc)
{
	return MHD_start_daemon(MHD_USE_TLS | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, handle, wc,
	                        MHD_OPTION_HTTPS_CERT_CALLBACK, web_tls_retrieve, MHD_OPTION_HTTPS_PRIORITIES,
	                        WEB_TLS_PRIORITIES, MHD_OPTION_CONNECTION_TIMEOUT,
	                        (unsigned)d->cfg.tls_handshake_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                        (size_t)(64 * 1024), MHD_OPTION_CONNECTION_LIMIT, (unsigned)1,
	                        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
}

/* libmicrohttpd's loop over the one connection, until it is closed. */
static void run(struct MHD_Daemon *mhd)
{
	for (;;) {
		fd_set rs, ws, es;
		MHD_socket max = 0;
		MHD_UNSIGNED_LONG_LONG ms = 1000;
		struct timeval tv;

		FD_ZERO(&rs);
		FD_ZERO(&ws);
		FD_ZERO(&es);
		if (MHD_get_fdset(mhd, &rs, &ws, &es, &max) != MHD_YES)
			return;
		if (MHD_get_timeout(mhd, &ms) != MHD_YES || ms > 1000)
			ms = 1000;
		tv.tv_sec = (time_t)(ms / 1000);
		tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
		if (select(max + 1, &rs, &ws, &es, &tv) < 0 && errno != EINTR)
			return;
		MHD_run_from_select(mhd, &rs, &ws, &es);
		const union MHD_DaemonInfo *info =
		    MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (info == NULL || info->num_connections == 0)
			return;
	}
}

void web_serve(const struct webd *d, struct store *st, int fd, const char *peer, int chan)
{
	static struct web_conn wc; /* the process's one connection */
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	struct MHD_Daemon *mhd;

	wc = (struct web_conn){.d = d, .st = st, .peer = peer, .chan = chan};
	mhd = start(d, &wc);
	if (mhd == NULL || getpeername(fd, (struct sockaddr *)&sa, &salen) < 0 ||
	    MHD_add_connection(mhd, fd, (struct sockaddr *)&sa, salen) != MHD_YES) {
		log_err("web.start", "peer=%s error=\"libmicrohttpd refused the connection\"", peer);
		if (mhd == NULL)
			close(fd);
	} else {
		run(mhd);
	}
	if (mhd != NULL)
		MHD_stop_daemon(mhd);
}
