/* msg_parse.c: one libetpan pass over a message into struct msg (see msg.h). */
#include "msg/msg.h"

#include <libetpan/libetpan.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/str.h"
#include "msg/msg_int.h"

#define MSG_DECODE_SLACK 4 /* bytes libetpan's decoders may read past a part's end */

void msg_limits_default(struct msg_limits *l)
{
	l->max_parts = 1024;
	l->max_depth = 16;
}

void msg_limits_from_config(const struct mss_config *cfg, struct msg_limits *l)
{
	msg_limits_default(l);
	if (cfg->max_mime_parts)
		l->max_parts = cfg->max_mime_parts;
	if (cfg->max_mime_depth)
		l->max_depth = cfg->max_mime_depth;
}

struct walker {
	struct msg *m;
	const struct msg_limits *lim;
	size_t cap;
};

/* Offset of [p, p + n) inside the message; false when it lies outside (never trusted). */
static bool range_in(const struct msg *m, const char *p, size_t n, size_t *off)
{
	if (p == NULL || p < m->data || (size_t)(p - m->data) > m->len || n > m->len - (size_t)(p - m->data))
		return false;
	*off = (size_t)(p - m->data);
	return true;
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

/* "type/subtype" lowercase; text/plain when absent (RFC 2045 5.2). A type that is not
 * two RFC 2045 tokens is reported as application/octet-stream: it is copied into
 * headers later, so it must never carry a line break or a parameter. */
static void content_type(const struct mailmime_content *ct, char *out, size_t outlen)
{
	const char *type;
	if (!ct || !ct->ct_type || !ct->ct_subtype) {
		str_assert(str_copy(out, outlen, "text/plain"), "out is msg_part.type, 128 bytes");
		return;
	}
	if (ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE)
		type = discrete_name(ct->ct_type->tp_data.tp_discrete_type);
	else if (ct->ct_type->tp_data.tp_composite_type->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE)
		type = "message";
	else
		type = "multipart";
	if (str_format(out, outlen, "%s/%s", type, ct->ct_subtype) != 0 || !msg_mime_type_valid(out))
		str_assert(str_copy(out, outlen, "application/octet-stream"),
		           "out is msg_part.type, 128 bytes");
	str_lower(out);
}

static enum msg_encoding encoding_of(const struct mailmime_single_fields *sf,
                                     const struct mailmime_data *body)
{
	if (!sf->fld_encoding || (body && !body->dt_encoded))
		return MSG_ENC_7BIT;
	switch (sf->fld_encoding->enc_type) {
	case MAILMIME_MECHANISM_7BIT:
		return MSG_ENC_7BIT;
	case MAILMIME_MECHANISM_8BIT:
		return MSG_ENC_8BIT;
	case MAILMIME_MECHANISM_BINARY:
		return MSG_ENC_BINARY;
	case MAILMIME_MECHANISM_QUOTED_PRINTABLE:
		return MSG_ENC_QP;
	case MAILMIME_MECHANISM_BASE64:
		return MSG_ENC_BASE64;
	default:
		return MSG_ENC_OTHER;
	}
}

static void part_fields(struct mailmime *mm, struct msg_part *p)
{
	struct mailmime_single_fields sf;
	mailmime_single_fields_init(&sf, mm->mm_mime_fields, mm->mm_content_type);
	content_type(mm->mm_content_type, p->type, sizeof p->type);
	const char *fn = sf.fld_disposition_filename ? sf.fld_disposition_filename : sf.fld_content_name;
	if (fn)
		msg_decode_words(fn, p->filename, sizeof p->filename);
	if (sf.fld_content_charset && str_copy(p->charset, sizeof p->charset, sf.fld_content_charset) == 0)
		str_lower(p->charset);
	else
		p->charset[0] = '\0'; /* none, or longer than any charset name */
	p->encoding = encoding_of(&sf, mm->mm_body);
	p->attachment = sf.fld_disposition && sf.fld_disposition->dsp_type &&
	                sf.fld_disposition->dsp_type->dsp_type == MAILMIME_DISPOSITION_TYPE_ATTACHMENT;
}

/* Adds one part; -1 when a limit or a bad range stops the description here. */
static int add_part(struct walker *w, struct mailmime *mm, int parent, unsigned depth)
{
	struct msg *m = w->m;
	size_t start = 0, body = 0;
	if (depth > w->lim->max_depth || m->nparts >= w->lim->max_parts ||
	    !range_in(m, mm->mm_mime_start, mm->mm_length, &start))
		return -1;
	if (m->nparts == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		m->parts = xrealloc(m->parts, w->cap * sizeof *m->parts);
	}
	struct msg_part *p = &m->parts[m->nparts];
	memset(p, 0, sizeof *p);
	p->parent = parent;
	p->depth = depth;
	p->start = start;
	p->end = start + mm->mm_length;
	p->whole_body = parent == 0;
	const struct mailmime_data *b = mm->mm_body;
	if (b && b->dt_type == MAILMIME_DATA_TEXT &&
	    range_in(m, b->dt_data.dt_text.dt_data, b->dt_data.dt_text.dt_length, &body)) {
		p->body = body;
		p->body_len = b->dt_data.dt_text.dt_length;
	} else {
		p->body = p->end;
	}
	part_fields(mm, p);
	return (int)m->nparts++;
}

static void walk(struct walker *w, struct mailmime *mm, int parent, unsigned depth)
{
	if (!mm)
		return;
	int i = add_part(w, mm, parent, depth);
	if (i < 0) {
		w->m->complete = false;
		return;
	}
	struct msg_part *p = &w->m->parts[i];
	switch (mm->mm_type) {
	case MAILMIME_MULTIPLE:
		p->kind = MSG_PART_MULTIPART;
		for (clistiter *it = clist_begin(mm->mm_data.mm_multipart.mm_mp_list); it;
		     it = clist_next(it))
			walk(w, clist_content(it), i, depth + 1);
		break;
	case MAILMIME_MESSAGE:
		p->kind = MSG_PART_MESSAGE;
		walk(w, mm->mm_data.mm_message.mm_msg_mime, i, depth + 1);
		break;
	default:
		p->kind = MSG_PART_LEAF;
	}
}

int msg_parse(const char *data, size_t len, const struct msg_limits *lim, struct msg *m, char *err,
              size_t errlen)
{
	struct msg_limits def;
	size_t idx = 0;
	memset(m, 0, sizeof *m);
	if (!lim) {
		msg_limits_default(&def);
		lim = &def;
	}
	m->data = data ? data : "";
	m->len = data ? len : 0;
	if (mailmime_parse(m->data, m->len, &idx, &m->tree) != MAILIMF_NO_ERROR || !m->tree ||
	    m->tree->mm_type != MAILMIME_MESSAGE) {
		if (m->tree)
			mailmime_free(m->tree);
		m->tree = NULL;
		str_error(err, errlen, "the message's structure cannot be parsed");
		return -1;
	}
	m->complete = true;
	m->h.size = msg_header_size(m->data, m->len);
	msg_header_read(m->tree->mm_data.mm_message.mm_fields, &m->h);
	msg_header_check_authors(m->data, &m->h);
	struct walker w = {.m = m, .lim = lim};
	walk(&w, m->tree, -1, 0);
	if (m->nparts == 0) { /* the root itself out of range: nothing described */
		msg_free(m);
		str_error(err, errlen, "the message's structure cannot be parsed");
		return -1;
	}
	m->parts[0].start = 0;
	m->parts[0].end = m->len;
	m->parts[0].whole_body = false;
	return 0;
}

void msg_free(struct msg *m)
{
	if (m->tree)
		mailmime_free(m->tree);
	free(m->h.from.v);
	free(m->h.sender.v);
	free(m->h.reply_to.v);
	free(m->parts);
	memset(m, 0, sizeof *m);
}

int msg_part_decode(const struct msg *m, size_t i, struct buf *out)
{
	if (i >= m->nparts || m->parts[i].kind != MSG_PART_LEAF)
		return -1;
	const struct msg_part *p = &m->parts[i];
	if (p->body_len == 0)
		return 0;
	int enc = p->encoding == MSG_ENC_BASE64 ? MAILMIME_MECHANISM_BASE64
	          : p->encoding == MSG_ENC_QP   ? MAILMIME_MECHANISM_QUOTED_PRINTABLE
	                                        : MAILMIME_MECHANISM_8BIT;
	size_t idx = 0, rlen = 0;
	char *res = NULL;
	/* libetpan's quoted-printable decoder reads the two characters after a final "="
	 * even past the given length: a body that ends the message is decoded from a copy
	 * with room after it (found by tests/fuzz/fuzz_msg.c). */
	const char *body = m->data + p->body;
	char *copy = NULL;
	if (m->len - (p->body + p->body_len) < MSG_DECODE_SLACK) {
		copy = xcalloc(1, p->body_len + MSG_DECODE_SLACK);
		memcpy(copy, body, p->body_len);
		body = copy;
	}
	int rc = mailmime_part_parse(body, p->body_len, &idx, enc, &res, &rlen) == MAILIMF_NO_ERROR ? 0 : -1;
	if (copy != NULL)
		explicit_bzero(copy, p->body_len);
	free(copy);
	if (rc != 0)
		return -1;
	rc = buf_append(out, res, rlen);
	explicit_bzero(res, rlen);
	mailmime_decoded_part_free(res);
	return rc == 0 ? 0 : -1;
}

bool msg_part_forwarded(const struct msg *m, size_t i)
{
	if (i >= m->nparts)
		return false;
	for (int p = m->parts[i].parent; p > 0; p = m->parts[p].parent)
		if (m->parts[p].kind == MSG_PART_MESSAGE)
			return true;
	return false;
}

size_t msg_part_next_sibling(const struct msg *m, size_t i)
{
	size_t j = i + 1;
	while (j < m->nparts && m->parts[j].depth > m->parts[i].depth)
		j++;
	return j;
}
