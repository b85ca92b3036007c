/* web_login.c: login and logout (web.h).
 *
 * Patients log in with their address and password through auth_verify, exactly as on
 * IMAP and SMTP: the same role rules, audit record ("web.login") and throttling (the
 * counters in the store are shared with both daemons). The login form carries its own
 * CSRF token, a random value also set as a cookie (double submit), since there is no
 * session yet to hold one. A new login always gets a new session token (no fixation). */
#include <sodium.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "lib/log.h"
#include "lib/str.h"
#include "webd/web.h"
#include "webd/web_html.h"

#define COOKIE_ATTRS "; Path=/; Secure; HttpOnly; SameSite=Strict"
/* a cookie name, a 64-byte token and the attributes: under 150 bytes, into 300 */
#define FITS_COOKIE "a cookie fits its 300 bytes"

static void login_form(struct web_req *r, unsigned status, const char *error)
{
	unsigned char raw[32];
	char token[65];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, sizeof(token), raw, sizeof(raw));
	str_assert(str_format(r->set_cookie[0], sizeof(r->set_cookie[0]), "%s=%s%s", WEB_LOGIN_COOKIE, token,
	                      COOKIE_ATTRS),
	           FITS_COOKIE);
	r->status = status;
	buf_reset(&r->body);
	web_page_open(r, "Connexion");
	if (error != NULL)
		web_notice(r, true, error);
	else if (web_query(r, "fin") != NULL)
		web_notice(r, false, "Vous êtes déconnecté.");
	web_puts(&r->body, "<form method=\"post\" action=\"/login\">"
	                   "<input type=\"hidden\" name=\"csrf\" value=\"");
	web_esc(&r->body, token);
	web_puts(&r->body, "\"><label for=\"address\">Adresse de messagerie santé</label>"
	                   "<input id=\"address\" name=\"address\" type=\"email\" autocomplete=\"username\" "
	                   "required size=\"40\">"
	                   "<label for=\"password\">Mot de passe</label>"
	                   "<input id=\"password\" name=\"password\" type=\"password\" "
	                   "autocomplete=\"current-password\" required size=\"40\">"
	                   "<p><button type=\"submit\">Se connecter</button></p></form>");
	web_page_close(r);
}

void web_page_login(struct web_req *r)
{
	if (r->logged_in) {
		web_redirect(r, "/documents");
		return;
	}
	login_form(r, 200, NULL);
}

static bool login_csrf_ok(const struct web_req *r)
{
	const char *cookie = web_cookie(r, WEB_LOGIN_COOKIE), *field = web_field(r, "csrf");

	if (cookie == NULL || field == NULL || strlen(cookie) != 64 || strlen(field) != 64)
		return false;
	return sodium_memcmp(cookie, field, 64) == 0;
}

/* The request for auth_verify (a PLAIN login, as a mail client would make). Returns
 * false when a field is missing or too long. */
static bool build_request(struct web_req *r, struct auth_request *rq)
{
	const char *address = web_field(r, "address"), *password = web_field(r, "password");

	memset(rq, 0, sizeof(*rq));
	if (address == NULL || password == NULL || address[0] == '\0' || password[0] == '\0')
		return false;
	if (str_copy(rq->user, sizeof(rq->user), address) < 0 ||
	    str_copy(rq->secret, sizeof(rq->secret), password) < 0)
		return false;
	rq->mech = AUTH_MECH_PLAIN;
	rq->input = AUTH_INPUT_OK;
	str_assert(str_copy(rq->client_ip, sizeof(rq->client_ip), r->peer), "64 bytes both");
	str_assert(str_copy(rq->protocol, sizeof(rq->protocol), "web"), "a constant into 8 bytes");
	str_assert(str_copy(rq->listener, sizeof(rq->listener), "https"), "a constant into 16 bytes");
	return true;
}

static void logged_in(struct web_req *r, const char *account)
{
	struct auth_session s;
	char err[256];

	if (auth_session_create(r->st, account, r->peer, time(NULL), r->d->cfg.web_idle_timeout, &s, err,
	                        sizeof(err)) < 0) {
		log_err("web.session", "peer=%s error=\"%s\"", r->peer, err);
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Réessayez dans quelques minutes.");
		return;
	}
	str_assert(str_format(r->set_cookie[0], sizeof(r->set_cookie[0]), "%s=%s%s", WEB_SESSION_COOKIE,
	                      s.token, COOKIE_ATTRS),
	           FITS_COOKIE);
	str_assert(str_format(r->set_cookie[1], sizeof(r->set_cookie[1]), "%s=; Max-Age=0%s",
	                      WEB_LOGIN_COOKIE, COOKIE_ATTRS),
	           FITS_COOKIE);
	sodium_memzero(&s, sizeof(s));
	web_redirect(r, "/documents");
}

void web_post_login(struct web_req *r)
{
	static struct auth_request rq; /* 16 KiB of secret: off the stack, wiped below */
	struct auth_reply rp;
	struct auth_ctx ctx = {r->st, &r->d->cfg, NULL, false, NULL};

	if (!login_csrf_ok(r)) {
		login_form(r, 403, "Le formulaire de connexion a expiré. Recommencez.");
		return;
	}
	if (r->form.bad || !build_request(r, &rq)) {
		sodium_memzero(&rq, sizeof(rq));
		login_form(r, 400, "Indiquez votre adresse et votre mot de passe.");
		return;
	}
	auth_verify(&ctx, &rq, &rp, time(NULL));
	sodium_memzero(&rq, sizeof(rq));
	if (rp.result == AUTH_OK && rp.role == ROLE_PATIENT && !web_bind(r, rp.account)) {
		web_message(r, 403, "Accès refusé",
		            "Cette connexion sert un autre compte : fermez ce navigateur et "
		            "reconnectez-vous.");
		return;
	}
	if (rp.result == AUTH_OK && rp.role == ROLE_PATIENT) {
		logged_in(r, rp.account);
		return;
	}
	if (rp.delay_ms > 0)
		usleep(rp.delay_ms * 1000u);
	if (rp.result == AUTH_LOCKED)
		login_form(r, 429, "Trop de tentatives de connexion : réessayez dans quelques minutes.");
	else if (rp.result == AUTH_TEMPFAIL)
		login_form(r, 503,
		           "Le service est momentanément indisponible. Réessayez dans quelques minutes.");
	else
		login_form(r, 401, "Adresse ou mot de passe incorrect.");
}

void web_post_logout(struct web_req *r)
{
	if (auth_session_end(r->st, r->sess.token) < 0)
		log_err("web.logout", "peer=%s error=\"session not ended\"", r->peer);
	else
		log_info("web.logout", "peer=%s user=%s", r->peer, r->sess.account);
	str_assert(str_format(r->set_cookie[0], sizeof(r->set_cookie[0]), "%s=; Max-Age=0%s",
	                      WEB_SESSION_COOKIE, COOKIE_ATTRS),
	           FITS_COOKIE);
	r->logged_in = false;
	web_redirect(r, "/login?fin=1");
}
