/* vault_file_settle.c: the documents sent beside an IHE XDM archive are the readable
 * copies of its documents (REFERENCE.md: a PDF/A copy of each CDA travels beside the
 * XDM): each becomes an attachment of the document it renders, not a second vault
 * entry, and follows that document's class, visibility and identity. When the
 * archive's documents differ in visibility or identity, the copies cannot be told
 * apart safely: they all go with the most restricted one (fail closed). Beside an
 * archive that was not inspected, they are refused with it. */
#include <stdlib.h>
#include <string.h>

#include "lib/str.h"
#include "vault/vault_filing.h"

/* How restricted a document is: refused > invisible to the patient > masked. */
static int restriction(const struct vault_doc *d)
{
	return d->error_code ? 3 : d->invisible_patient ? 2 : d->masked_ps ? 1 : 0;
}

/* -1 when every archive document is as restricted as the others (pair in order), else
 * the index of the first most restricted one (every copy goes there). */
static int restricted_target(const struct filing *f)
{
	int best = -1, level = -1;
	bool mixed = false;
	for (size_t i = 0; i < f->ndocs; i++) {
		if (!f->docs[i].from_xdm)
			continue;
		int r = restriction(&f->docs[i]);
		if (level >= 0 && r != level)
			mixed = true;
		if (r > level) {
			level = r;
			best = (int)i;
		}
	}
	return mixed ? best : -1;
}

static void follow(struct filing *f, struct vault_doc *d, int t)
{
	struct vault_doc *target = &f->docs[t];
	d->cls = target->cls;
	d->masked_ps |= target->masked_ps;
	d->invisible_patient |= target->invisible_patient;
	if (target->error_code >= 902 && target->error_code <= 905)
		vault_refuse_doc(d, target->error_code,
		                 "sent with a document whose patient identity was refused");
	if (d->has_own_identity || target->nrenditions == VAULT_MAX_RENDITIONS)
		return; /* a document of its own, with the archive's restrictions */
	d->rendition_of = t;
	target->renditions[target->nrenditions++] = (int)(d - f->docs);
}

static bool uninspected_archive(const struct filing *f)
{
	const struct vault_inspection *in = &f->d->insp;
	for (size_t i = 0; i < in->nitems; i++)
		if (!in->items[i].forwarded && in->items[i].kind == VITEM_UNINSPECTED &&
		    vault_item_is_archive(&in->items[i]))
			return true;
	return false;
}

static void on_their_own(struct filing *f)
{
	const struct msg_header *h = &f->d->msg.h;
	bool refuse = uninspected_archive(f);
	for (size_t i = 0; i < f->ndocs; i++) {
		struct vault_doc *d = &f->docs[i];
		if (d->from_xdm || d->item->kind == VITEM_UNINSPECTED)
			continue;
		if (refuse)
			vault_refuse_doc(d, 906, "sent with an archive that could not be inspected");
		if (!d->cls_known && vault_classify_code_list(h->x_mss_codecda, &d->cls) != 0)
			d->cls = vault_classify_guess(d->mime, d->filename, h->subject);
	}
}

void vault_settle_renditions(struct filing *f)
{
	int *xdm = xcalloc(f->ndocs ? f->ndocs : 1, sizeof *xdm);
	size_t nx = 0, j = 0;
	for (size_t i = 0; i < f->ndocs; i++)
		if (f->docs[i].from_xdm)
			xdm[nx++] = (int)i;
	if (nx == 0) {
		free(xdm);
		on_their_own(f);
		return;
	}
	int only = restricted_target(f);
	for (size_t i = 0; i < f->ndocs; i++) {
		struct vault_doc *d = &f->docs[i];
		if (d->from_xdm || d->item->kind == VITEM_UNINSPECTED)
			continue;
		follow(f, d, only >= 0 ? only : xdm[j < nx ? j : nx - 1]);
		j++;
	}
	free(xdm);
}
