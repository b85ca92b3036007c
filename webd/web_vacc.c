/* web_vacc.c: the patient's vaccination book (web.h, vault_vacc.h): the book as a
 * table, oldest first, each line saying whether a professional's document or the
 * patient recorded it, and a form to declare a vaccination (self-declared). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/localtime.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_vacc.h"
#include "webd/web.h"
#include "webd/web_html.h"

static void cell(struct web_req *r, const char *text)
{
	web_puts(&r->body, "<td>");
	web_esc(&r->body, text);
	web_puts(&r->body, "</td>");
}

static void table(struct web_req *r, const struct vault_vacc_book *book)
{
	char date[16];

	if (book->n == 0) {
		web_puts(&r->body, "<p>Aucune vaccination enregistrée pour le moment.</p>");
		return;
	}
	web_puts(&r->body, "<table><caption>Carnet de vaccination</caption><thead><tr>"
	                   "<th scope=\"col\">Date</th><th scope=\"col\">Vaccin</th>"
	                   "<th scope=\"col\">Dose</th><th scope=\"col\">Vacciné par</th>"
	                   "<th scope=\"col\">Origine</th></tr></thead><tbody>");
	for (size_t i = 0; i < book->n; i++) {
		const struct vault_vacc_entry *e = &book->e[i];
		if (e->date[0] == '\0' ||
		    str_format(date, sizeof(date), "%.2s/%.2s/%.4s", e->date + 8, e->date + 5, e->date) < 0)
			str_assert(str_copy(date, sizeof(date), "inconnue"),
			           "a constant into the date buffer");
		web_puts(&r->body, "<tr>");
		cell(r, date);
		cell(r, e->vaccine);
		cell(r, e->dose[0] ? e->dose : "–");
		cell(r, e->who[0] ? e->who : "–");
		cell(r, e->self_declared ? "Déclarée par vous" : "Document d'un professionnel");
		web_puts(&r->body, "</tr>");
	}
	web_puts(&r->body, "</tbody></table>");
}

/* An input re-filled with what was typed when the form is shown again after an error. */
static void input(struct web_req *r, const char *name, const char *label, const char *attrs)
{
	const char *v = r->post ? web_field(r, name) : NULL;

	web_printf(&r->body, "<label for=\"%s\">%s</label><input id=\"%s\" name=\"%s\" %s value=\"", name,
	           label, name, name, attrs);
	web_esc(&r->body, v != NULL ? v : "");
	web_puts(&r->body, "\">");
}

static void form(struct web_req *r)
{
	web_puts(&r->body, "<h2>Déclarer une vaccination</h2><p>Une vaccination que vous déclarez est "
	                   "marquée « déclarée par le patient » dans votre carnet : les professionnels "
	                   "savent qu'elle n'a pas été vérifiée.</p>"
	                   "<form method=\"post\" action=\"/vaccinations\">");
	web_csrf_field(r);
	input(r, "vaccine", "Vaccin (nom ou maladie)", "required maxlength=\"100\"");
	input(r, "date", "Date de la vaccination", "type=\"date\" required");
	input(r, "dose", "Dose (facultatif : 1, 2, rappel…)", "maxlength=\"30\"");
	input(r, "who", "Vacciné par (facultatif)", "maxlength=\"100\"");
	web_puts(&r->body, "<p><button type=\"submit\">Ajouter au carnet</button></p></form>");
}

static void page(struct web_req *r, unsigned status, const char *error)
{
	struct vault_vacc_book *book = xcalloc(1, sizeof(*book));
	char err[256];

	/* documents filed since the last rebuild (filing holds no key of the patient's) */
	if (vault_vacc_refresh(r->st, r->sess.account, err, sizeof(err)) < 0)
		log_err("web.vaccination", "user=%s error=\"%s\"", r->sess.account, err);
	if (vault_vacc_read(r->st, r->sess.account, book) < 0) {
		free(book);
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Réessayez dans quelques minutes.");
		return;
	}
	r->status = status;
	buf_reset(&r->body);
	web_page_open(r, "Mes vaccinations");
	if (error != NULL)
		web_notice(r, true, error);
	else if (web_query(r, "fait") != NULL && strcmp(web_query(r, "fait"), "ajoute") == 0)
		web_notice(r, false, "La vaccination est ajoutée à votre carnet.");
	table(r, book);
	form(r);
	web_page_close(r);
	free(book);
}

void web_page_vaccinations(struct web_req *r)
{
	page(r, 200, NULL);
}

void web_post_vaccination(struct web_req *r)
{
	struct vault_actor who = {r->sess.account, "password", r->peer};
	struct vault_vacc_entry e;
	char why[300], err[400], today[16];
	size_t added = 0;
	struct tm tm;
	long off;

	mss_localtime(r->d->cfg.timezone, (int64_t)time(NULL), &tm, &off);
	if (strftime(today, sizeof(today), "%Y-%m-%d", &tm) == 0)
		today[0] = '\0';
	if (vault_vacc_check(web_field(r, "vaccine"), web_field(r, "date"), web_field(r, "dose"),
	                     web_field(r, "who"), today, &e, why, sizeof(why)) < 0) {
		str_error(err, sizeof(err), "%s Rien n'a été enregistré.", why); /* a message: may be cut */
		page(r, 400, err);
		return;
	}
	if (vault_vacc_add(r->st, &who, r->sess.account, &e, 1, &added, err, sizeof(err)) < 0) {
		log_err("web.vaccination", "user=%s error=\"%s\"", r->sess.account, err);
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Rien n'a été enregistré.");
		return;
	}
	if (added == 0) {
		page(r, 400, "Cette vaccination est déjà dans votre carnet. Rien n'a été enregistré.");
		return;
	}
	web_redirect(r, "/vaccinations?fait=ajoute");
}
