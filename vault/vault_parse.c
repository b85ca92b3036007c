/* vault_parse.c: the incoming message's documents, found with libetpan's MIME parser,
 * and what their bytes really are. */
#include <libetpan/libetpan.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "vault/vault_int.h"

#define VAULT_MIME_DEPTH 16

/* Decodes RFC 2047 encoded words to UTF-8 (undecodable text is kept as it came). */
static void decode_words(const char *in, char *out, size_t outlen)
{
	size_t idx = 0;
	char *res = NULL;
	if (strstr(in, "=?") &&
	    mailmime_encoded_phrase_parse("iso-8859-1", in, strlen(in), &idx, "utf-8", &res) ==
	        MAILIMF_NO_ERROR &&
	    res) {
		str_copy(out, outlen, res);
		free(res);
		return;
	}
	free(res);
	str_copy(out, outlen, in);
}

static void header_fields(struct mailimf_fields *f, struct vault_parsed *out)
{
	if (!f)
		return;
	for (clistiter *it = clist_begin(f->fld_list); it; it = clist_next(it)) {
		struct mailimf_field *fld = clist_content(it);
		if (fld->fld_type == MAILIMF_FIELD_SUBJECT && fld->fld_data.fld_subject->sbj_value)
			decode_words(fld->fld_data.fld_subject->sbj_value, out->subject, sizeof out->subject);
		else if (fld->fld_type == MAILIMF_FIELD_MESSAGE_ID && fld->fld_data.fld_message_id->mid_value)
			str_copy(out->message_id, sizeof out->message_id,
			         fld->fld_data.fld_message_id->mid_value);
		else if (fld->fld_type == MAILIMF_FIELD_OPTIONAL_FIELD) {
			struct mailimf_optional_field *o = fld->fld_data.fld_optional_field;
			if (str_ieq(o->fld_name, "X-MSS-INS"))
				str_copy(out->x_mss_ins, sizeof out->x_mss_ins, o->fld_value);
			else if (str_ieq(o->fld_name, "X-MSS-CODECDA"))
				str_copy(out->x_mss_codecda, sizeof out->x_mss_codecda, o->fld_value);
		}
	}
	str_trim(out->x_mss_ins);
	str_trim(out->x_mss_codecda);
}

static const char *discrete_name(const struct mailmime_discrete_type *d)
{
	switch (d->dt_type) {
	case MAILMIME_DISCRETE_TYPE_TEXT:
		return "text";
	case MAILMIME_DISCRETE_TYPE_IMAGE:
		return "image";
	case MAILMIME_DISCRETE_TYPE_AUDIO:
		return "audio";
	case MAILMIME_DISCRETE_TYPE_VIDEO:
		return "video";
	case MAILMIME_DISCRETE_TYPE_APPLICATION:
		return "application";
	default:
		return d->dt_extension ? d->dt_extension : "application";
	}
}

static void content_type(const struct mailmime_content *ct, char *out, size_t outlen)
{
	const char *type = "text";
	if (!ct || !ct->ct_type || !ct->ct_subtype) {
		str_copy(out, outlen, "text/plain");
		return;
	}
	if (ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE)
		type = discrete_name(ct->ct_type->tp_data.tp_discrete_type);
	else if (ct->ct_type->tp_data.tp_composite_type->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE)
		type = "message";
	else
		type = "multipart";
	str_format(out, outlen, "%s/%s", type, ct->ct_subtype);
	str_lower(out);
}

static int decode_body(struct mailmime *mm, const struct mailmime_single_fields *sf, struct vault_part *p)
{
	struct mailmime_data *body = mm->mm_data.mm_single;
	size_t idx = 0, rlen = 0;
	char *res = NULL;
	if (!body || body->dt_type != MAILMIME_DATA_TEXT)
		return -1;
	int enc =
	    (body->dt_encoded && sf->fld_encoding) ? sf->fld_encoding->enc_type : MAILMIME_MECHANISM_8BIT;
	if (mailmime_part_parse(body->dt_data.dt_text.dt_data, body->dt_data.dt_text.dt_length, &idx, enc,
	                        &res, &rlen) != MAILIMF_NO_ERROR)
		return -1;
	p->data = xmalloc(rlen + 1);
	memcpy(p->data, res, rlen);
	p->data[rlen] = '\0';
	p->len = rlen;
	mailmime_decoded_part_free(res);
	return 0;
}

/* The inline text or HTML body is the message, not a document; anything attached,
 * named, or of a document type is. */
static bool is_document(const char *type, const struct mailmime_single_fields *sf, const char *filename)
{
	bool attached = sf->fld_disposition && sf->fld_disposition->dsp_type &&
	                sf->fld_disposition->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_ATTACHMENT;
	if (str_iprefix(type, "multipart/") || str_iprefix(type, "message/"))
		return false;
	if (attached || filename[0])
		return true;
	return !str_ieq(type, "text/plain") && !str_ieq(type, "text/html");
}

static const char *magic_type(const char *d, size_t len);

static void single_part(struct mailmime *mm, struct vault_parsed *out, int depth)
{
	struct mailmime_single_fields sf;
	struct vault_part p;

	memset(&p, 0, sizeof p);
	mailmime_single_fields_init(&sf, mm->mm_mime_fields, mm->mm_content_type);
	content_type(mm->mm_content_type, p.declared_mime, sizeof p.declared_mime);
	p.raw = mm->mm_mime_start;
	p.rawlen = mm->mm_length;
	p.whole_body = depth == 1;
	const char *fn = sf.fld_disposition_filename ? sf.fld_disposition_filename : sf.fld_content_name;
	if (fn)
		decode_words(fn, p.filename, sizeof p.filename);
	bool doc = is_document(p.declared_mime, &sf, p.filename);
	if (out->nparts == VAULT_MAX_PARTS) {
		out->parts_truncated = true;
		return;
	}
	if (decode_body(mm, &sf, &p) != 0)
		return;
	/* A body part whose bytes are a document (a PDF sent as text/plain) is one. */
	if (doc || magic_type(p.data, p.len))
		out->parts[out->nparts++] = p;
	else
		free(p.data);
}

static void walk(struct mailmime *mm, struct vault_parsed *out, int depth)
{
	if (!mm || depth > VAULT_MIME_DEPTH)
		return;
	switch (mm->mm_type) {
	case MAILMIME_SINGLE:
		single_part(mm, out, depth);
		break;
	case MAILMIME_MULTIPLE:
		for (clistiter *it = clist_begin(mm->mm_data.mm_multipart.mm_mp_list); it;
		     it = clist_next(it))
			walk(clist_content(it), out, depth + 1);
		break;
	case MAILMIME_MESSAGE:
		/* The message itself; a forwarded message inside is not this sender's
		 * document for this patient, and stays only in the INBOX copy. */
		if (depth == 0) {
			header_fields(mm->mm_data.mm_message.mm_fields, out);
			walk(mm->mm_data.mm_message.mm_msg_mime, out, depth + 1);
		}
		break;
	}
}

int vault_parse_message(const char *data, size_t len, struct vault_parsed *out, char *err, size_t errlen)
{
	struct mailmime *mm = NULL;
	size_t idx = 0;

	memset(out, 0, sizeof *out);
	if (mailmime_parse(data, len, &idx, &mm) != MAILIMF_NO_ERROR || !mm) {
		str_copy(err, errlen, "the message's MIME structure cannot be parsed");
		return -1;
	}
	walk(mm, out, 0);
	mailmime_free(mm);
	return 0;
}

void vault_parsed_free(struct vault_parsed *p)
{
	for (size_t i = 0; i < p->nparts; i++)
		free(p->parts[i].data);
	p->nparts = 0;
}

static bool has_prefix(const char *d, size_t len, const char *magic, size_t mlen)
{
	return len >= mlen && memcmp(d, magic, mlen) == 0;
}

/* A CDA document: XML whose first element is ClinicalDocument. */
static bool looks_cda(const char *d, size_t len)
{
	size_t n = len < 4096 ? len : 4096;
	char head[4097];
	memcpy(head, d, n);
	head[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (head[i] == '\0')
			head[i] = ' ';
	return strstr(head, "<ClinicalDocument") || strstr(head, ":ClinicalDocument");
}

static const char *magic_type(const char *d, size_t len)
{
	if (has_prefix(d, len, "%PDF-", 5))
		return "application/pdf";
	if (has_prefix(d, len, "PK\3\4", 4))
		return "application/zip";
	if (has_prefix(d, len, "\xff\xd8\xff", 3))
		return "image/jpeg";
	if (has_prefix(d, len, "\x89PNG\r\n\x1a\n", 8))
		return "image/png";
	if (has_prefix(d, len, "GIF87a", 6) || has_prefix(d, len, "GIF89a", 6))
		return "image/gif";
	if (has_prefix(d, len, "II*\0", 4) || has_prefix(d, len, "MM\0*", 4))
		return "image/tiff";
	if (len > 132 && memcmp(d + 128, "DICM", 4) == 0)
		return "application/dicom";
	if (looks_cda(d, len))
		return "text/xml";
	return NULL;
}

void vault_sniff(const char *data, size_t len, const char *declared, const char *filename, char *out,
                 size_t outlen)
{
	const char *m = magic_type(data, len);
	if (m) {
		str_copy(out, outlen, m);
		return;
	}
	/* Declared as a known binary format the bytes are not: do not vouch for it. */
	if (str_ieq(declared, "application/pdf") || str_ieq(declared, "application/zip") ||
	    str_iprefix(declared, "image/")) {
		str_copy(out, outlen, "application/octet-stream");
		return;
	}
	if (declared && declared[0] && !str_ieq(declared, "application/octet-stream")) {
		str_copy(out, outlen, declared);
		return;
	}
	size_t fl = filename ? strlen(filename) : 0;
	if (fl > 4 && str_ieq(filename + fl - 4, ".txt") && str_is_utf8(data, len))
		str_copy(out, outlen, "text/plain");
	else if (fl > 4 && str_ieq(filename + fl - 4, ".xml"))
		str_copy(out, outlen, "text/xml");
	else
		str_copy(out, outlen, "application/octet-stream");
}
