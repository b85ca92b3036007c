/* store_search.c: SEARCH HEADER/BODY/TEXT on the decoded message.
 *
 * Headers are decoded with libetpan (encoded words to UTF-8), text parts with
 * libetpan's transfer decoding (QP, base64) and charset conversion, so a search for
 * "résultats" finds "=?utf-8?q?R=C3=A9sultats?=". Attachments that are not text are
 * not searched. */
#include "store/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "lib/str.h"
#include "store/store_int.h"

#define SEARCH_DEPTH_MAX 40

static bool ci_find(const char *hay, size_t hn, const char *needle)
{
	size_t nn = strlen(needle);
	if (nn == 0)
		return true;
	for (size_t i = 0; i + nn <= hn; i++) {
		size_t k = 0;
		while (k < nn && tolower((unsigned char)hay[i + k]) == tolower((unsigned char)needle[k]))
			k++;
		if (k == nn)
			return true;
	}
	return false;
}

/* Decoded value of one field (encoded words to UTF-8); falls back to the raw text. */
static bool value_matches(const char *value, const char *needle)
{
	char *decoded = NULL;
	size_t idx = 0;
	bool hit;
	if (mailmime_encoded_phrase_parse("utf-8", value, strlen(value), &idx, "utf-8", &decoded) ==
	        MAILIMF_NO_ERROR &&
	    decoded != NULL) {
		hit = ci_find(decoded, strlen(decoded), needle);
		free(decoded);
	} else {
		hit = ci_find(value, strlen(value), needle);
	}
	return hit;
}

/* field "" = any field (also matches on field names for TEXT). */
static bool header_matches(const char *data, size_t len, const char *field, const char *needle)
{
	size_t hend = store_header_end(data, len), idx = 0;
	struct mailimf_fields *raw = NULL;
	bool hit = false;
	if (mailimf_optional_fields_parse(data, hend, &idx, &raw) != MAILIMF_NO_ERROR || raw == NULL)
		return false;
	for (clistiter *c = clist_begin(raw->fld_list); c != NULL && !hit; c = clist_next(c)) {
		struct mailimf_field *f = clist_content(c);
		if (f->fld_type != MAILIMF_FIELD_OPTIONAL_FIELD)
			continue;
		struct mailimf_optional_field *o = f->fld_data.fld_optional_field;
		if (o->fld_name == NULL || o->fld_value == NULL)
			continue;
		if (field[0] != '\0' && !str_ieq(o->fld_name, field))
			continue;
		hit = value_matches(o->fld_value, needle) ||
		      (field[0] == '\0' && ci_find(o->fld_name, strlen(o->fld_name), needle));
	}
	mailimf_fields_free(raw);
	return hit;
}

static int part_encoding(const struct mailmime *m)
{
	if (m->mm_mime_fields == NULL || m->mm_mime_fields->fld_list == NULL)
		return MAILMIME_MECHANISM_8BIT;
	for (clistiter *c = clist_begin(m->mm_mime_fields->fld_list); c != NULL; c = clist_next(c)) {
		struct mailmime_field *f = clist_content(c);
		if (f->fld_type == MAILMIME_FIELD_TRANSFER_ENCODING && f->fld_data.fld_encoding != NULL)
			return f->fld_data.fld_encoding->enc_type;
	}
	return MAILMIME_MECHANISM_8BIT;
}

static bool is_text(const struct mailmime *m)
{
	const struct mailmime_content *ct = m->mm_content_type;
	if (ct == NULL || ct->ct_type == NULL)
		return true;
	return ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE &&
	       ct->ct_type->tp_data.tp_discrete_type != NULL &&
	       ct->ct_type->tp_data.tp_discrete_type->dt_type == MAILMIME_DISCRETE_TYPE_TEXT;
}

static bool text_part_matches(const struct mailmime *m, const char *needle)
{
	const struct mailmime_data *d = m->mm_body;
	if (d == NULL || d->dt_type != MAILMIME_DATA_TEXT || d->dt_data.dt_text.dt_data == NULL)
		return false;
	char *dec = NULL, *conv = NULL;
	size_t declen = 0, convlen = 0, idx = 0;
	if (mailmime_part_parse(d->dt_data.dt_text.dt_data, d->dt_data.dt_text.dt_length, &idx,
	                        part_encoding(m), &dec, &declen) != MAILIMF_NO_ERROR)
		return ci_find(d->dt_data.dt_text.dt_data, d->dt_data.dt_text.dt_length, needle);
	const char *charset =
	    m->mm_content_type != NULL ? mailmime_content_charset_get(m->mm_content_type) : NULL;
	bool hit;
	if (charset != NULL && !str_ieq(charset, "utf-8") &&
	    charconv_buffer("utf-8", charset, dec, declen, &conv, &convlen) == MAIL_CHARCONV_NO_ERROR) {
		hit = ci_find(conv, convlen, needle);
		charconv_buffer_free(conv);
	} else {
		hit = ci_find(dec, declen, needle);
	}
	mmap_string_unref(dec);
	return hit;
}

static bool body_matches(const struct mailmime *m, const char *needle, int depth)
{
	if (m == NULL || depth > SEARCH_DEPTH_MAX)
		return false;
	if (m->mm_type == MAILMIME_MESSAGE)
		return body_matches(m->mm_data.mm_message.mm_msg_mime, needle, depth + 1);
	if (m->mm_type == MAILMIME_MULTIPLE) {
		clist *l = m->mm_data.mm_multipart.mm_mp_list;
		for (clistiter *c = l != NULL ? clist_begin(l) : NULL; c != NULL; c = clist_next(c)) {
			if (body_matches(clist_content(c), needle, depth + 1))
				return true;
		}
		return false;
	}
	return is_text(m) && text_part_matches(m, needle);
}

int store_search_text(struct store *st, int64_t mailbox_id, uint32_t uid, enum store_text_where where,
                      const char *field, const char *needle, char *err, size_t errlen)
{
	int rc = store_message_load(st, mailbox_id, uid, err, errlen);
	if (rc <= 0)
		return rc;
	const char *data = st->cache.data.data;
	size_t len = st->cache.data.len;
	if (needle == NULL)
		needle = "";
	if (where == STORE_TEXT_HEADER)
		return header_matches(data, len, field != NULL ? field : "", needle) ? 1 : 0;
	if (where == STORE_TEXT_TEXT && header_matches(data, len, "", needle))
		return 1;
	if (st->cache.mime == NULL) {
		size_t hend = store_header_end(data, len);
		return ci_find(data + hend, len - hend, needle) ? 1 : 0;
	}
	return body_matches(st->cache.mime, needle, 0) ? 1 : 0;
}
