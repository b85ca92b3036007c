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
	str_error(it->why, sizeof it->why, "%s", why); /* words for the report */
}

/* Counts n documents; false (the item not inspected) past the limit. */
static bool count(struct vault_inspection *in, const struct vault_limits *lim, struct vault_item *it,
                  size_t n)
{
	char why[160];
	if (n > lim->max_documents || in->documents > lim->max_documents - n) {
		str_error(why, sizeof why, "more than %u documents in the message", lim->max_documents);
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
	if (r == XDM_OK)
		r = xdm_check_opaque(it->xdm, err, sizeof err);
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

/* Types that wrap other content the server cannot read: S/MIME enveloped or opaque
 * signed data (RFC 8551 3.2), OpenPGP (RFC 3156), TNEF. The patient's client unwraps
 * them, so what they hold was never inspected. */
static bool wrapped_type(const char *type)
{
	static const char *const wrapped[] = {"application/pkcs7-mime", "application/x-pkcs7-mime",
	                                      "application/pgp-encrypted", "application/ms-tnef",
	                                      "application/vnd.ms-tnef"};
	for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++)
		if (str_ieq(type, wrapped[i]))
			return true;
	return false;
}

static void document(struct vault_inspection *in, const struct vault_limits *lim, struct vault_item *it)
{
	char err[160];
	if (wrapped_type(in->msg->parts[it->part].type) || wrapped_type(it->mime)) {
		not_inspected(it,
		              "an encrypted or wrapped part (S/MIME, OpenPGP, TNEF) the server cannot read");
		return;
	}
	if (strcmp(it->mime, "application/pdf") == 0 && vault_pdf_embeds_file(it->data.data, it->data.len)) {
		not_inspected(it, "a PDF that carries files of its own");
		return;
	}
	if (strcmp(it->mime, "application/zip") == 0) {
		archive(in, lim, it);
		return;
	}
	if (xdm_is_container(it->data.data, it->data.len, in->msg->parts[it->part].filename)) {
		not_inspected(it, "an archive or a message the server does not open");
		return;
	}
	if (!count(in, lim, it, 1))
		return;
	it->kind = VITEM_DOCUMENT;
	if (strcmp(it->mime, "text/xml") == 0)
		it->has_cda = cda_parse(it->data.data, it->data.len, &it->cda, err, sizeof err) == 0;
}

/* message/ types that report on a message rather than carry one (RFC 3464, 8098,
 * 6533, 5965): read as text. */
static bool report_type(const char *type)
{
	static const char *const reports[] = {
	    "message/delivery-status", "message/disposition-notification", "message/global-delivery-status",
	    "message/global-disposition-notification", "message/feedback-report"};
	for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
		if (str_ieq(type, reports[i]))
			return true;
	return false;
}

/* Why a part cannot be inspected whatever its content, NULL when it can: a message or
 * a multipart that msg/ did not open (message/global, or a transfer encoding RFC 2045
 * 6.4 forbids on them, which mail clients undo all the same), or a transfer encoding
 * we do not decode (x-uuencode: Thunderbird decodes it). */
static const char *opaque_part(const struct msg_part *p)
{
	if (p->kind != MSG_PART_LEAF && p->encoding != MSG_ENC_7BIT && p->encoding != MSG_ENC_8BIT &&
	    p->encoding != MSG_ENC_BINARY)
		return "an encoded message or multipart the server does not open";
	if (p->kind != MSG_PART_LEAF)
		return str_ieq(p->type, "multipart/encrypted") ? "an encrypted message the server cannot read"
		                                               : NULL;
	if (p->encoding == MSG_ENC_OTHER)
		return "a transfer encoding the server does not decode";
	if (str_iprefix(p->type, "multipart/") || (str_iprefix(p->type, "message/") && !report_type(p->type)))
		return "a message or multipart the server does not open";
	return NULL;
}

static struct vault_item *new_item(struct vault_inspection *in, size_t part)
{
	struct vault_item *it = &in->items[in->nitems++];
	memset(it, 0, sizeof *it);
	it->part = part;
	it->forwarded = msg_part_forwarded(in->msg, part);
	buf_init_wiped(&it->data, BUF_UNLIMITED);
	return it;
}

/* A part that is not opened: not inspected, its bytes as sent kept for the report. */
static void opaque(struct vault_inspection *in, size_t part, const char *why)
{
	const struct msg_part *p = &in->msg->parts[part];
	struct vault_item *it = new_item(in, part);
	str_assert(str_copy(it->mime, sizeof it->mime, p->type),
	           "msg_part.type and vault_item.mime: 128 bytes");
	if (p->body_len > 0)
		buf_put(&it->data, in->msg->data + p->body, p->body_len);
	not_inspected(it, why);
}

static int item(struct vault_inspection *in, const struct vault_limits *lim, size_t part)
{
	const struct msg *m = in->msg;
	const struct msg_part *p = &m->parts[part];
	struct vault_item *it = new_item(in, part);
	if (msg_part_decode(m, part, &it->data) != 0) {
		not_inspected(it, "a part whose content cannot be decoded");
		return 0;
	}
	vault_sniff(it->data.data, it->data.len, p->type, p->filename, it->mime, sizeof it->mime);
	if (!vault_is_document(p, it->data.data, it->data.len)) {
		if (vault_text_embeds_file(it->data.data, it->data.len)) {
			not_inspected(it, "a file encoded inside the text (uuencode, yEnc, BinHex, OpenPGP)");
			return 0;
		}
		it->kind = VITEM_TEXT;
		buf_free(&it->data); /* the message's own text: the copy keeps it as sent */
		buf_init_wiped(&it->data, BUF_UNLIMITED);
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
	for (size_t i = 1; i < m->nparts;) {
		const char *why = opaque_part(&m->parts[i]);
		if (why) {
			opaque(in, i, why); /* and nothing inside it is looked at */
			i = msg_part_next_sibling(m, i);
			continue;
		}
		if (m->parts[i].kind == MSG_PART_LEAF && item(in, lim, i) != 0)
			return -1;
		i++;
	}
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
