/* store_section.c: FETCH BODY[section]<partial> from the decrypted message, using
 * the offsets of libetpan's MIME tree (RFC 9051 6.4.5 part numbering). */
#include "store/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

struct range {
	size_t off;
	size_t len;
	bool ok;
};

/* Finds (user, blob) of a message and loads it into the cache. Returns 1, 0, -1. */
int store_message_load(struct store *st, int64_t mailbox_id, uint32_t uid, char *err, size_t errlen)
{
	char name[STORE_BLOB_NAME_LEN + 8];
	struct sql_stmt *q =
	    sql_query(st->sql, "store.message_blob",
	              "SELECT b.name, b.user_id FROM messages m JOIN blobs b ON b.id = m.blob_id"
	              " WHERE m.mailbox_id = ?1 AND m.uid = ?2",
	              SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uid)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	int64_t user_id = 0;
	if (rc == 1) {
		user_id = sql_int(q, 1);
		if (sql_text_copy(q, 0, name, sizeof(name)) != 0) {
			str_format(err, errlen, "message %u: blob name too long", uid);
			rc = -1;
		}
	}
	sql_done(q);
	if (rc == 0)
		str_format(err, errlen, "no such message");
	if (rc <= 0)
		return rc;
	return store_blob_load(st, user_id, name, err, errlen) < 0 ? -1 : 1;
}

static struct range range_of(const char *base, size_t len, const char *p, size_t n)
{
	struct range r = {0, 0, false};
	if (p == NULL || p < base || p > base + len || n > (size_t)(base + len - p))
		return r;
	r.off = (size_t)(p - base);
	r.len = n;
	r.ok = true;
	return r;
}

static struct range body_of(const char *base, size_t len, const struct mailmime *m)
{
	struct range r = {0, 0, false};
	if (m->mm_body == NULL || m->mm_body->dt_type != MAILMIME_DATA_TEXT)
		return r;
	return range_of(base, len, m->mm_body->dt_data.dt_text.dt_data,
	                m->mm_body->dt_data.dt_text.dt_length);
}

/* Part numbers to a node: an embedded message is entered through its body, a
 * multipart through its children, a leaf only as part 1 of itself. */
static const struct mailmime *resolve(const struct mailmime *root, const struct store_section *sec)
{
	const struct mailmime *node = root;
	for (size_t i = 0; i < sec->depth && node != NULL; i++) {
		if (node->mm_type == MAILMIME_MESSAGE)
			node = node->mm_data.mm_message.mm_msg_mime;
		if (node == NULL)
			return NULL;
		if (node->mm_type == MAILMIME_MULTIPLE) {
			clist *l = node->mm_data.mm_multipart.mm_mp_list;
			clistiter *c = l != NULL ? clist_begin(l) : NULL;
			for (uint32_t k = 1; k < sec->part[i] && c != NULL; k++)
				c = clist_next(c);
			node = c != NULL ? clist_content(c) : NULL;
		} else if (sec->part[i] != 1) {
			return NULL;
		}
	}
	return node;
}

/* The MIME header block of a part: from its start to its body; for the body of an
 * embedded (or the top) message, that message's header. */
static struct range mime_of(const char *base, size_t len, const struct mailmime *m)
{
	struct range body = body_of(base, len, m), r = {0, 0, false};
	if (!body.ok)
		return r;
	const char *start = m->mm_mime_start;
	const struct mailmime *parent = m->mm_parent;
	if (parent != NULL && parent->mm_type == MAILMIME_MESSAGE) {
		struct range pb = body_of(base, len, parent);
		start = pb.ok ? base + pb.off : (parent->mm_parent == NULL ? base : NULL);
	}
	if (start == NULL || start < base || start > base + body.off)
		return r;
	return range_of(base, len, start, (size_t)(base + body.off - start));
}

static bool field_listed(const char *name, size_t n, const struct store_section *sec)
{
	for (size_t i = 0; i < sec->nfields; i++) {
		if (strlen(sec->fields[i]) == n && str_ieqn(name, sec->fields[i], n))
			return true;
	}
	return false;
}

/* HEADER.FIELDS [.NOT]: the matching fields as they are (folding kept), then the
 * blank line. Field boundaries come from libetpan's field parser. */
static void header_fields(const char *h, size_t hlen, const struct store_section *sec, struct buf *out)
{
	bool negate = sec->kind == STORE_SECTION_HEADER_FIELDS_NOT;
	size_t idx = 0;
	for (;;) {
		size_t start = idx;
		if (idx >= hlen || mailimf_ignore_field_parse(h, hlen, &idx) != MAILIMF_NO_ERROR ||
		    idx <= start)
			break;
		const char *colon = memchr(h + start, ':', idx - start);
		size_t n = colon != NULL ? (size_t)(colon - (h + start)) : 0;
		while (n > 0 && (h[start + n - 1] == ' ' || h[start + n - 1] == '\t'))
			n--;
		if (field_listed(h + start, n, sec) != negate)
			buf_append(out, h + start, idx - start);
	}
	buf_append(out, "\r\n", 2);
}

static void apply_partial(const char *p, size_t n, const struct store_section *sec, struct buf *out)
{
	if (sec->offset >= n)
		return;
	size_t avail = n - (size_t)sec->offset;
	size_t take = sec->length < avail ? (size_t)sec->length : avail;
	buf_append(out, p + sec->offset, take);
}

/* HEADER, TEXT, HEADER.FIELDS of a message held in msg. */
static void message_section(const char *base, struct range msg, const struct store_section *sec,
                            struct buf *out)
{
	const char *m = base + msg.off;
	size_t hend = store_header_end(m, msg.len);
	struct buf tmp;
	switch (sec->kind) {
	case STORE_SECTION_HEADER:
		apply_partial(m, hend, sec, out);
		break;
	case STORE_SECTION_TEXT:
		apply_partial(m + hend, msg.len - hend, sec, out);
		break;
	case STORE_SECTION_HEADER_FIELDS:
	case STORE_SECTION_HEADER_FIELDS_NOT:
		buf_init(&tmp, BUF_UNLIMITED);
		header_fields(m, hend, sec, &tmp);
		apply_partial(tmp.data, tmp.len, sec, out);
		buf_free(&tmp);
		break;
	default:
		apply_partial(m, msg.len, sec, out);
	}
}

/* A message libetpan could not structure is one text part: "1" is its body. */
static void section_unparsed(const char *data, size_t len, const struct store_section *sec, struct buf *out)
{
	size_t hend = store_header_end(data, len);
	if (sec->depth != 1 || sec->part[0] != 1)
		return;
	if (sec->kind == STORE_SECTION_ALL)
		apply_partial(data + hend, len - hend, sec, out);
	else if (sec->kind == STORE_SECTION_MIME)
		apply_partial(data, hend, sec, out);
}

static void section_of_part(const char *data, size_t len, const struct mailmime *node,
                            const struct store_section *sec, struct buf *out)
{
	struct range r;
	switch (sec->kind) {
	case STORE_SECTION_ALL:
		r = body_of(data, len, node);
		if (r.ok)
			apply_partial(data + r.off, r.len, sec, out);
		break;
	case STORE_SECTION_MIME:
		r = mime_of(data, len, node);
		if (r.ok)
			apply_partial(data + r.off, r.len, sec, out);
		break;
	default:
		/* HEADER/TEXT of a part only exist for message/rfc822 parts. */
		if (node->mm_type != MAILMIME_MESSAGE || node->mm_parent == NULL)
			return;
		r = body_of(data, len, node);
		if (r.ok)
			message_section(data, r, sec, out);
	}
}

void store_section_extract(const char *data, size_t len, const struct mailmime *mime,
                           const struct store_section *sec, struct buf *out)
{
	if (sec->depth == 0) {
		struct range whole = {0, len, true};
		if (sec->kind != STORE_SECTION_MIME)
			message_section(data, whole, sec, out);
		return;
	}
	if (mime == NULL) {
		section_unparsed(data, len, sec, out);
		return;
	}
	const struct mailmime *node = resolve(mime, sec);
	if (node != NULL)
		section_of_part(data, len, node, sec, out);
}

int store_fetch_section(struct store *st, int64_t mailbox_id, uint32_t uid, const struct store_section *sec,
                        struct buf *out, char *err, size_t errlen)
{
	if (sec->depth > STORE_PART_DEPTH_MAX) {
		str_format(err, errlen, "section too deep");
		return 1;
	}
	int rc = store_message_load(st, mailbox_id, uid, err, errlen);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	store_section_extract(st->cache.data.data, st->cache.data.len, st->cache.mime, sec, out);
	return 0;
}

/* ---- parsing "1.2.HEADER.FIELDS (A B)" ---- */

static const char *parse_parts(const char *p, struct store_section *sec)
{
	while (isdigit((unsigned char)*p)) {
		uint64_t v = 0;
		while (isdigit((unsigned char)*p) && v <= UINT32_MAX)
			v = v * 10 + (uint64_t)(*p++ - '0');
		if (v == 0 || v > UINT32_MAX || sec->depth == STORE_PART_DEPTH_MAX)
			return NULL;
		sec->part[sec->depth++] = (uint32_t)v;
		if (*p != '.')
			return *p == '\0' ? p : NULL;
		p++;
	}
	return p;
}

/* Field names: atoms or quoted strings, space separated, in parentheses. */
static int parse_fields(const char *p, struct store_section *sec, char **storage)
{
	size_t n = strlen(p);
	if (n < 2 || p[0] != '(' || p[n - 1] != ')')
		return -1;
	size_t maxf = n / 2 + 1;
	char *block = xcalloc(1, maxf * sizeof(char *) + n + 1);
	const char **fields = (const char **)(void *)block;
	char *s = block + maxf * sizeof(char *);
	memcpy(s, p + 1, n - 2);
	s[n - 2] = '\0';
	size_t k = 0;
	for (char *t = s; *t != '\0';) {
		while (*t == ' ')
			t++;
		if (*t == '\0')
			break;
		bool quoted = *t == '"';
		char *start = quoted ? ++t : t;
		while (*t != '\0' && (quoted ? *t != '"' : *t != ' '))
			t++;
		if (quoted && *t != '"')
			break;
		if (*t != '\0')
			*t++ = '\0';
		if (*start != '\0')
			fields[k++] = start;
	}
	if (k == 0) {
		free(block);
		return -1;
	}
	sec->fields = fields;
	sec->nfields = k;
	*storage = block;
	return 0;
}

int store_section_parse(const char *spec, struct store_section *sec, char **storage)
{
	memset(sec, 0, sizeof(*sec));
	sec->length = UINT64_MAX;
	*storage = NULL;
	const char *p = parse_parts(spec, sec);
	if (p == NULL)
		return -1;
	if (*p == '\0') {
		sec->kind = STORE_SECTION_ALL;
		return 0;
	}
	if (str_ieq(p, "HEADER"))
		sec->kind = STORE_SECTION_HEADER;
	else if (str_ieq(p, "TEXT"))
		sec->kind = STORE_SECTION_TEXT;
	else if (str_ieq(p, "MIME") && sec->depth > 0)
		sec->kind = STORE_SECTION_MIME;
	else if (str_iprefix(p, "HEADER.FIELDS.NOT ")) {
		sec->kind = STORE_SECTION_HEADER_FIELDS_NOT;
		return parse_fields(p + 18, sec, storage);
	} else if (str_iprefix(p, "HEADER.FIELDS ")) {
		sec->kind = STORE_SECTION_HEADER_FIELDS;
		return parse_fields(p + 14, sec, storage);
	} else
		return -1;
	return 0;
}
