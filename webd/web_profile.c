/* web_profile.c: the medical profile (web.h): each section with its current items in
 * a text box (one per line) and a save button; a save files a new version through
 * vault_profile_set, the function a section sent from a mail client goes through. */
#include <string.h>

#include "lib/localtime.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_profile.h"
#include "webd/web.h"
#include "webd/web_html.h"

#define TEXT_MAX (VAULT_PROFILE_ITEMS_MAX * VAULT_PROFILE_ITEM_MAX + 1024)

static void section_form(struct web_req *r, const struct vault_profile_section *sec,
                         const struct vault_profile_current *cur)
{
	char when[64];

	web_puts(&r->body, "<section><h2 id=\"");
	web_esc(&r->body, sec->code);
	web_puts(&r->body, "\">");
	web_esc(&r->body, sec->label);
	web_puts(&r->body, "</h2><p class=\"version\">");
	if (cur->version == 0) {
		web_puts(&r->body, "Rien n'est encore déclaré.");
	} else {
		mss_date_french(r->d->cfg.timezone, cur->when, false, when, sizeof(when));
		web_printf(&r->body, "Version %u, ", cur->version);
		web_esc(&r->body, when);
		web_puts(&r->body, ".");
	}
	web_puts(&r->body, "</p><form method=\"post\" action=\"/profil\">");
	web_csrf_field(r);
	web_puts(&r->body, "<input type=\"hidden\" name=\"section\" value=\"");
	web_esc(&r->body, sec->code);
	web_printf(&r->body, "\"><input type=\"hidden\" name=\"version\" value=\"%u", cur->version);
	web_puts(&r->body, "\"><label for=\"t-");
	web_esc(&r->body, sec->code);
	web_puts(&r->body, "\">");
	web_esc(&r->body, sec->label);
	web_puts(&r->body, "</label><p class=\"help\" id=\"h-");
	web_esc(&r->body, sec->code);
	web_puts(&r->body, "\">");
	web_esc(&r->body, sec->help);
	web_puts(&r->body, "</p><textarea rows=\"5\" cols=\"70\" name=\"texte\" id=\"t-");
	web_esc(&r->body, sec->code);
	web_puts(&r->body, "\" aria-describedby=\"h-");
	web_esc(&r->body, sec->code);
	web_puts(&r->body, "\">");
	for (size_t i = 0; i < cur->items.n; i++) {
		web_esc(&r->body, cur->items.item[i]);
		web_puts(&r->body, "\n");
	}
	web_puts(&r->body, "</textarea><p><button type=\"submit\">Enregistrer : ");
	web_esc(&r->body, sec->label);
	web_puts(&r->body, "</button></p></form></section>");
}

static void page(struct web_req *r, unsigned status, const char *error)
{
	static struct vault_profile_current cur; /* 9 KiB of items: off the stack */
	size_t n;
	const struct vault_profile_section *secs = vault_profile_sections(&n);
	const struct vault_profile_section *done = vault_profile_section(web_query(r, "fait"));

	r->status = status;
	buf_reset(&r->body);
	web_page_open(r, "Mon profil médical");
	if (error != NULL)
		web_notice(r, true, error);
	else if (done != NULL) {
		char text[200];
		if (str_format(text, sizeof(text), "La rubrique « %s » est enregistrée.", done->label) == 0)
			web_notice(r, false, text);
	}
	web_puts(&r->body,
	         "<p>Ce qui compte en cas d'urgence. Les professionnels que vous autorisez le lisent "
	         "dans le dossier Profil de votre espace ; chaque modification garde la version "
	         "précédente. Vous pouvez aussi écrire une rubrique depuis votre messagerie : un "
	         "message déposé dans le dossier Profil, dont l'objet est le nom de la rubrique, une "
	         "ligne par élément.</p>");
	for (size_t i = 0; i < n; i++) {
		if (vault_profile_get(r->st, r->sess.account, &secs[i], &cur) < 0) {
			web_message(
			    r, 503, "Service indisponible",
			    "Le service est momentanément indisponible. Réessayez dans quelques minutes.");
			return;
		}
		section_form(r, &secs[i], &cur);
	}
	web_page_close(r);
}

void web_page_profile(struct web_req *r)
{
	page(r, 200, NULL);
}

void web_post_profile(struct web_req *r)
{
	static struct vault_profile_items items;
	const struct vault_profile_section *sec = vault_profile_section(web_field(r, "section"));
	const char *text = web_field(r, "texte"); /* an emptied box may come as no field at all */
	struct vault_actor who = {r->sess.account, "password", r->peer};
	const char *base_text = web_field(r, "version");
	char why[300], msg[400], err[400], where[64];
	unsigned version;
	uint64_t base = 0;
	int rc;

	if (text == NULL)
		text = "";
	if (sec == NULL) {
		page(r, 400, "Le formulaire envoyé n'est pas celui de cette page. Rien n'a été modifié.");
		return;
	}
	/* the version the form showed: a save made from an older page is refused */
	if (base_text != NULL && str_to_u64(base_text, 1000000, &base) < 0) {
		page(r, 400, "Le formulaire envoyé n'est pas celui de cette page. Rien n'a été modifié.");
		return;
	}
	if (vault_profile_parse(sec, text, &items, why, sizeof(why)) < 0) {
		if (str_format(msg, sizeof(msg), "%s : %s Rien n'a été modifié.", sec->label, why) < 0)
			msg[0] = '\0';
		page(r, 400, msg);
		return;
	}
	rc = vault_profile_set(r->st, &who, r->sess.account, sec, &items, base_text != NULL ? (long)base : -1,
	                       &version, NULL, err, sizeof(err));
	if (rc == 1) {
		page(r, 409, err);
		return;
	}
	if (rc < 0) {
		log_err("web.profile", "user=%s error=\"%s\"", r->sess.account, err);
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Rien n'a été modifié.");
		return;
	}
	if (str_format(where, sizeof(where), "/profil?fait=%s#%s", sec->code, sec->code) < 0) {
		web_redirect(r, "/profil");
		return;
	}
	web_redirect(r, where);
}
