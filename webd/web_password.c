/* web_password.c: the patient changes their password (web.h).
 *
 * The current password is checked by auth_verify, as at login (same throttling, same
 * audit record "web.login"), so this form is no way around the login's limits. The new
 * one must meet mssctl's rule (password_min_length); auth_password_change stores it,
 * ends the patient's other web sessions and audits the change. This session goes on. */
#include <sodium.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/auth_password.h"
#include "lib/log.h"
#include "lib/str.h"
#include "webd/web.h"
#include "webd/web_html.h"

static void field(struct web_req *r, const char *id, const char *label, const char *autocomplete)
{
	web_puts(&r->body, "<label for=\"");
	web_esc(&r->body, id);
	web_puts(&r->body, "\">");
	web_esc(&r->body, label);
	web_puts(&r->body, "</label><input type=\"password\" required size=\"40\" id=\"");
	web_esc(&r->body, id);
	web_puts(&r->body, "\" name=\"");
	web_esc(&r->body, id);
	web_puts(&r->body, "\" autocomplete=\"");
	web_esc(&r->body, autocomplete);
	web_puts(&r->body, "\">");
}

static void page(struct web_req *r, unsigned status, const char *error)
{
	char rule[200];

	r->status = status;
	buf_reset(&r->body);
	web_page_open(r, "Mon mot de passe");
	if (error != NULL)
		web_notice(r, true, error);
	else if (web_query(r, "fait") != NULL)
		web_notice(r, false,
		           "Votre mot de passe est changé. Vos autres sessions sur ce site sont "
		           "fermées ; dans votre logiciel de messagerie, indiquez le nouveau mot de "
		           "passe.");
	if (str_format(rule, sizeof(rule), "Le nouveau mot de passe doit compter au moins %u caractères.",
	               r->d->cfg.password_min_length) < 0)
		rule[0] = '\0';
	web_puts(&r->body, "<form method=\"post\" action=\"/mot-de-passe\">");
	web_csrf_field(r);
	field(r, "actuel", "Mot de passe actuel", "current-password");
	field(r, "nouveau", "Nouveau mot de passe", "new-password");
	web_puts(&r->body, "<p id=\"regle\">");
	web_esc(&r->body, rule);
	web_puts(&r->body, "</p>");
	field(r, "confirmation", "Nouveau mot de passe, une deuxième fois", "new-password");
	web_puts(&r->body, "<p><button type=\"submit\">Changer mon mot de passe</button></p></form>");
	web_page_close(r);
}

void web_page_password(struct web_req *r)
{
	page(r, 200, NULL);
}

/* The check of the current password: a login of the session's own account. */
static enum auth_result verify_current(struct web_req *r, const char *current)
{
	static struct auth_request rq; /* 16 KiB of secret: off the stack, wiped below */
	struct auth_ctx ctx = {r->st, &r->d->cfg, NULL, false, NULL};
	struct auth_reply rp;

	memset(&rq, 0, sizeof(rq));
	rq.mech = AUTH_MECH_PLAIN;
	rq.input = AUTH_INPUT_OK;
	if (str_copy(rq.user, sizeof(rq.user), r->sess.account) < 0 ||
	    str_copy(rq.secret, sizeof(rq.secret), current) < 0 ||
	    str_copy(rq.client_ip, sizeof(rq.client_ip), r->peer) < 0 ||
	    str_copy(rq.protocol, sizeof(rq.protocol), "web") < 0 ||
	    str_copy(rq.listener, sizeof(rq.listener), "password") < 0) {
		sodium_memzero(&rq, sizeof(rq));
		return AUTH_FAILED;
	}
	auth_verify(&ctx, &rq, &rp, time(NULL));
	sodium_memzero(&rq, sizeof(rq));
	if (rp.result == AUTH_OK && strcmp(rp.account, r->sess.account) != 0)
		return AUTH_FAILED;
	if (rp.result != AUTH_OK && rp.delay_ms > 0)
		usleep(rp.delay_ms * 1000u);
	return rp.result;
}

/* The new password and its confirmation; returns the French refusal, NULL when fit. */
static const char *check_new(const char *current, const char *fresh, const char *again)
{
	size_t n = strlen(fresh);

	if (n != strlen(again) || sodium_memcmp(fresh, again, n) != 0)
		return "Les deux saisies du nouveau mot de passe sont différentes.";
	if (n == strlen(current) && sodium_memcmp(fresh, current, n) == 0)
		return "Le nouveau mot de passe doit être différent de l'actuel.";
	return NULL;
}

void web_post_password(struct web_req *r)
{
	const char *current = web_field(r, "actuel"), *fresh = web_field(r, "nouveau"),
	           *again = web_field(r, "confirmation"), *why;
	char err[256], text[400];
	enum auth_result ok;
	int rc;

	if (current == NULL || fresh == NULL || again == NULL || current[0] == '\0' || fresh[0] == '\0') {
		page(r, 400,
		     "Indiquez votre mot de passe actuel et le nouveau, deux fois. Rien n'a été modifié.");
		return;
	}
	why = check_new(current, fresh, again);
	if (why != NULL) {
		str_error(text, sizeof(text), "%s Rien n'a été modifié.", why);
		page(r, 400, text);
		return;
	}
	ok = verify_current(r, current);
	if (ok == AUTH_LOCKED) {
		page(r, 429, "Trop de tentatives : réessayez dans quelques minutes. Rien n'a été modifié.");
		return;
	}
	if (ok == AUTH_TEMPFAIL) {
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Rien n'a été modifié.");
		return;
	}
	if (ok != AUTH_OK) {
		page(r, 400, "Le mot de passe actuel est incorrect. Rien n'a été modifié.");
		return;
	}
	rc = auth_password_change(r->st, &r->d->cfg, r->sess.account, r->peer, r->sess.token, fresh, err,
	                          sizeof(err));
	if (rc == 1) {
		str_error(text, sizeof(text),
		          "Le nouveau mot de passe est trop court : il doit compter au moins %u caractères. "
		          "Rien n'a été modifié.",
		          r->d->cfg.password_min_length);
		page(r, 400, text);
		return;
	}
	if (rc < 0) {
		log_err("web.password", "user=%s error=\"%s\"", r->sess.account, err);
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Rien n'a été modifié.");
		return;
	}
	log_info("web.password", "peer=%s user=%s result=changed", r->peer, r->sess.account);
	web_redirect(r, "/mot-de-passe?fait=1");
}
