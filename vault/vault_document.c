/* vault_document.c: the message that holds one vault document (see vault.h). */
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "vault/vault_int.h"
#include "vault/vault_mime.h"

/* "20261129083000" -> "29/11/2026 08:30"; anything else is shown as given. */
static void human_date(const char *ts, char *out, size_t outlen)
{
	if (strlen(ts) >= 12 && strspn(ts, "0123456789") >= 12)
		str_format(out, outlen, "%.2s/%.2s/%.4s %.2s:%.2s", ts + 6, ts + 4, ts, ts + 8, ts + 10);
	else if (strlen(ts) >= 8 && strspn(ts, "0123456789") >= 8)
		str_format(out, outlen, "%.2s/%.2s/%.4s", ts + 6, ts + 4, ts);
	else
		str_copy(out, outlen, ts);
}

static const char *subject_of(const struct vault_doc *d)
{
	if (d->title[0])
		return d->title;
	if (d->type_label[0])
		return d->type_label;
	if (d->filename[0])
		return d->filename;
	return vault_class_name(d->cls);
}

static int describe(struct buf *t, const struct vault_doc *d, const char *source_message_id)
{
	char when[64];
	int rc = buf_printf(t, "Document classé dans votre coffre-fort : %s\n", vault_class_name(d->cls));
	if (rc == 0 && d->author[0])
		rc = buf_printf(t, "Auteur : %s\n", d->author);
	if (rc == 0 && (d->type_label[0] || d->type_code[0]))
		rc = buf_printf(t, "Type : %s%s%s%s\n", d->type_label, d->type_label[0] ? " " : "",
		                d->type_code[0] ? "LOINC " : "", d->type_code);
	if (rc == 0 && d->created[0]) {
		human_date(d->created, when, sizeof when);
		rc = buf_printf(t, "Date du document : %s\n", when);
	}
	if (rc == 0 && source_message_id[0])
		rc = buf_printf(t, "Message d'origine : <%s>\n", source_message_id);
	if (rc == 0)
		rc = buf_append_str(t, "Le fichier d'origine est joint, à l'identique.\n");
	return rc;
}

int vault_build_document(struct buf *out, const struct vault_doc *d, const char *from, const char *patient,
                         const char *source_message_id, const char *service_domain)
{
	char boundary[33], id[33], msgid[128], src[300];
	struct buf text;
	int rc = 0;

	mime_random_token(boundary);
	mime_random_token(id);
	str_format(msgid, sizeof msgid, "<vault.%s@%s>", id, service_domain);
	str_format(src, sizeof src, "<%s>", source_message_id);
	rc |= mime_header(out, "From", from);
	rc |= mime_header(out, "To", patient);
	rc |= mime_date_header(out);
	rc |= mime_header(out, "Subject", subject_of(d));
	rc |= mime_header(out, "Message-ID", msgid);
	rc |= mime_header(out, "X-MSS-Document-Class", vault_class_name(d->cls));
	rc |= mime_header(out, "X-MSS-Document-Type", d->type_code[0] ? d->type_code : d->mime);
	rc |= mime_header(out, "X-MSS-Author", d->author[0] ? d->author : from);
	if (source_message_id[0])
		rc |= mime_header(out, "X-MSS-Source-Message-ID", src);
	if (d->created[0])
		rc |= mime_header(out, "X-MSS-Document-Date", d->created);
	rc |= buf_printf(out,
	                 "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"%s\"\r\n\r\n",
	                 boundary);
	buf_init(&text, 64 * 1024);
	rc |= describe(&text, d, source_message_id);
	rc |= mime_text_part(out, boundary, text.data);
	buf_free(&text);
	rc |= mime_attachment(out, boundary, d->mime, d->filename, d->data, d->len);
	rc |= buf_printf(out, "--%s--\r\n", boundary);
	return rc ? -1 : 0;
}
