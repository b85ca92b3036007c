/* vault_inspect.c: each leaf part of a message decoded once and classed (see
 * vault_inspect.h). */
#include "vault/vault_inspect.h"

#include <stdlib.h>
#include <string.h>

#include "lib/str.h"
#include "vault/vault_int.h"

void vault_limits_from_config(const struct mss_config *cfg, struct vault_limits *l)
{
	xdm_limits_default(&l->xdm);
	l->max_documents = cfg->vault_max_documents ? cfg->vault_max_documents : 64;
	l->max_expanded = cfg->max_message_size;
}

bool vault_item_is_archive(const struct vault_item *it)
{
	return it->kind == VITEM_XDM || it->kind == VITEM_ARCHIVE ||
	       (it->kind == VITEM_UNINSPECTED && strcmp(it->mime, "application/zip") == 0);
}

static void not_inspected(struct vault_item *it, const char *why)
{
	it->kind = VITEM_UNINSPECTED;
	str_copy(it->why, sizeof it->why, why);
}

/* Counts n documents; false (the item not inspected) past the limit. */
static bool count(struct vault_inspection *in, const struct vault_limits *lim, struct vault_item *it,
                  size_t n)
{
	char why[160];
	if (n > lim->max_documents || in->documents > lim->max_documents - n) {
		str_format(why, sizeof why, "more than %u documents in the message", lim->max_documents);
		not_inspected(it, why);
		return false;
	}
	in->documents += (unsigned)n;
	return true;
}

/* An archive: opened within what is left of the message's expansion budget; its
 * metadata read whole. */
static void archive(struct vault_inspection *in, const struct vault_limits *lim, struct vault_item *it)
{
	struct xdm_limits xl = lim->xdm;
	char err[160];
	uint64_t left = in->expanded < lim->max_expanded ? lim->max_expanded - in->expanded : 0;
	if (xl.max_total > left)
		xl.max_total = left;
	if (xl.max_entry > xl.max_total)
		xl.max_entry = xl.max_total;
	enum xdm_result r = xdm_open(it->data.data, it->data.len, &xl, &it->xdm, err, sizeof err);
	if (r == XDM_OK) {
		it->md = xcalloc(1, sizeof *it->md);
		r = xdm_read_metadata(it->xdm, it->md, err, sizeof err);
	}
	if (r == XDM_NO_METADATA) {
		it->kind = count(in, lim, it, 1) ? VITEM_ARCHIVE : VITEM_UNINSPECTED;
	} else if (r != XDM_OK) {
		not_inspected(it, err);
	} else if (it->md->truncated) {
		not_inspected(it, "more document entries in the archive than it may hold");
	} else if (count(in, lim, it, it->md->ndocs)) {
		it->kind = VITEM_XDM;
		in->expanded += xdm_archive_total(it->xdm);
		return;
	}
	if (it->kind != VITEM_XDM) { /* nothing will be read from it: release it */
		xdm_close(it->xdm);
		it->xdm = NULL;
		free(it->md);
		it->md = NULL;
	}
}

static void document(struct vault_inspection *in, const struct vault_limits *lim, struct vault_item *it)
{
	char err[160];
	if (strcmp(it->mime, "application/zip") == 0) {
		archive(in, lim, it);
		return;
	}
	if (!count(in, lim, it, 1))
		return;
	it->kind = VITEM_DOCUMENT;
	if (strcmp(it->mime, "text/xml") == 0)
		it->has_cda = cda_parse(it->data.data, it->data.len, &it->cda, err, sizeof err) == 0;
}

static int item(struct vault_inspection *in, const struct vault_limits *lim, size_t part)
{
	const struct msg *m = in->msg;
	const struct msg_part *p = &m->parts[part];
	struct vault_item *it = &in->items[in->nitems++];
	memset(it, 0, sizeof *it);
	it->part = part;
	it->forwarded = msg_part_forwarded(m, part);
	buf_init(&it->data, BUF_UNLIMITED);
	if (msg_part_decode(m, part, &it->data) != 0) {
		not_inspected(it, "a part whose content cannot be decoded");
		return 0;
	}
	vault_sniff(it->data.data, it->data.len, p->type, p->filename, it->mime, sizeof it->mime);
	if (!vault_is_document(p, it->data.data, it->data.len)) {
		it->kind = VITEM_TEXT;
		buf_free(&it->data); /* the message's own text: the copy keeps it as sent */
		buf_init(&it->data, BUF_UNLIMITED);
		return 0;
	}
	document(in, lim, it);
	return 0;
}

int vault_inspect(const struct msg *m, const struct vault_limits *lim, struct vault_inspection *in)
{
	memset(in, 0, sizeof *in);
	in->msg = m;
	in->items = xcalloc(m->nparts ? m->nparts : 1, sizeof *in->items);
	for (size_t i = 0; i < m->nparts; i++)
		if (m->parts[i].kind == MSG_PART_LEAF && item(in, lim, i) != 0)
			return -1;
	return 0;
}

void vault_inspection_free(struct vault_inspection *in)
{
	for (size_t i = 0; i < in->nitems; i++) {
		xdm_close(in->items[i].xdm);
		free(in->items[i].md);
		buf_free(&in->items[i].data);
	}
	free(in->items);
	memset(in, 0, sizeof *in);
}
