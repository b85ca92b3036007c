/* web.h: mss-webd's request model, shared by its pages.
 *
 * One process serves one TLS connection (lib/master.h forks per connection); in it,
 * libmicrohttpd runs the TLS (the private key stays in the key agent: web_tls.h),
 * parses HTTP (web_http.c) and calls web_dispatch once per complete request with a
 * struct web_req: the method, path, form fields (POST bodies parsed by libmicrohttpd's
 * own post processor, bounded by web_max_form) and the session found from the cookie.
 * A page fills the response part of the request (status, body, headers) and never
 * writes to the connection itself, so that the security headers (web_http.c) are
 * added to every response in one place.
 *
 * A page works only on the session's own account: every mailbox name and UID a URL
 * or form carries is looked up under that account, so no URL reaches another
 * patient's data. Every text that comes from data or the client goes into a page
 * through web_esc (web_html.h) and nowhere else. */
#ifndef MSS_WEB_H
#define MSS_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth_session.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/key_agent.h"
#include "lib/privsep.h"
#include "store/store.h"
#include "store/store_agent.h"

#define WEB_FORM_FIELDS 16
#define WEB_FIELD_NAME_MAX 32
#define WEB_SESSION_COOKIE                                                                                   \
	"__Host-mss_session"                /* __Host-: Secure, Path=/, no Domain (RFC 6265bis 4.1.3.2)      \
	                                     */
#define WEB_LOGIN_COOKIE "__Host-mss_login" /* the login form's CSRF token (double submit) */
/* What of a request reaches the pages (and, separated, crosses to the session
 * process: web_msg.h): a longer path, more or longer query arguments answer 400, a
 * longer cookie is not one of ours (absent). */
#define WEB_PATH_MAX 512
#define WEB_QUERY_ARGS 8
#define WEB_QUERY_VALUE_MAX 1024
#define WEB_COOKIE_MAX 128
/* The largest page a session builds (a document's file included). */
#define WEB_BODY_MAX (64u << 20)

struct webd {
	struct mss_config cfg;
	char *cert_pem;          /* the server certificate chain, read before the privilege drop */
	struct key_agent agent;  /* holds the private key and signs for the handshakes */
	struct store_agent keys; /* unwraps account keys: the web processes never hold the master key */
	struct privsep privsep;  /* the front processes' confinement (lib/privsep.h) */
};

struct web_field {
	char name[WEB_FIELD_NAME_MAX];
	struct buf value;
};

struct web_form {
	struct web_field f[WEB_FORM_FIELDS];
	size_t n;
	bool bad; /* a field past WEB_FORM_FIELDS, or a name too long: the form is refused */
};

struct web_arg {
	char name[WEB_FIELD_NAME_MAX];
	char value[WEB_QUERY_VALUE_MAX];
};

struct web_req {
	const struct webd *d;
	struct store *st;
	char peer[64];
	/* the request, as web_msg.h carries it */
	bool post;
	const char *path; /* path_buf */
	char path_buf[WEB_PATH_MAX];
	struct web_arg query[WEB_QUERY_ARGS];
	size_t nquery;
	char cookie_session[WEB_COOKIE_MAX]; /* "" when absent */
	char cookie_login[WEB_COOKIE_MAX];
	struct web_form form;
	/* the connection's account: "" until a request authenticates one (a login, a valid
	 * session cookie), which binds the connection to it; NULL: not bound */
	char *bound;
	bool logged_in;
	struct auth_session sess;
	/* the response */
	unsigned status;
	struct buf body;
	const char *content_type;
	char content_type_buf[128]; /* content_type as received by the front process */
	bool close;                 /* end the connection after this response */
	char location[600];         /* redirect target, "" when none */
	char set_cookie[2][300];    /* up to two Set-Cookie lines */
	char disposition[400];      /* Content-Disposition, "" when none */
	bool sandbox;               /* a document: served under CSP sandbox */
};

/* ---- web_http.c -------------------------------------------------------------------- */

/* Serves the TLS connection fd (already accepted) until the client closes it or it
 * stays idle too long. chan -1: the pages run in this process, on st. Otherwise this
 * is the front process (st NULL): each request goes to the session process over chan
 * (web_msg.h) and its answer comes back. */
void web_serve(const struct webd *d, struct store *st, int fd, const char *peer, int chan);
/* The value of query argument name, NULL when absent. */
const char *web_query(const struct web_req *r, const char *name);
/* The value of form field name (POST), NULL when absent. */
const char *web_field(const struct web_req *r, const char *name);
/* The value of cookie name, NULL when absent. */
const char *web_cookie(const struct web_req *r, const char *name);

/* ---- web_dispatch.c ---------------------------------------------------------------- */

/* Finds the session, checks the CSRF token of a POST, and calls the page for
 * r->path. Fills r's response. */
void web_dispatch(struct web_req *r);
/* Whether account may be served on r's connection: the first binds it (r->bound), a
 * second is refused (logged web.account_refused, r->close set). */
bool web_bind(struct web_req *r, const char *account);
/* The response made sendable: a page over its size limit becomes a 500 (logged). */
void web_finish(struct web_req *r);

/* ---- web_session.c ------------------------------------------------------------------ */

/* The session process of a separated connection: reads requests from chan, runs their
 * pages on st, answers; returns when the front process closes chan, or -1 when it
 * sent a message that does not check (logged web.chan_refused: the caller ends the
 * front process). */
int web_session_serve(const struct webd *d, struct store *st, int chan, const char *peer, long front_pid);
/* A 303 redirect to path ("/documents"). */
void web_redirect(struct web_req *r, const char *path);
/* A whole page with status and one French message (escaped), e.g. a refusal. */
void web_message(struct web_req *r, unsigned status, const char *title, const char *text);

/* ---- the pages ----------------------------------------------------------------------- */

void web_page_login(struct web_req *r);        /* GET /login */
void web_post_login(struct web_req *r);        /* POST /login */
void web_post_logout(struct web_req *r);       /* POST /logout */
void web_page_documents(struct web_req *r);    /* GET /documents */
void web_page_document(struct web_req *r);     /* GET /document?box=&uid= */
void web_get_file(struct web_req *r);          /* GET /document/file?box=&uid=&part=[&inline=1] */
void web_post_mask(struct web_req *r);         /* POST /documents/mask */
void web_page_pros(struct web_req *r);         /* GET /professionnels[?nom=] */
void web_post_grant(struct web_req *r);        /* POST /professionnels/autoriser (pro) */
void web_post_revoke(struct web_req *r);       /* POST /professionnels/retirer (pro) */
void web_post_block(struct web_req *r);        /* POST /professionnels/bloquer (pro) */
void web_post_unblock(struct web_req *r);      /* POST /professionnels/debloquer (pro) */
void web_page_history(struct web_req *r);      /* GET /historique */
void web_page_vitals(struct web_req *r);       /* GET /constantes */
void web_post_vital(struct web_req *r);        /* POST /constantes (kind, value, when) */
void web_page_vaccinations(struct web_req *r); /* GET /vaccinations */
void web_post_vaccination(struct web_req *r);  /* POST /vaccinations (vaccine, date, dose, who) */
void web_page_profile(struct web_req *r);      /* GET /profil */
void web_post_profile(struct web_req *r);      /* POST /profil (section, texte) */
void web_page_notify(struct web_req *r);       /* GET /notifications */
void web_post_notify(struct web_req *r);       /* POST /notifications (envoye, documents, acces) */
void web_page_password(struct web_req *r);     /* GET /mot-de-passe */
void web_post_password(struct web_req *r);     /* POST /mot-de-passe (actuel, nouveau, confirmation) */

#endif
