/* vault_document.c: the message that holds one vault document (see vault.h).
 *
 * Its Date is the document's own date when it has one (XDS creationTime, CDA
 * effectiveTime), in the configured zone; its subject the document's title. A short
 * French text says what it is, who the metadata name as its author and, beside it, who
 * actually sent it (the authenticated sender: metadata can name anyone). A CDA's
 * narrative follows as HTML; then the original file, byte for byte, and its readable
 * copies (the PDF sent beside a CDA). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/localtime.h"
#include "lib/str.h"
#include "vault/vault_cda.h"
#include "vault/vault_copy.h"
#include "vault/vault_int.h"
#include "vault/vault_mime.h"

int64_t vault_hl7_time(const char *ts)
{
	int y, mo, d, h = 0, mi = 0, s = 0;
	size_t digits = strspn(ts, "0123456789");
	if (digits < 8 || sscanf(ts, "%4d%2d%2d", &y, &mo, &d) != 3)
		return 0;
	if (digits >= 12 && sscanf(ts + 8, "%2d%2d", &h, &mi) != 2)
		return 0;
	if (digits >= 14 && sscanf(ts + 12, "%2d", &s) != 1)
		return 0;
	if (y < 1900 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return 0;
	struct tm tm = {
	    .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
	int64_t t = (int64_t)timegm(&tm);
	const char *zone = ts + digits;
	if (*zone == '.') /* fractions of a second */
		zone += 1 + strspn(zone + 1, "0123456789");
	int zh, zm;
	if ((zone[0] == '+' || zone[0] == '-') && strlen(zone) == 5 && strspn(zone + 1, "0123456789") == 4 &&
	    sscanf(zone + 1, "%2d%2d", &zh, &zm) == 2)
		t -= (zone[0] == '-' ? -1 : 1) * (int64_t)(zh * 3600 + zm * 60);
	return t > 0 ? t : 0;
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

static int describe(struct buf *t, const struct vault_build *b)
{
	const struct vault_doc *d = b->doc;
	char when[64];
	int rc = buf_printf(t, "Document classé dans votre coffre-fort : %s\n", vault_class_name(d->cls));
	if (rc == 0 && d->author[0])
		rc = buf_printf(t, "Auteur (selon le document) : %s\n", d->author);
	if (rc == 0)
		rc = buf_printf(t, "Envoyé par : %s%s%s%s\n", b->sender_name,
		                strcmp(b->sender_name, b->from) ? " (" : "",
		                strcmp(b->sender_name, b->from) ? b->from : "",
		                strcmp(b->sender_name, b->from) ? ")" : "");
	if (rc == 0 && (d->type_label[0] || d->type_code[0]))
		rc = buf_printf(t, "Type : %s%s%s%s\n", d->type_label, d->type_label[0] ? " " : "",
		                d->type_code[0] ? "LOINC " : "", d->type_code);
	if (rc == 0 && d->created_time) {
		mss_date_french(b->timezone, d->created_time, false, when, sizeof when);
		rc = buf_printf(t, "Date du document : %s\n", when);
	}
	if (rc == 0 && b->replaced)
		rc = buf_printf(t, "Cette version remplace celle reçue %s, conservée dans ce dossier.\n",
		                b->replaced);
	if (rc == 0 && b->source_message_id[0])
		rc = buf_printf(t, "Message d'origine : <%s>\n", b->source_message_id);
	if (rc == 0)
		rc = buf_append_str(t, b->nrenditions
		                           ? "Le fichier d'origine est joint, à l'identique, avec sa copie "
		                             "lisible.\n"
		                           : "Le fichier d'origine est joint, à l'identique.\n");
	return rc;
}

static int headers(struct buf *out, const struct vault_build *b)
{
	const struct vault_doc *d = b->doc;
	char id[33], msgid[CONFIG_STR_MAX + 48], src[300], date[64], sender[600];
	int rc = 0;
	mime_random_token(id);
	str_assert(str_format(msgid, sizeof msgid, "<vault.%s@%s>", id, b->service_domain),
	           "32 bytes and a configured domain (CONFIG_STR_MAX)");
	if (str_format(src, sizeof src, "<%s>", b->source_message_id) < 0 ||
	    (strcmp(b->sender_name, b->from) != 0
	         ? str_format(sender, sizeof sender, "%s <%s>", b->sender_name, b->from)
	         : str_copy(sender, sizeof sender, b->from)) < 0)
		return -1; /* a Message-ID or a sender longer than a header field takes */
	mss_date_rfc5322(b->timezone, d->created_time ? d->created_time : (int64_t)time(NULL), date,
	                 sizeof date);
	rc |= mime_header(out, "From", b->from);
	rc |= mime_header(out, "To", b->patient);
	rc |= mime_header(out, "Date", date);
	rc |= mime_header(out, "Subject", subject_of(d));
	rc |= mime_header(out, "Message-ID", msgid);
	rc |= mime_header(out, "X-MSS-Document-Class", vault_class_name(d->cls));
	rc |= mime_header(out, "X-MSS-Document-Type", d->type_code[0] ? d->type_code : d->mime);
	rc |= mime_header(out, "X-MSS-Author", d->author[0] ? d->author : b->sender_name);
	rc |= mime_header(out, "X-MSS-Sender", sender);
	if (b->source_message_id[0])
		rc |= mime_header(out, "X-MSS-Source-Message-ID", src);
	if (d->created[0])
		rc |= mime_header(out, "X-MSS-Document-Date", d->created);
	return rc;
}

/* A CDA's narrative, as an inline HTML part (nothing when it has none). */
static int html_part(struct buf *out, const char *boundary, const struct vault_doc *d)
{
	struct buf h;
	char err[160];
	if (strcmp(d->mime, "text/xml") != 0)
		return 0;
	buf_init(&h, BUF_UNLIMITED);
	int rc = 0;
	if (cda_render_html(d->data, d->len, &h, err, sizeof err) == 0) {
		rc |= buf_printf(out,
		                 "--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
		                 "Content-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		                 boundary);
		rc |= mime_base64(out, h.data, h.len);
	}
	buf_free(&h);
	return rc;
}

int vault_build_document(struct buf *out, const struct vault_build *b)
{
	const struct vault_doc *d = b->doc;
	char boundary[33];
	struct buf text;
	int rc = headers(out, b);
	mime_random_token(boundary);
	rc |= buf_printf(out,
	                 "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n\tboundary=\"%s\"\r\n\r\n",
	                 boundary);
	buf_init(&text, 64 * 1024);
	rc |= describe(&text, b);
	rc |= mime_text_part(out, boundary, text.data);
	buf_free(&text);
	rc |= html_part(out, boundary, d);
	rc |= mime_attachment(out, boundary, d->mime, d->filename, d->data, d->len);
	for (size_t i = 0; i < b->nrenditions; i++) {
		const struct vault_doc *r = b->renditions[i];
		rc |= mime_attachment(out, boundary, r->mime, r->filename, r->data, r->len);
	}
	rc |= buf_printf(out, "--%s--\r\n", boundary);
	return rc ? -1 : 0;
}
