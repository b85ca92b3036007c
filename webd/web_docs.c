/* web_docs.c: the patient's documents, by class: list, view, download, mask and
 * unmask (web.h).
 *
 * Documents are the messages of the patient's own folders Documents/<Class> (vault.h).
 * Every box and UID a URL names is looked up under the session's account only. Masking
 * sets or clears the keyword $Masked, exactly as an IMAP STORE of the patient does, and
 * writes the same audit record (vault.mask / vault.unmask), so it shows in the history
 * and professionals lose (or regain) the document at once. */
#include <stdint.h>
#include <string.h>

#include "lib/localtime.h"
#include "lib/log.h"
#include "lib/str.h"
#include "msg/msg.h"
#include "vault/vault.h"
#include "vault/vault_access.h"
#include "webd/web.h"
#include "webd/web_html.h"

#define DOCS_PREFIX "Documents/"

static bool keywords_masked(const char *kw)
{
	size_t n = strlen(VAULT_MASKED_KEYWORD);

	for (const char *p = kw; p != NULL && *p != '\0';) {
		size_t len = strcspn(p, " ");
		if (len == n && str_ieqn(p, VAULT_MASKED_KEYWORD, n))
			return true;
		p += len;
		p += strspn(p, " ");
	}
	return false;
}

/* The document (box, uid as the client sent them) of the session's account. Returns
 * 1 with *mb and *uid, 0 when the text names none of the patient's documents, -1. */
static int own_document(struct web_req *r, const char *box, const char *uidtxt, struct store_mailbox *mb,
                        uint32_t *uid)
{
	struct store_message m;
	uint64_t u;
	char err[256];
	int rc;

	if (box == NULL || uidtxt == NULL || strncmp(box, DOCS_PREFIX, strlen(DOCS_PREFIX)) != 0 ||
	    str_to_u64(uidtxt, UINT32_MAX, &u) < 0 || u == 0)
		return 0;
	rc = store_mailbox_get(r->st, r->sess.account, box, mb, err, sizeof(err));
	if (rc != 1)
		return rc;
	rc = store_message_get(r->st, mb->id, (uint32_t)u, 0, &m, err, sizeof(err));
	if (rc == 1)
		store_message_free(&m);
	*uid = (uint32_t)u;
	return rc;
}

#define HEADER_READ_MAX (64 * 1024) /* what is read of a message to find its header */

static int to_buf(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n) < 0 ? -1 : 0;
}

/* The message's octets, whole or its header only (store_body_*). Returns 0 or -1. */
static int read_message(struct store *st, int64_t mbid, uint32_t uid, bool header_only, struct buf *raw,
                        char *err, size_t errlen)
{
	struct store_body *b = NULL;
	int rc = store_body_open(st, mbid, uid, &b, err, errlen);

	if (rc != 1) {
		if (rc == 0)
			str_error(err, errlen, "no such message");
		return -1;
	}
	if (header_only)
		rc = store_body_read(b, 0, HEADER_READ_MAX, to_buf, raw, err, errlen);
	else
		rc = store_body_read_all(b, raw, err, errlen);
	store_body_close(b);
	if (rc == 0 && header_only)
		raw->len = msg_header_size(raw->data, raw->len);
	return rc;
}

/* The message's bytes (whole, or header only) into raw, parsed into m. Returns 0 or -1. */
static int load(struct web_req *r, int64_t mbid, uint32_t uid, bool header_only, struct buf *raw,
                struct msg *m)
{
	struct msg_limits lim;
	char err[256];

	memset(m, 0, sizeof(*m));
	if (read_message(r->st, mbid, uid, header_only, raw, err, sizeof(err)) != 0) {
		log_err("web.document", "user=%s error=\"%s\"", r->sess.account, err);
		return -1;
	}
	msg_limits_from_config(&r->d->cfg, &lim);
	return msg_parse(raw->data, raw->len, &lim, m, err, sizeof(err));
}

static void unavailable(struct web_req *r)
{
	web_message(r, 503, "Service indisponible",
	            "Le service est momentanément indisponible. Réessayez dans quelques minutes.");
}

static void not_found(struct web_req *r)
{
	web_message(r, 404, "Document introuvable", "Ce document n'existe pas dans votre espace.");
}

/* Returns 0, or -1 when b's limit cut it (b->refused). */
static int append_url_arg(struct buf *b, const char *s)
{
	int rc = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c))
			rc |= buf_append_char(b, (char)c);
		else
			rc |= buf_printf(b, "%%%02X", c);
	}
	return rc;
}

/* A link to path?box=...&uid=... (escaped for the attribute). */
static void doc_link(struct web_req *r, const char *path, const char *box, uint32_t uid, const char *extra)
{
	struct buf u;

	buf_init(&u, 4096);
	int rc = buf_append_str(&u, path) | buf_append_str(&u, "?box=") | append_url_arg(&u, box) |
	         buf_printf(&u, "&uid=%u", uid) | (extra != NULL ? buf_append_str(&u, extra) : 0);
	/* a mailbox name (STORE_MAILBOX_MAX) encoded, 3 bytes a byte, and 100 bytes */
	str_assert(rc, "a link fits 4096 bytes");
	web_esc(&r->body, u.data);
	buf_free(&u);
}

static void mask_form(struct web_req *r, const char *box, uint32_t uid, bool masked)
{
	char uidtxt[16];

	str_assert(str_format(uidtxt, sizeof(uidtxt), "%u", uid), "10 digits into 16");
	web_puts(&r->body, "<form method=\"post\" action=\"/documents/mask\">");
	web_csrf_field(r);
	web_puts(&r->body, "<input type=\"hidden\" name=\"box\" value=\"");
	web_esc(&r->body, box);
	web_puts(&r->body, "\"><input type=\"hidden\" name=\"uid\" value=\"");
	web_esc(&r->body, uidtxt);
	web_puts(&r->body, masked ? "\"><input type=\"hidden\" name=\"masked\" value=\"0\">"
	                            "<button type=\"submit\">Rendre visible</button></form>"
	                          : "\"><input type=\"hidden\" name=\"masked\" value=\"1\">"
	                            "<button type=\"submit\">Masquer</button></form>");
}

static void date_cell(struct web_req *r, int64_t t)
{
	char when[64];

	mss_date_french(r->d->cfg.timezone, t, false, when, sizeof(when));
	web_esc(&r->body, when);
}

static int class_table(struct web_req *r, const struct store_mailbox *mbl)
{
	struct store_mailbox mb;
	struct store_msglist l = {0};
	char err[256];

	if (store_select(r->st, r->sess.account, mbl->name, &mb, &l, err, sizeof(err)) != 1)
		return -1;
	web_puts(&r->body, "<h2>");
	web_esc(&r->body, mbl->name + strlen(DOCS_PREFIX));
	web_puts(&r->body, "</h2>");
	if (l.n == 0)
		web_puts(&r->body, "<p>Aucun document.</p>");
	else
		web_puts(
		    &r->body,
		    "<table><thead><tr><th scope=\"col\">Document</th><th scope=\"col\">Date</th>"
		    "<th scope=\"col\">Visibilité</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
	for (size_t i = 0; i < l.n; i++) {
		struct buf raw;
		struct msg m;
		bool masked = keywords_masked(l.v[i].keywords);

		buf_init(&raw, 1u << 20);
		bool parsed = load(r, mb.id, l.v[i].uid, true, &raw, &m) == 0;
		web_puts(&r->body, "<tr><td><a href=\"");
		doc_link(r, "/document", mb.name, l.v[i].uid, NULL);
		web_puts(&r->body, "\">");
		web_esc(&r->body, parsed && m.h.subject[0] ? m.h.subject : "(sans titre)");
		web_puts(&r->body, "</a></td><td>");
		date_cell(r, parsed && m.h.date ? m.h.date : l.v[i].internaldate);
		web_puts(&r->body, masked ? "</td><td class=\"masked\">Masqué aux professionnels</td><td>"
		                          : "</td><td>Visible par les professionnels autorisés</td><td>");
		mask_form(r, mb.name, l.v[i].uid, masked);
		web_puts(&r->body, "</td></tr>");
		msg_free(&m);
		buf_free(&raw);
	}
	if (l.n > 0)
		web_puts(&r->body, "</tbody></table>");
	store_msglist_free(&l);
	return 0;
}

/* The confirmation a redirect asks for (?fait=...): fixed texts, never the query's. */
static void done_notice(struct web_req *r)
{
	const char *done = web_query(r, "fait");

	if (done == NULL)
		return;
	if (strcmp(done, "masque") == 0)
		web_notice(r, false, "Le document est désormais masqué aux professionnels.");
	else if (strcmp(done, "visible") == 0)
		web_notice(r, false, "Le document est de nouveau visible par les professionnels autorisés.");
}

void web_page_documents(struct web_req *r)
{
	struct store_mailbox_list l = {0};
	char err[256];
	size_t shown = 0;

	if (store_mailbox_list(r->st, r->sess.account, &l, err, sizeof(err)) < 0) {
		unavailable(r);
		return;
	}
	web_page_open(r, "Mes documents");
	done_notice(r);
	web_puts(&r->body, "<p>Un document masqué n'est visible d'aucun professionnel, même autorisé.</p>");
	for (size_t i = 0; i < l.n; i++) {
		if (strncmp(l.v[i].name, DOCS_PREFIX, strlen(DOCS_PREFIX)) != 0)
			continue;
		if (class_table(r, &l.v[i]) < 0) {
			store_mailbox_list_free(&l);
			unavailable(r);
			return;
		}
		shown++;
	}
	if (shown == 0)
		web_puts(&r->body, "<p>Aucun document pour le moment.</p>");
	web_page_close(r);
	store_mailbox_list_free(&l);
}

/* Types a browser may show in place (sandboxed), as the Content-Type to send; NULL for
 * anything else, which is downloaded. */
static const char *inline_type(const char *type)
{
	static const char *const ok[][2] = {{"application/pdf", "application/pdf"},
	                                    {"image/png", "image/png"},
	                                    {"image/jpeg", "image/jpeg"},
	                                    {"text/plain", "text/plain; charset=utf-8"}};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(type, ok[i][0]) == 0)
			return ok[i][1];
	return NULL;
}

static void attachments(struct web_req *r, const char *box, uint32_t uid, const struct msg *m)
{
	size_t n = 0;

	for (size_t i = 1; i < m->nparts; i++) {
		const struct msg_part *p = &m->parts[i];
		char extra[64];
		if (p->kind != MSG_PART_LEAF || p->filename[0] == '\0')
			continue;
		if (n++ == 0)
			web_puts(&r->body, "<h2>Fichiers</h2><ul>");
		web_puts(&r->body, "<li>");
		web_esc(&r->body, p->filename);
		web_puts(&r->body, " (");
		web_esc(&r->body, p->type);
		web_puts(&r->body, ") : <a href=\"");
		str_assert(str_format(extra, sizeof(extra), "&part=%zu", i), "a number and 14 bytes into 64");
		doc_link(r, "/document/file", box, uid, extra);
		web_puts(&r->body, "\">Télécharger</a>");
		if (inline_type(p->type) != NULL) {
			str_assert(str_format(extra, sizeof(extra), "&part=%zu&voir=1", i),
			           "a number and 14 bytes into 64");
			web_puts(&r->body, " – <a href=\"");
			doc_link(r, "/document/file", box, uid, extra);
			web_puts(&r->body, "\">Ouvrir</a>");
		}
		web_puts(&r->body, "</li>");
	}
	if (n > 0)
		web_puts(&r->body, "</ul>");
}

/* The readable description the vault wrote as the first text part. */
static void description(struct web_req *r, const struct msg *m)
{
	for (size_t i = 1; i < m->nparts; i++) {
		const struct msg_part *p = &m->parts[i];
		if (p->kind == MSG_PART_LEAF && strcmp(p->type, "text/plain") == 0 &&
		    p->filename[0] == '\0') {
			struct buf t;
			buf_init(&t, 256 * 1024);
			if (msg_part_decode(m, i, &t) == 0) {
				web_puts(&r->body, "<pre>");
				web_esc_n(&r->body, t.data, t.len);
				web_puts(&r->body, "</pre>");
			}
			buf_free(&t);
			return;
		}
	}
}

void web_page_document(struct web_req *r)
{
	const char *box = web_query(r, "box");
	struct store_mailbox mb;
	struct store_message sm;
	struct buf raw;
	struct msg m;
	uint32_t uid = 0;
	char err[256];
	int rc = own_document(r, box, web_query(r, "uid"), &mb, &uid);

	if (rc <= 0) {
		rc < 0 ? unavailable(r) : not_found(r);
		return;
	}
	if (store_message_get(r->st, mb.id, uid, 0, &sm, err, sizeof(err)) != 1) {
		not_found(r);
		return;
	}
	buf_init(&raw, r->d->cfg.max_message_size + 1024);
	if (load(r, mb.id, uid, false, &raw, &m) < 0) {
		store_message_free(&sm);
		buf_free(&raw);
		unavailable(r);
		return;
	}
	web_page_open(r, m.h.subject[0] ? m.h.subject : "Document");
	web_puts(&r->body, "<p>Classe : ");
	web_esc(&r->body, mb.name + strlen(DOCS_PREFIX));
	web_puts(&r->body, " – reçu ");
	date_cell(r, sm.msg.internaldate);
	web_puts(&r->body, "</p>");
	bool masked = keywords_masked(sm.msg.keywords);
	web_notice(r, false,
	           masked ? "Ce document est masqué aux professionnels."
	                  : "Ce document est visible par les professionnels autorisés.");
	mask_form(r, mb.name, uid, masked);
	description(r, &m);
	attachments(r, mb.name, uid, &m);
	web_puts(&r->body, "<p><a href=\"/documents\">Retour à mes documents</a></p>");
	web_page_close(r);
	msg_free(&m);
	buf_free(&raw);
	store_message_free(&sm);
}

/* Content-Disposition with an ASCII fallback name and the UTF-8 one (RFC 6266 4.3). */
static void disposition(struct web_req *r, bool in_place, const char *name)
{
	struct buf d;
	char ascii[200];
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < sizeof(ascii); i++) {
		unsigned char c = (unsigned char)name[i];
		ascii[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		                   strchr("-._", c)
		               ? (char)c
		               : '_';
	}
	ascii[i] = '\0';
	buf_init(&d, sizeof(r->disposition) - 1);
	int rc = buf_printf(&d, "%s; filename=\"%s\"; filename*=UTF-8''", in_place ? "inline" : "attachment",
	                    ascii[0] ? ascii : "document");
	rc |= append_url_arg(&d, name);
	if (rc != 0) /* a very long name: a generic one, never a cut one */
		str_assert(str_format(r->disposition, sizeof(r->disposition), "%s; filename=\"document\"",
		                      in_place ? "inline" : "attachment"),
		           "a constant into 400 bytes");
	else
		str_assert(str_copy(r->disposition, sizeof(r->disposition), d.data),
		           "d holds 399 bytes at most");
	buf_free(&d);
}

void web_get_file(struct web_req *r)
{
	const char *box = web_query(r, "box"), *parttxt = web_query(r, "part");
	struct store_mailbox mb;
	struct buf raw, out;
	struct msg m;
	uint32_t uid = 0;
	uint64_t part = 0;
	int rc = own_document(r, box, web_query(r, "uid"), &mb, &uid);

	if (rc <= 0 || parttxt == NULL || str_to_u64(parttxt, 100000, &part) < 0) {
		rc < 0 ? unavailable(r) : not_found(r);
		return;
	}
	buf_init(&raw, r->d->cfg.max_message_size + 1024);
	if (load(r, mb.id, uid, false, &raw, &m) < 0) {
		buf_free(&raw);
		unavailable(r);
		return;
	}
	if (part == 0 || part >= m.nparts || m.parts[part].kind != MSG_PART_LEAF ||
	    m.parts[part].filename[0] == '\0') {
		msg_free(&m);
		buf_free(&raw);
		not_found(r);
		return;
	}
	const struct msg_part *p = &m.parts[part];
	bool in_place = web_query(r, "voir") != NULL && inline_type(p->type) != NULL;
	buf_init(&out, r->d->cfg.max_message_size);
	if (msg_part_decode(&m, part, &out) < 0) {
		buf_free(&out);
		msg_free(&m);
		buf_free(&raw);
		unavailable(r);
		return;
	}
	r->sandbox = true;
	r->content_type = in_place ? inline_type(p->type) : "application/octet-stream";
	disposition(r, in_place, p->filename);
	buf_reset(&r->body);
	if (buf_append(&r->body, out.data, out.len) < 0) /* body.refused: a 500, never a cut file */
		log_warn("web.file", "error=\"file larger than a page may be\" size=%zu", out.len);
	buf_free(&out);
	msg_free(&m);
	buf_free(&raw);
}

void web_post_mask(struct web_req *r)
{
	const char *box = web_field(r, "box"), *flag = web_field(r, "masked");
	struct store_mailbox mb;
	uint32_t uid = 0;
	bool mask;
	int rc = own_document(r, box, web_field(r, "uid"), &mb, &uid);
	char err[256], target[STORE_MAILBOX_MAX + 16];

	if (rc < 0) {
		unavailable(r);
		return;
	}
	if (rc == 0 || flag == NULL || (strcmp(flag, "1") != 0 && strcmp(flag, "0") != 0)) {
		web_message(r, 400, "Demande incorrecte",
		            "Ce document n'existe pas dans votre espace. Rien n'a été modifié.");
		return;
	}
	mask = flag[0] == '1';
	struct store_flags_req req = {.op = mask ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE,
	                              .keywords = VAULT_MASKED_KEYWORD};
	struct store_flags_result res = {0};
	if (store_set_flags(r->st, mb.id, &uid, 1, &req, &res, err, sizeof(err)) != 0) {
		log_err("web.mask", "user=%s error=\"%s\"", r->sess.account, err);
		unavailable(r);
		return;
	}
	bool changed = res.updated.n > 0;
	store_flags_result_free(&res);
	if (changed) {
		struct vault_actor a = {r->sess.account, "password", r->peer};
		str_assert(str_format(target, sizeof(target), "%s %u", mb.name, uid),
		           "a STORE_MAILBOX_MAX name and a number fit STORE_MAILBOX_MAX + 16");
		if (vault_audit(r->st, &a, mask ? "vault.mask" : "vault.unmask", r->sess.account, target,
		                "web", "ok") < 0)
			log_err("web.audit", "action=vault.mask user=%s", r->sess.account);
	}
	web_redirect(r, mask ? "/documents?fait=masque" : "/documents?fait=visible");
}
