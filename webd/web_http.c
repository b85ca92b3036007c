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
#include "webd/web_tls.h"

/* GnuTLS priorities, as lib/tls's policy for the mail ports (mss.conf(5) "TLS"): TLS 1.2
 * and 1.3 only, ECDHE key exchange, AEAD ciphers only, the server's order. */
#define WEB_TLS_PRIORITIES                                                                                   \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:-CIPHER-ALL:+AES-256-"   \
	"GCM:"                                                                                               \
	"+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

struct web_conn {
	const struct webd *d;
	struct store *st;
	const char *peer;
};

struct web_call {
	struct web_req r;
	struct MHD_PostProcessor *pp;
	size_t bytes;
	bool too_big;
};

const char *web_query(const struct web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *web_cookie(const struct web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
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

/* A page an append could not complete (body.refused, web_html.h) is not sent cut: the
 * request gets a 500 and one log line instead. */
static void page_refused(struct web_req *r)
{
	log_err("web.page", "peer=%s error=\"page over its size limit (%zu bytes)\"", r->peer, r->body.limit);
	buf_reset(&r->body);
	str_assert(buf_append_str(&r->body,
	                          "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
	                          "<title>Erreur</title></head><body><p>Cette page est trop "
	                          "grande pour être affichée.</p></body></html>\n"),
	           "a constant page into 64 MiB");
	r->status = 500;
	r->content_type = NULL;
	r->location[0] = r->disposition[0] = '\0';
	r->sandbox = false;
}

static enum MHD_Result respond(struct MHD_Connection *conn, struct web_req *r)
{
	if (r->body.refused)
		page_refused(r);
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
	rc = MHD_queue_response(conn, r->status ? r->status : 200, resp);
	MHD_destroy_response(resp);
	return rc;
}

static struct web_call *call_new(const struct web_conn *wc, struct MHD_Connection *conn, const char *url,
                                 const char *method)
{
	struct web_call *c = xcalloc(1, sizeof(*c));

	c->r.d = wc->d;
	c->r.st = wc->st;
	c->r.conn = conn;
	str_assert(str_copy(c->r.peer, sizeof(c->r.peer), wc->peer), "the master's 64-byte peer address");
	c->r.path = url;
	c->r.post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	buf_init(&c->r.body, 64u << 20);
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

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	const struct web_conn *wc = cls;
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
	if (c->too_big)
		web_message(&c->r, 413, "Formulaire trop long",
		            "Le formulaire envoyé dépasse la taille permise.");
	else if (c->r.post && c->pp == NULL)
		web_message(&c->r, 415, "Formulaire illisible",
		            "Le formulaire doit être envoyé en application/x-www-form-urlencoded.");
	else
		web_dispatch(&c->r);
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

void web_serve(const struct webd *d, int fd, const char *peer, int keys_fd)
{
	struct web_conn wc = {d, NULL, peer};
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	char err[512];
	struct MHD_Daemon *mhd;

	/* never the master key: account keys from the account key agent, over this
	 * connection's own channel (not yet bound to one account: doc/architecture.md) */
	wc.st = store_open_nokeys(&d->cfg, err, sizeof(err));
	if (wc.st == NULL) {
		log_err("web.store_open", "peer=%s error=\"%s\"", peer, err);
		close(fd);
		return;
	}
	store_use_agent(wc.st, keys_fd);
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
	store_close(wc.st);
}
