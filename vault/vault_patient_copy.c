/* vault_patient_copy.c: building the copy a patient's INBOX receives (vault_copy.h)
 * and storing it beside the message as sent to the other recipients.
 *
 * The copy is cut from the message as sent, by the byte ranges of the parsed form:
 * the first withheld part gives its place to a short French note, the following ones
 * leave with their delimiter line (RFC 2046 5.1.1), so the multipart stays well
 * formed and everything kept is byte for byte what the sender wrote. */
#include "vault/vault.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_copy.h"
#include "vault/vault_delivery.h"
#include "vault/vault_mime.h"

static const char note_invisible[] =
    "Une pièce jointe de ce message est réservée aux professionnels de santé. Elle a été "
    "transmise à l'équipe de soins qui vous suit et n'est pas affichée ici.\r\n";
static const char note_other[] =
    "Une pièce jointe de ce message concerne un autre patient : elle a été retenue, "
    "et l'expéditeur en a été informé.\r\n";
static const char note_uninspected[] =
    "Une ou plusieurs pièces jointes de ce message n'ont pas pu être vérifiées : par précaution, elles "
    "ont été retenues, et l'expéditeur en a été informé.\r\n";

/* true when the header line at p (a field's first line) is one of names. */
static bool field_is(const char *p, size_t len, const char *const *names, size_t nnames)
{
	for (size_t i = 0; i < nnames; i++) {
		size_t n = strlen(names[i]);
		if (len > n && p[n] == ':' && str_ieqn(p, names[i], n))
			return true;
	}
	return false;
}

/* Copies the header block (without its blank line) minus the named fields and their
 * continuation lines. */
static void copy_header(const char *data, size_t len, const char *const *drop, size_t ndrop, struct buf *out)
{
	size_t i = 0;
	bool dropping = false;
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - data) + 1 : len;
		size_t linelen = end - i;
		if (linelen <= 2 && (data[i] == '\r' || data[i] == '\n'))
			return; /* the blank line */
		if (data[i] != ' ' && data[i] != '\t')
			dropping = field_is(data + i, linelen, drop, ndrop);
		if (!dropping)
			buf_put(out, data + i, linelen);
		i = end;
	}
}

static void header(const struct mss_config *cfg, const struct msg *m, const struct vault_copy_plan *plan,
                   struct buf *out)
{
	static const char *const fields[] = {
	    "Message-ID",         "Subject", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	    "Content-Disposition"};
	const char *drop[6];
	size_t n = 0;
	bool withholds = vault_copy_withholds(plan);
	if (withholds)
		drop[n++] = fields[0];
	if (plan->strip_prefix)
		drop[n++] = fields[1];
	for (size_t i = 2; plan->whole && i < 6; i++)
		drop[n++] = fields[i];
	copy_header(m->data, m->h.size < m->len ? m->h.size : m->len, drop, n, out);
	if (plan->strip_prefix) {
		char subject[1024];
		_Static_assert(sizeof subject >= sizeof m->h.subject, "the subject always fits");
		str_assert(str_copy(subject, sizeof subject, m->h.subject + strlen(VAULT_XDM_SUBJECT_PREFIX)),
		           "the assertion above");
		mime_header(out, "Subject", str_trim(subject));
	}
	if (withholds) {
		char token[33];
		mime_random_token(token);
		buf_put_printf(out, "Message-ID: <copie-patient.%s@%s>\r\n", token, cfg->patient_domain);
	}
}

static void note_part(const struct vault_copy_plan *plan, struct buf *out)
{
	struct buf t;
	int rc = 0;
	buf_init_wiped(&t, BUF_UNLIMITED);
	if (plan->invisible)
		rc |= buf_append_str(&t, note_invisible);
	if (plan->other_patient)
		rc |= buf_append_str(&t, note_other);
	if (plan->uninspected || t.len == 0)
		rc |= buf_append_str(&t, note_uninspected);
	str_assert(rc, "t is BUF_UNLIMITED");
	buf_put_str(out, "Content-Type: text/plain; charset=utf-8\r\n"
	                 "Content-Transfer-Encoding: base64\r\n\r\n");
	mime_base64(out, t.data, t.len);
	buf_free(&t);
}

/* The message's own text, when it is a described part that stays. */
static const struct msg_part *kept_text(const struct msg *m, const struct vault_copy_plan *plan)
{
	for (size_t i = 1; i < m->nparts && i < plan->nparts; i++) {
		const struct msg_part *p = &m->parts[i];
		if (p->kind == MSG_PART_LEAF && !p->whole_body && !p->attachment && !p->filename[0] &&
		    plan->parts[i] == VW_KEEP && !msg_part_forwarded(m, i) &&
		    (strcmp(p->type, "text/plain") == 0 || strcmp(p->type, "text/html") == 0))
			return p;
	}
	return NULL;
}

/* The body replaced whole: the message's text (as sent) and the note. */
static void whole(const struct msg *m, const struct vault_copy_plan *plan, struct buf *out)
{
	const struct msg_part *text = kept_text(m, plan);
	buf_put_str(out, "MIME-Version: 1.0\r\n");
	if (!text) {
		note_part(plan, out);
		return;
	}
	char boundary[33];
	mime_random_token(boundary);
	buf_put_printf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n--%s\r\n", boundary,
	               boundary);
	buf_put(out, m->data + text->start, text->end - text->start);
	buf_put_printf(out, "\r\n--%s\r\n", boundary);
	note_part(plan, out);
	buf_put_printf(out, "--%s--\r\n", boundary);
}

/* Where the "--boundary" line before the part at start begins, with the line break
 * before it (RFC 2046 5.1.1: that CRLF belongs to the delimiter), so that removing from
 * there to the part's end leaves a well-formed multipart. start when not found. */
static size_t delimiter_start(const char *data, size_t from, size_t start)
{
	size_t i = start;
	if (i > from && data[i - 1] == '\n')
		i--;
	if (i > from && data[i - 1] == '\r')
		i--;
	size_t line = i;
	while (line > from && data[line - 1] != '\n')
		line--;
	if (i - line < 2 || data[line] != '-' || data[line + 1] != '-' || line == from)
		return start;
	size_t cut = line - 1; /* the '\n' ending the previous line */
	if (cut > from && data[cut - 1] == '\r')
		cut--;
	return cut;
}

static int cut(const struct msg *m, const struct vault_copy_plan *plan, struct buf *out)
{
	size_t at = m->h.size, i = 1;
	bool noted = false;
	buf_put_str(out, "\r\n");
	while (i < m->nparts) {
		const struct msg_part *p = &m->parts[i];
		if (plan->parts[i] == VW_KEEP) {
			i++;
			continue;
		}
		if (p->start < at || p->end > m->len || p->end < p->start)
			return -1; /* never with msg/'s ranges: refuse rather than guess */
		size_t from = noted ? delimiter_start(m->data, at, p->start) : p->start;
		buf_put(out, m->data + at, from - at);
		if (from == p->start) /* one note for the message; later parts just go */
			note_part(plan, out);
		noted = true;
		at = p->end;
		i = msg_part_next_sibling(m, i);
	}
	buf_put(out, m->data + at, m->len - at);
	return 0;
}

int vault_copy_build(const struct mss_config *cfg, const struct msg *m, const struct vault_copy_plan *plan,
                     struct buf *out)
{
	header(cfg, m, plan, out);
	if (plan->whole) {
		whole(m, plan, out);
		return 0;
	}
	if (!vault_copy_withholds(plan)) { /* the subject alone changes */
		buf_put_str(out, "\r\n");
		buf_put(out, m->data + m->h.size, m->len - m->h.size);
		return 0;
	}
	return cut(m, plan, out);
}

/* ---- storing the copies -------------------------------------------------------- */

/* The recipients sharing one version of the message (the original, or one copy). */
struct version {
	struct vault_copy_plan plan;
	const char **rcpts;
	size_t n;
	bool original;
};

/* parsed: the parse of exactly data when there is one (the store then does not parse).
 * Everything before the transaction: the blob sealed and written, the keys sealed. */
static int prepare(struct store *store, const struct policy_message *m, const struct version *v,
                   const char *data, size_t len, const struct msg *parsed,
                   const struct vault_inbox_hook *hook, struct store_prepared **out, char *err, size_t errlen)
{
	struct store_delivery d = {.mail_from = m->mail_from,
	                           .rcpts = v->rcpts,
	                           .nrcpt = v->n,
	                           .data = data,
	                           .len = len,
	                           .parsed = parsed};
	if (hook) {
		d.in_transaction = hook->fn;
		d.in_transaction_arg = hook->arg;
	}
	return store_deliver_prepare(store, &d, out, err, errlen);
}

/* A message that could not be parsed: its patients' copy is its header and a note. */
static void unparsed(const struct vault_delivery *d, struct msg *m, struct vault_copy_plan *plan)
{
	memset(m, 0, sizeof *m);
	m->data = d->m->data;
	m->len = d->m->len;
	m->h.size = msg_header_size(m->data, m->len);
	memset(plan, 0, sizeof *plan);
	plan->whole = true;
	plan->uninspected = 1;
}

int vault_copy_for(const struct vault_delivery *d, size_t i, struct vault_copy_plan *plan)
{
	if (!d->parsed) {
		struct msg m;
		unparsed(d, &m, plan);
		return 0;
	}
	if (d->m->copies != NULL) { /* fits: vault_delivery_open checked */
		vault_copy_plan_copy(&d->m->copies[i], plan);
		return 0;
	}
	return vault_copy_decide(&d->insp, d->rcpts[i].ins, plan);
}

/* Groups the recipients by the version they get. Returns the number of versions. */
static size_t group(const struct vault_delivery *d, struct version *v)
{
	size_t nv = 1;
	v[0].original = true;
	for (size_t i = 0; i < d->m->nrcpt; i++) {
		const struct vault_rcpt *r = &d->rcpts[i];
		struct vault_copy_plan plan;
		size_t k = 0;
		if (!r->patient) { /* enabled or not: see vault_rcpt */
			v[0].rcpts[v[0].n++] = r->address;
			continue;
		}
		vault_copy_for(d, i, &plan);
		if (!vault_copy_changes(&plan))
			k = 0;
		else
			for (k = 1; k < nv && !vault_copy_same(&v[k].plan, &plan); k++)
				;
		if (k == nv) {
			v[nv++].plan = plan;
		} else {
			vault_copy_plan_free(&plan);
		}
		v[k].rcpts[v[k].n++] = r->address;
	}
	return nv;
}

static void log_copy(const struct vault_delivery *d, const struct version *v)
{
	log_info("vault_patient_copy",
	         "qid=%s patients=%zu invisible=%u other_patient=%u uninspected=%u whole=%d",
	         d->m->queue_id ? d->m->queue_id : "-", v->n, v->plan.invisible, v->plan.other_patient,
	         v->plan.uninspected, v->plan.whole);
}

/* The versions, each prepared for the store (NULL: no recipient gets it). */
struct vault_inbox_plan {
	struct version *v; /* n + 1 of them: the store's deliveries point at their rcpts */
	size_t n, nv;
	struct store_prepared **prep;
};

/* Prepares each version; the hook runs with the last, so the delivery's records say
 * "delivered" only once everything is stored. */
static int prepare_versions(struct store *store, const struct vault_delivery *d, struct vault_inbox_plan *p,
                            const struct vault_inbox_hook *hook, char *err, size_t errlen)
{
	struct version *v = p->v;
	size_t last = p->nv;
	while (last > 0 && v[last - 1].n == 0)
		last--;
	int rc = 0;
	for (size_t k = 0; k < p->nv && rc == 0; k++) {
		if (v[k].n == 0)
			continue;
		const struct vault_inbox_hook *h = k + 1 == last ? hook : NULL;
		if (v[k].original) {
			rc = prepare(store, d->m, &v[k], d->m->data, d->m->len, d->parsed ? &d->msg : NULL, h,
			             &p->prep[k], err, errlen);
			continue;
		}
		struct msg fallback;
		struct vault_copy_plan unused;
		const struct msg *m = &d->msg;
		if (!d->parsed) {
			unparsed(d, &fallback, &unused);
			m = &fallback;
		}
		struct buf copy;
		buf_init_wiped(&copy, BUF_UNLIMITED);
		rc = vault_copy_build(store_config(store), m, &v[k].plan, &copy);
		if (rc != 0)
			str_error(err, errlen, "the patient's copy could not be built");
		else
			rc = prepare(store, d->m, &v[k], copy.data, copy.len, NULL, h, &p->prep[k], err,
			             errlen);
		log_copy(d, &v[k]);
		buf_free(&copy);
	}
	return rc;
}

void vault_inbox_free(struct store *store, struct vault_inbox_plan *p)
{
	if (p == NULL)
		return;
	for (size_t k = 0; k < p->n + 1; k++) {
		store_deliver_free(store, p->prep[k]);
		vault_copy_plan_free(&p->v[k].plan);
		free(p->v[k].rcpts);
	}
	free(p->prep);
	free(p->v);
	free(p);
}

int vault_inbox_prepare(struct store *store, const struct vault_delivery *d,
                        const struct vault_inbox_hook *hook, struct vault_inbox_plan **out, char *err,
                        size_t errlen)
{
	struct vault_inbox_plan *p = xcalloc(1, sizeof *p);
	p->n = d->m->nrcpt;
	p->v = xcalloc(p->n + 1, sizeof *p->v);
	p->prep = xcalloc(p->n + 1, sizeof *p->prep);
	for (size_t k = 0; k < p->n + 1; k++)
		p->v[k].rcpts = xcalloc(p->n ? p->n : 1, sizeof *p->v[k].rcpts);
	p->nv = group(d, p->v);
	*out = p;
	return prepare_versions(store, d, p, hook, err, errlen);
}

/* Should a later version's rows fail, the sender retries and the earlier recipients
 * get the message twice, never zero times (outside a batch each version commits on
 * its own). */
int vault_inbox_rows(struct store *store, struct vault_inbox_plan *p, char *err, size_t errlen)
{
	int rc = 0;
	for (size_t k = 0; k < p->nv && rc == 0; k++)
		if (p->prep[k] != NULL)
			rc = store_deliver_rows(store, p->prep[k], NULL, err, errlen);
	return rc;
}
