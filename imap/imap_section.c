/* imap_section.c: BODY[section]<partial> grammar and ranges (see imap_section.h). */
#include "imap/imap_section.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap_header.h"
#include "lib/str.h"

struct cursor {
	const char *p, *end;
};

static bool at_word(struct cursor *c, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(c->end - c->p) < n || !str_ieqn(c->p, w, n))
		return false;
	c->p += n;
	return true;
}

/* section-part = nz-number *("." nz-number); stops before ".TEXT" etc. */
static int parse_parts(struct cursor *c, struct imap_section *sec)
{
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		uint64_t v = 0;
		if (*c->p == '0')
			return -1; /* nz-number */
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			v = v * 10 + (uint64_t)(*c->p++ - '0');
			if (v > UINT32_MAX)
				return -1;
		}
		if (sec->depth == IMAP_SECTION_DEPTH_MAX)
			return -1;
		sec->part[sec->depth++] = (uint32_t)v;
		if (c->p == c->end)
			return 0;
		if (*c->p != '.')
			return -1;
		c->p++;
		if (c->p == c->end)
			return -1; /* "1." */
	}
	return 0;
}

/* header-fld-name = astring, in the header-list "(" ... ")" */
static int parse_field(struct cursor *c, struct imap_section *sec)
{
	struct buf f;
	buf_init(&f, 1024);
	int rc = -1;
	if (*c->p == '"') {
		for (c->p++; c->p < c->end && *c->p != '"'; c->p++) {
			if (*c->p == '\\' && c->p + 1 < c->end)
				c->p++;
			if (buf_append_char(&f, *c->p) < 0)
				return buf_free(&f), -1; /* longer than any field name: never cut */
		}
		if (c->p < c->end) {
			c->p++;
			rc = 0;
		}
	} else {
		while (c->p < c->end && *c->p != ' ' && *c->p != ')' && *c->p != '(' &&
		       (unsigned char)*c->p > 0x20 && (unsigned char)*c->p < 0x7f)
			if (buf_append_char(&f, *c->p++) < 0)
				return buf_free(&f), -1; /* longer than any field name: never cut */
		rc = f.len > 0 ? 0 : -1;
	}
	/* a header field name is printable ASCII without ':' (RFC 5322 3.6.8) */
	for (size_t i = 0; rc == 0 && i < f.len; i++)
		if (f.data[i] == ':' || (unsigned char)f.data[i] <= 0x20 || (unsigned char)f.data[i] >= 0x7f)
			rc = -1;
	if (rc == 0 && (f.len == 0 || sec->nfields == IMAP_SECTION_FIELDS_MAX))
		rc = -1;
	if (rc == 0)
		sec->fields[sec->nfields++] = buf_strdup(&f);
	buf_free(&f);
	return rc;
}

static int parse_header_list(struct cursor *c, struct imap_section *sec)
{
	if (c->p >= c->end || *c->p++ != ' ' || c->p >= c->end || *c->p++ != '(')
		return -1;
	while (c->p < c->end && *c->p != ')') {
		if (sec->nfields > 0 && *c->p++ != ' ')
			return -1;
		if (c->p >= c->end || parse_field(c, sec) < 0)
			return -1;
	}
	if (c->p >= c->end || sec->nfields == 0)
		return -1;
	c->p++;
	return c->p == c->end ? 0 : -1;
}

static int parse_text(struct cursor *c, struct imap_section *sec)
{
	if (c->p == c->end) {
		sec->kind = IMAP_SECTION_ALL;
		return 0;
	}
	if (at_word(c, "HEADER.FIELDS.NOT")) {
		sec->kind = IMAP_SECTION_HEADER_FIELDS_NOT;
		return parse_header_list(c, sec);
	}
	if (at_word(c, "HEADER.FIELDS")) {
		sec->kind = IMAP_SECTION_HEADER_FIELDS;
		return parse_header_list(c, sec);
	}
	if (at_word(c, "HEADER"))
		sec->kind = IMAP_SECTION_HEADER;
	else if (at_word(c, "TEXT"))
		sec->kind = IMAP_SECTION_TEXT;
	else if (sec->depth > 0 && at_word(c, "MIME")) /* MIME only after a part number */
		sec->kind = IMAP_SECTION_MIME;
	else
		return -1;
	return c->p == c->end ? 0 : -1;
}

int imap_section_parse(const char *spec, size_t len, bool binary, struct imap_section *sec)
{
	memset(sec, 0, sizeof(*sec));
	struct cursor c = {spec, spec + len};
	if (parse_parts(&c, sec) < 0)
		return -1;
	if (binary) { /* section-binary: part numbers only */
		sec->kind = IMAP_SECTION_ALL;
		return c.p == c.end ? 0 : -1;
	}
	return parse_text(&c, sec);
}

static int number(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *start = *p;
	while (*p < end && **p >= '0' && **p <= '9') {
		v = v * 10 + (uint64_t)(**p - '0');
		if (v > max)
			return -1;
		(*p)++;
	}
	*out = v;
	return *p > start ? 0 : -1;
}

int imap_partial_parse(const char *s, size_t len, struct imap_section *sec)
{
	const char *p = s, *end = s + len;
	uint64_t off, n;
	if (p >= end || *p++ != '<' || number(&p, end, UINT32_MAX, &off) < 0 || p >= end || *p++ != '.' ||
	    number(&p, end, UINT32_MAX, &n) < 0 || n == 0 || p >= end || *p++ != '>' || p != end)
		return -1;
	sec->partial = true;
	sec->offset = off;
	sec->length = n;
	return 0;
}

void imap_section_free(struct imap_section *sec)
{
	for (size_t i = 0; i < sec->nfields; i++)
		free(sec->fields[i]);
	sec->nfields = 0;
}

const struct imap_part *imap_section_part(const struct imap_part *root, const struct imap_section *sec)
{
	return sec->depth == 0 ? NULL : imap_part_find(root, sec->part, sec->depth);
}

int imap_section_range(const struct imap_part *root, uint64_t size, const struct imap_section *sec,
                       uint64_t *off, uint64_t *len)
{
	const struct imap_part *p = root;
	if (sec->depth > 0) {
		p = imap_part_find(root, sec->part, sec->depth);
		if (p == NULL)
			return 0;
		if (sec->kind == IMAP_SECTION_ALL) { /* a part's body */
			*off = p->pos + p->header_size;
			*len = p->body_size;
			return 1;
		}
		if (sec->kind == IMAP_SECTION_MIME) {
			*off = p->pos;
			*len = p->header_size;
			return 1;
		}
		/* HEADER / TEXT of a part: that of its embedded message */
		if (!(p->flags & IMAP_PART_MESSAGE) || p->children == NULL)
			return 0;
		p = p->children;
	} else if (sec->kind == IMAP_SECTION_ALL) {
		*off = 0;
		*len = size;
		return 1;
	}
	if (sec->kind == IMAP_SECTION_TEXT) {
		*off = p->pos + p->header_size;
		*len = p->body_size;
	} else {
		*off = p->pos;
		*len = p->header_size;
	}
	return 1;
}

static bool listed(const struct imap_section *sec, const char *name, size_t n)
{
	for (size_t i = 0; i < sec->nfields; i++)
		if (strlen(sec->fields[i]) == n && str_ieqn(name, sec->fields[i], n))
			return true;
	return false;
}

void imap_header_fields_filter(const char *h, size_t len, const struct imap_section *sec, struct buf *out)
{
	bool negate = sec->kind == IMAP_SECTION_HEADER_FIELDS_NOT;
	struct imap_header_iter it;
	struct imap_header_field f;
	imap_header_iter_init(&it, h, len);
	while (imap_header_next(&it, &f) == 1)
		if (listed(sec, f.name, f.name_len) != negate) {
			buf_put(out, f.raw, f.raw_len);
			if (f.raw_len == 0 || f.raw[f.raw_len - 1] != '\n')
				buf_put(out, "\r\n", 2); /* the header's last line, cut short */
		}
	buf_put(out, "\r\n", 2);
}
