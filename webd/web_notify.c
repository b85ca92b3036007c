/* web_notify.c: the notification settings (web.h): which notices the patient wants in
 * their messaging, saved through vault_settings_set (audited, shown in the history);
 * vault_notify.c reads them before each notice. */
#include <string.h>

#include "lib/log.h"
#include "vault/vault_settings.h"
#include "webd/web.h"
#include "webd/web_html.h"

static void checkbox(struct web_req *r, const char *name, bool on, const char *label)
{
	web_puts(&r->body, "<p><input type=\"checkbox\" value=\"1\" id=\"");
	web_esc(&r->body, name);
	web_puts(&r->body, "\" name=\"");
	web_esc(&r->body, name);
	web_puts(&r->body,
	         on ? "\" checked> <label class=\"inline\" for=\"" : "\"> <label class=\"inline\" for=\"");
	web_esc(&r->body, name);
	web_puts(&r->body, "\">");
	web_esc(&r->body, label);
	web_puts(&r->body, "</label></p>");
}

static void page(struct web_req *r, unsigned status, const char *error)
{
	struct vault_settings s;

	if (vault_settings_get(r->st, r->sess.account, &s) < 0) {
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Réessayez dans quelques minutes.");
		return;
	}
	r->status = status;
	buf_reset(&r->body);
	web_page_open(r, "Mes notifications");
	if (error != NULL)
		web_notice(r, true, error);
	else if (web_query(r, "fait") != NULL)
		web_notice(r, false, "Vos choix sont enregistrés.");
	web_puts(&r->body, "<p>Choisissez ce dont votre messagerie santé vous prévient par un message dans "
	                   "votre boîte de réception. Tout reste visible dans votre historique.</p>"
	                   "<form method=\"post\" action=\"/notifications\">");
	web_csrf_field(r);
	web_puts(&r->body, "<input type=\"hidden\" name=\"envoye\" value=\"1\">"
	                   "<fieldset><legend>Me prévenir quand</legend>");
	checkbox(r, "documents", s.notify_documents,
	         "un document est ajouté ou mis à jour dans mon coffre-fort");
	checkbox(r, "acces", s.notify_access, "un professionnel ouvre mon coffre-fort");
	web_puts(&r->body, "</fieldset><p>L'avertissement avant la suppression d'un compte inutilisé "
	                   "est toujours envoyé.</p>"
	                   "<p><button type=\"submit\">Enregistrer</button></p></form>");
	web_page_close(r);
}

void web_page_notify(struct web_req *r)
{
	page(r, 200, NULL);
}

/* A checkbox is sent when ticked ("1") and absent when not (HTML forms); any other
 * value is a form not made by this page. */
static int checked(struct web_req *r, const char *name, bool *out)
{
	const char *v = web_field(r, name);

	*out = v != NULL;
	return v == NULL || strcmp(v, "1") == 0 ? 0 : -1;
}

void web_post_notify(struct web_req *r)
{
	struct vault_actor who = {r->sess.account, "password", r->peer};
	struct vault_settings s;
	char err[256];
	int rc;

	if (web_field(r, "envoye") == NULL || checked(r, "documents", &s.notify_documents) < 0 ||
	    checked(r, "acces", &s.notify_access) < 0) {
		page(r, 400, "Le formulaire envoyé n'est pas celui de cette page. Rien n'a été modifié.");
		return;
	}
	rc = vault_settings_set(r->st, &who, r->sess.account, &s, err, sizeof(err));
	if (rc != 0) {
		log_err("web.notify", "user=%s error=\"%s\"", r->sess.account, err);
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Rien n'a été modifié.");
		return;
	}
	web_redirect(r, "/notifications?fait=1");
}
