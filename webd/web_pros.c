/* web_pros.c: the professionals who may read the patient's vault: who has access,
 * grant (a professional found by name), revoke, block, unblock (web.h).
 *
 * Every change is a call to vault_access_grant / revoke / block / unblock, the
 * functions IMAP SETACL/DELETEACL and mssctl access call, so the rules (a block
 * overrides every grant, only local professional and organisation accounts may be
 * granted) and the audit records (access.grant, ..., refusals included) are theirs;
 * this page only says why in French. */
#include <string.h>

#include "directory/account.h"
#include "directory/directory_entry.h"
#include "lib/localtime.h"
#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_access.h"
#include "vault/vault_people.h"
#include "webd/web.h"
#include "webd/web_html.h"

#define SEARCH_MAX 20
#define SEARCH_TEXT_MAX 100

static void person(struct web_req *r, const char *address)
{
	char shown[600];

	vault_person_display(r->st, address, shown, sizeof(shown));
	web_esc(&r->body, shown);
}

/* A one-button form posting pro to action. */
static void pro_button(struct web_req *r, const char *action, const char *pro, const char *label)
{
	web_puts(&r->body, "<form method=\"post\" action=\"");
	web_esc(&r->body, action);
	web_puts(&r->body, "\">");
	web_csrf_field(r);
	web_puts(&r->body, "<input type=\"hidden\" name=\"pro\" value=\"");
	web_esc(&r->body, pro);
	web_puts(&r->body, "\"><button type=\"submit\">");
	web_esc(&r->body, label);
	web_puts(&r->body, "</button></form> ");
}

struct list_ctx {
	struct web_req *r;
	unsigned n;
};

static int access_row(const struct vault_access_entry *e, void *arg)
{
	struct list_ctx *x = arg;
	struct web_req *r = x->r;
	char since[64];

	if (x->n++ == 0)
		web_puts(&r->body,
		         "<table><thead><tr><th scope=\"col\">Professionnel</th>"
		         "<th scope=\"col\">Accès</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
	web_puts(&r->body, "<tr><td>");
	person(r, e->professional);
	web_puts(&r->body, "</td><td>");
	if (e->blocked) {
		web_puts(&r->body, "Bloqué : ne peut ni lire vos documents ni vous écrire");
	} else if (e->granted && e->inactive) {
		/* the grant stays (vault_may_read): said so, and that it returns by itself */
		web_puts(&r->body, "Accès suspendu : ce professionnel n'est plus actif dans l'annuaire "
		                   "santé. Il ne peut pas lire vos documents tant qu'il ne l'est pas de "
		                   "nouveau.");
	} else if (e->granted) {
		mss_date_french(r->d->cfg.timezone, e->granted, false, since, sizeof(since));
		web_puts(&r->body, "Peut lire vos documents non masqués, depuis ");
		web_esc(&r->body, since);
	}
	web_puts(&r->body, "</td><td>");
	if (e->granted && !e->blocked)
		pro_button(r, "/professionnels/retirer", e->professional, "Retirer l'accès");
	if (e->blocked)
		pro_button(r, "/professionnels/debloquer", e->professional, "Débloquer");
	else
		pro_button(r, "/professionnels/bloquer", e->professional, "Bloquer");
	web_puts(&r->body, "</td></tr>");
	return 0;
}

struct search_ctx {
	struct web_req *r;
	const char *text;
	char found[SEARCH_MAX][256];
	unsigned n;
};

static bool contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (str_ieqn(hay, needle, n))
			return true;
	return false;
}

static void add_found(struct search_ctx *x, const char *address)
{
	for (unsigned i = 0; i < x->n; i++)
		if (strcmp(x->found[i], address) == 0)
			return;
	if (x->n < SEARCH_MAX && str_copy(x->found[x->n], sizeof(x->found[0]), address) == 0)
		x->n++;
}

/* Local professional and organisation accounts whose name or address contains the
 * text: the only ones a grant may name. */
static int search_account(const struct account *a, void *arg)
{
	struct search_ctx *x = arg;

	if ((a->role == ROLE_PROFESSIONAL || a->role == ROLE_ORGANISATION) && !a->disabled &&
	    (contains_ci(a->name, x->text) || contains_ci(a->address, x->text)))
		add_found(x, a->address);
	return x->n >= SEARCH_MAX;
}

/* Directory entries (by name, profession, structure) that have an account here. */
static int search_directory(const struct dir_entry *e, void *arg)
{
	struct search_ctx *x = arg;
	struct account a;

	if (account_get(x->r->st, e->address, &a) == 1 &&
	    (a.role == ROLE_PROFESSIONAL || a.role == ROLE_ORGANISATION) && !a.disabled)
		add_found(x, a.address);
	return x->n >= SEARCH_MAX;
}

/* One professional found, with the buttons that fit where they stand: a blocked one
 * can only be unblocked (a grant would be refused: vault_access_grant), one who
 * already has access can lose it. */
static void search_result(struct web_req *r, const char *pro)
{
	struct dir_entry e;
	int blocked = vault_is_blocked(r->st, r->sess.account, pro);
	int granted = vault_may_read(r->st, pro, r->sess.account);
	int inactive = dir_entry_get(r->st, pro, &e) == 1 && !e.active;

	web_puts(&r->body, "<li>");
	person(r, pro);
	web_puts(&r->body, " ");
	if (blocked != 0) { /* blocked, or unknown (-1): nothing that a block forbids */
		web_puts(&r->body, "(bloqué) ");
		if (blocked == 1)
			pro_button(r, "/professionnels/debloquer", pro, "Débloquer");
	} else if (inactive) { /* a grant would be refused (vault_access_grant) */
		web_puts(&r->body, "(n'est plus actif dans l'annuaire santé) ");
		pro_button(r, "/professionnels/bloquer", pro, "Bloquer");
	} else if (granted == 1) {
		web_puts(&r->body, "(a déjà accès) ");
		pro_button(r, "/professionnels/retirer", pro, "Retirer l'accès");
		pro_button(r, "/professionnels/bloquer", pro, "Bloquer");
	} else {
		pro_button(r, "/professionnels/autoriser", pro, "Autoriser l'accès");
		pro_button(r, "/professionnels/bloquer", pro, "Bloquer");
	}
	web_puts(&r->body, "</li>");
}

static void search_results(struct web_req *r, const char *text)
{
	static struct search_ctx x;

	memset(&x, 0, sizeof(x));
	x.r = r;
	x.text = text;
	if (strlen(text) < 2 || strlen(text) > SEARCH_TEXT_MAX) {
		web_notice(r, true, "Indiquez au moins deux caractères (et au plus cent) pour chercher.");
		return;
	}
	if (account_foreach(r->st, search_account, &x) < 0 ||
	    dir_entry_search(r->st, text, SEARCH_MAX, search_directory, &x) < 0) {
		web_notice(r, true, "La recherche est momentanément indisponible.");
		return;
	}
	web_puts(&r->body, "<h2>Résultats</h2>");
	if (x.n == 0) {
		web_puts(&r->body, "<p>Aucun professionnel de ce service ne correspond.</p>");
		return;
	}
	web_puts(&r->body, "<ul>");
	for (unsigned i = 0; i < x.n; i++)
		search_result(r, x.found[i]);
	web_puts(&r->body, "</ul>");
}

static const struct {
	const char *code, *text;
} done_texts[] = {
    {"autorise", "L'accès est accordé : ce professionnel peut lire vos documents non masqués."},
    {"retire", "L'accès est retiré."},
    {"bloque", "Ce professionnel est bloqué : il ne peut plus lire vos documents ni vous écrire."},
    {"debloque", "Ce professionnel est débloqué."},
};

void web_page_pros(struct web_req *r)
{
	struct list_ctx x = {r, 0};
	const char *done = web_query(r, "fait"), *text = web_query(r, "nom");

	web_page_open(r, "Mes professionnels");
	for (size_t i = 0; done != NULL && i < sizeof(done_texts) / sizeof(done_texts[0]); i++)
		if (strcmp(done, done_texts[i].code) == 0)
			web_notice(r, false, done_texts[i].text);
	web_puts(&r->body, "<h2>Qui a accès à mes documents</h2>");
	if (vault_access_list(r->st, r->sess.account, access_row, &x) < 0) {
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Réessayez dans quelques minutes.");
		return;
	}
	if (x.n == 0)
		web_puts(&r->body, "<p>Aucun professionnel n'a accès à vos documents.</p>");
	else
		web_puts(&r->body, "</tbody></table>");
	web_puts(&r->body, "<h2>Autoriser un professionnel</h2>"
	                   "<form method=\"get\" action=\"/professionnels\" role=\"search\">"
	                   "<label for=\"nom\">Nom, profession ou établissement</label>"
	                   "<input id=\"nom\" name=\"nom\" type=\"search\" maxlength=\"100\" value=\"");
	web_esc(&r->body, text);
	web_puts(&r->body, "\"> <button type=\"submit\">Chercher</button></form>");
	if (text != NULL)
		search_results(r, text);
	web_page_close(r);
}

enum pro_op { OP_GRANT, OP_REVOKE, OP_BLOCK, OP_UNBLOCK };

/* Why op was refused, in French (vault_access_* say it in English for mssctl). */
static const char *refusal(struct web_req *r, enum pro_op op, const char *pro)
{
	struct account a;
	struct dir_entry e;
	int rc = account_get(r->st, pro, &a), blocked = vault_is_blocked(r->st, r->sess.account, pro);

	if (op == OP_BLOCK)
		return "Cette adresse n'est pas valide.";
	if (op == OP_UNBLOCK)
		return "Ce professionnel n'est pas bloqué.";
	if (op == OP_REVOKE)
		return "Ce professionnel n'avait pas accès à vos documents.";
	if (rc != 1 || (a.role != ROLE_PROFESSIONAL && a.role != ROLE_ORGANISATION))
		return "Ce professionnel n'a pas de compte sur ce service.";
	if (blocked == 1)
		return "Vous avez bloqué ce professionnel : débloquez-le d'abord.";
	if (a.disabled)
		return "Ce compte professionnel est désactivé.";
	if (dir_entry_get(r->st, pro, &e) == 1 && !e.active)
		return "Ce professionnel n'est plus actif dans l'annuaire santé.";
	return "Ce changement n'est pas possible.";
}

/* The change goes through the vault's function whatever it is, so that a refused one
 * is audited exactly as the same request over IMAP or mssctl would be. */
static void pro_change(struct web_req *r, enum pro_op op)
{
	static int (*const fns[])(struct store *, const struct vault_actor *, const char *, const char *,
	                          char *, size_t) = {vault_access_grant, vault_access_revoke,
	                                             vault_access_block, vault_access_unblock};
	static const char *const done[] = {"/professionnels?fait=autorise", "/professionnels?fait=retire",
	                                   "/professionnels?fait=bloque", "/professionnels?fait=debloque"};
	const char *pro = web_field(r, "pro");
	struct vault_actor who = {r->sess.account, "password", r->peer};
	char err[256], text[300];
	int rc;

	if (pro == NULL || pro[0] == '\0' || strlen(pro) >= 256) {
		web_message(r, 400, "Demande incorrecte",
		            "Aucun professionnel n'est indiqué. Rien n'a été modifié.");
		return;
	}
	rc = fns[op](r->st, &who, r->sess.account, pro, err, sizeof(err));
	if (rc < 0) {
		log_err("web.access", "user=%s error=\"%s\"", r->sess.account, err);
		web_message(r, 503, "Service indisponible",
		            "Le service est momentanément indisponible. Rien n'a été modifié.");
		return;
	}
	if (rc == 1) {
		str_error(text, sizeof(text), "%s Rien n'a été modifié.", refusal(r, op, pro));
		web_message(r, 400, "Demande refusée", text);
		return;
	}
	web_redirect(r, done[op]);
}

void web_post_grant(struct web_req *r)
{
	pro_change(r, OP_GRANT);
}

void web_post_revoke(struct web_req *r)
{
	pro_change(r, OP_REVOKE);
}

void web_post_block(struct web_req *r)
{
	pro_change(r, OP_BLOCK);
}

void web_post_unblock(struct web_req *r)
{
	pro_change(r, OP_UNBLOCK);
}
