/* vault_file_vacc.c: a vaccination document filed is recorded for the patient's
 * vaccination book (vault_vacc.h; write-only: the book itself is rebuilt in the
 * patient's own session): its CDA's immunizations, or, when it records none that can be
 * read (a PDF, a CDA without entries), the document itself as one entry (its title,
 * its date, its author), so that the book never misses a vaccination a professional
 * sent. A document masked from professionals adds nothing: the book is theirs to read. */
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/str.h"
#include "vault/vault_filing.h"
#include "vault/vault_vacc.h"

/* The entry that stands for the whole document. */
static void document_entry(const struct filing *f, const struct vault_doc *d, struct vault_vacc_entry *e)
{
	const char *c = d->created;
	memset(e, 0, sizeof(*e));
	/* a title shown in the book, never compared: shortened visibly when too long */
	str_copy_display(e->vaccine, sizeof(e->vaccine), d->title[0] ? d->title : "Document de vaccination");
	if (strlen(c) >= 8 && strspn(c, "0123456789") >= 8 &&
	    str_format(e->date, sizeof(e->date), "%.4s-%.2s-%.2s", c, c + 4, c + 6) < 0)
		e->date[0] = '\0';
	if (str_copy(e->who, sizeof(e->who), d->author[0] ? d->author : f->d->sender_name) < 0)
		e->who[0] = '\0';
}

struct vault_vacc_entry *vault_vacc_entries(const struct filing *f, const struct vault_doc *d, size_t *n)
{
	struct vault_vacc_entry *e;
	char err[256];

	*n = 0;
	if (d->cls != VAULT_VACCINATIONS || d->invisible_patient || d->masked_ps)
		return NULL;
	e = xcalloc(VAULT_VACC_MAX, sizeof(*e));
	if (strcmp(d->mime, "text/xml") != 0 ||
	    vault_vacc_from_cda(d->data, d->len, e, VAULT_VACC_MAX, n, err, sizeof(err)) != 0)
		*n = 0;
	for (size_t i = 0; i < *n; i++)
		if (e[i].who[0] == '\0' &&
		    str_copy(e[i].who, sizeof(e[i].who), d->author[0] ? d->author : f->d->sender_name) < 0)
			e[i].who[0] = '\0';
	if (*n == 0)
		document_entry(f, d, &e[(*n)++]);
	return e;
}

void vault_file_vaccinations(struct filing *f, const struct vault_vacc_entry *e, size_t n)
{
	struct vault_actor who = {f->d->sender, policy_auth_name(f->d->m->sender->auth),
	                          f->d->m->sender->peer_ip};
	char err[256];

	if (n == 0)
		return;
	if (vault_vacc_record(f->store, &who, f->rcpt->canonical, e, n, err, sizeof(err)) != 0)
		log_err("vault.vaccination", "patient=%s error=\"%s\"", f->rcpt->canonical, err);
}
