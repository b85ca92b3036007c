/* web_history.c: the patient's history, readable (web.h): the entries of
 * vault_history_foreach, newest first, each as the same French text the Historique
 * IMAP folder shows (vault_history_text), so both say the same thing. */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "vault/vault_history.h"
#include "webd/web.h"
#include "webd/web_html.h"

#define HISTORY_SHOWN 200 /* the latest entries shown; the whole history stays in Historique */

struct history_ctx {
	struct vault_history_entry *v;
	size_t n, start; /* a ring of the last HISTORY_SHOWN entries */
	size_t total;
};

static int keep(const struct vault_history_entry *e, void *arg)
{
	struct history_ctx *x = arg;

	x->v[(x->start + x->n) % HISTORY_SHOWN] = *e;
	if (x->n < HISTORY_SHOWN)
		x->n++;
	else
		x->start = (x->start + 1) % HISTORY_SHOWN;
	x->total++;
	return 0;
}

static void entry(struct web_req *r, const struct vault_history_entry *e)
{
	static struct vault_history_text t;

	if (vault_history_text(r->st, r->d->cfg.timezone, e, &t) < 0)
		return;
	web_puts(&r->body, "<li><p class=\"what\">");
	web_esc(&r->body, t.subject);
	web_puts(&r->body, "</p><p class=\"lines\">");
	web_esc(&r->body, t.body);
	web_puts(&r->body, "</p></li>");
}

void web_page_history(struct web_req *r)
{
	struct history_ctx x = {xcalloc(HISTORY_SHOWN, sizeof(struct vault_history_entry)), 0, 0, 0};

	if (vault_history_foreach(r->st, r->sess.account, 0, keep, &x) < 0) {
		free(x.v);
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Réessayez dans quelques minutes.");
		return;
	}
	web_page_open(r, "Mon historique");
	web_puts(&r->body, "<p>Qui a fait quoi dans votre espace, du plus récent au plus ancien.");
	if (x.total > x.n)
		web_puts(&r->body, " Les entrées plus anciennes sont dans le dossier Historique de votre "
		                   "messagerie.");
	web_puts(&r->body, "</p>");
	if (x.n == 0)
		web_puts(&r->body, "<p>Aucune entrée pour le moment.</p>");
	else
		web_puts(&r->body, "<ol class=\"history\" reversed>");
	for (size_t i = x.n; i > 0; i--)
		entry(r, &x.v[(x.start + i - 1) % HISTORY_SHOWN]);
	if (x.n > 0)
		web_puts(&r->body, "</ol>");
	web_page_close(r);
	free(x.v);
}
