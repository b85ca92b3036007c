/* web_dispatch.c: from a request to its page: the session, the CSRF check of every
 * form, the route table (web.h). */
#include "webd/web.h"

#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/str.h"
#include "webd/web_html.h"

struct route {
	bool post;
	const char *path;
	bool session; /* only with a session (else: to the login page) */
	void (*page)(struct web_req *r);
};

static const struct route routes[] = {
    {false, "/login", false, web_page_login},
    {true, "/login", false, web_post_login},
    {true, "/logout", true, web_post_logout},
    {false, "/documents", true, web_page_documents},
    {false, "/document", true, web_page_document},
    {false, "/document/file", true, web_get_file},
    {true, "/documents/mask", true, web_post_mask},
    {false, "/professionnels", true, web_page_pros},
    {true, "/professionnels/autoriser", true, web_post_grant},
    {true, "/professionnels/retirer", true, web_post_revoke},
    {true, "/professionnels/bloquer", true, web_post_block},
    {true, "/professionnels/debloquer", true, web_post_unblock},
    {false, "/historique", true, web_page_history},
    {false, "/constantes", true, web_page_vitals},
    {true, "/constantes", true, web_post_vital},
    {false, "/vaccinations", true, web_page_vaccinations},
    {true, "/vaccinations", true, web_post_vaccination},
    {false, "/profil", true, web_page_profile},
    {true, "/profil", true, web_post_profile},
    {false, "/notifications", true, web_page_notify},
    {true, "/notifications", true, web_post_notify},
    {false, "/mot-de-passe", true, web_page_password},
    {true, "/mot-de-passe", true, web_post_password},
};

void web_redirect(struct web_req *r, const char *path)
{
	r->status = 303;
	if (str_copy(r->location, sizeof(r->location), path) < 0)
		str_assert(str_copy(r->location, sizeof(r->location), "/"), "a constant into 600");
	buf_reset(&r->body);
}

void web_message(struct web_req *r, unsigned status, const char *title, const char *text)
{
	r->status = status;
	r->content_type = NULL;
	buf_reset(&r->body);
	web_page_open(r, title);
	web_notice(r, status >= 400, text);
	web_puts(&r->body, r->logged_in ? "<p><a href=\"/documents\">Retour à mes documents</a></p>"
	                                : "<p><a href=\"/login\">Se connecter</a></p>");
	web_page_close(r);
}

bool web_bind(struct web_req *r, const char *account)
{
	if (r->bound == NULL)
		return true;
	if (r->bound[0] == '\0') {
		str_assert(str_copy(r->bound, AUTH_ADDRESS_MAX, account), "an account into AUTH_ADDRESS_MAX");
		return true;
	}
	if (strcmp(r->bound, account) == 0)
		return true;
	log_warn("web.account_refused",
	         "peer=%s user=%s bound=%s error=\"a second account on one connection\"", r->peer, account,
	         r->bound);
	r->close = true;
	return false;
}

void web_finish(struct web_req *r)
{
	if (!r->body.refused)
		return;
	/* A page an append could not complete is not sent cut: a 500 and one log line. */
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

/* The session the cookie names, if it is alive. Returns 0 or -1 (database). */
static int find_session(struct web_req *r)
{
	const char *token = web_cookie(r, WEB_SESSION_COOKIE);
	int rc;

	if (token == NULL)
		return 0;
	rc = auth_session_find(r->st, token, time(NULL), r->d->cfg.web_idle_timeout, &r->sess);
	r->logged_in = rc == 1;
	return rc < 0 ? -1 : 0;
}

static const struct route *find_route(const char *path, bool post, bool *other_method)
{
	*other_method = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, path) == 0) {
			if (routes[i].post == post)
				return &routes[i];
			*other_method = true;
		}
	return NULL;
}

static void style(struct web_req *r)
{
	r->content_type = "text/css; charset=utf-8";
	web_puts(&r->body, web_css);
}

void web_dispatch(struct web_req *r)
{
	bool other_method;
	const struct route *rt;

	if (strcmp(r->path, "/style.css") == 0 && !r->post) {
		style(r);
		return;
	}
	if (find_session(r) < 0) {
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Réessayez dans quelques minutes.");
		return;
	}
	if (r->logged_in && !web_bind(r, r->sess.account)) {
		r->logged_in = false;
		web_message(r, 403, "Accès refusé",
		            "Cette connexion sert un autre compte. Rien n'a été modifié : fermez ce "
		            "navigateur et reconnectez-vous.");
		return;
	}
	if (strcmp(r->path, "/") == 0 && !r->post) {
		web_redirect(r, r->logged_in ? "/documents" : "/login");
		return;
	}
	rt = find_route(r->path, r->post, &other_method);
	if (rt == NULL) {
		if (other_method)
			web_message(r, 405, "Méthode refusée", "Cette adresse ne sert pas cette méthode.");
		else
			web_message(r, 404, "Page introuvable", "Cette page n'existe pas.");
		return;
	}
	if (rt->session && !r->logged_in) {
		if (r->post)
			web_message(r, 403, "Session expirée",
			            "Votre session a expiré ou n'existe pas : reconnectez-vous. Rien n'a été "
			            "modifié.");
		else
			web_redirect(r, "/login");
		return;
	}
	if (r->post && rt->session && !auth_session_csrf_ok(&r->sess, web_field(r, "csrf"))) {
		log_info("web.csrf_refused", "peer=%s user=%s path=%s", r->peer, r->sess.account, rt->path);
		web_message(r, 403, "Formulaire refusé",
		            "Ce formulaire n'est plus valide (jeton de sécurité absent ou incorrect). "
		            "Rien n'a été modifié : rechargez la page et recommencez.");
		return;
	}
	if (r->post && r->form.bad) {
		web_message(r, 400, "Formulaire illisible",
		            "Le formulaire envoyé est mal formé. Rien n'a été modifié.");
		return;
	}
	rt->page(r);
}
