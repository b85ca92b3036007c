/* imap_parts.c: the stored form of a MIME part tree (see imap_mime.h).
 *
 * Version byte 1, then each part in pre-order as unsigned LEB128 numbers: offset of
 * its header from the start of its parent's body, header size, body size, header
 * lines, body lines, decoded size, transfer encoding, flags, number of children. About a dozen bytes a
 * part; a FETCH of a section reads it with the message's row instead of parsing the
 * message. */
#include "imap/imap_mime.h"

#include <stdlib.h>
#include <string.h>

#define PARTS_VERSION 1

static void put(struct buf *out, uint64_t v)
{
	do {
		unsigned char c = v & 0x7f;
		v >>= 7;
		if (v != 0)
			c |= 0x80;
		buf_put_char(out, (char)c);
	} while (v != 0);
}

static void serialize(const struct imap_part *p, uint64_t parent_body, struct buf *out)
{
	put(out, p->pos - parent_body);
	put(out, p->header_size);
	put(out, p->body_size);
	put(out, p->header_lines);
	put(out, p->body_lines);
	put(out, p->decoded_size);
	put(out, (uint64_t)p->cte);
	put(out, p->flags);
	put(out, p->nchildren);
	for (const struct imap_part *c = p->children; c != NULL; c = c->next)
		serialize(c, p->pos + p->header_size, out);
}

void imap_parts_serialize(const struct imap_part *root, struct buf *out)
{
	buf_put_char(out, PARTS_VERSION);
	serialize(root, 0, out);
}

struct reader {
	const unsigned char *p, *end;
	size_t parts;
	bool bad;
};

static uint64_t get(struct reader *r)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		unsigned char c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			if (v > (1ull << 48)) /* no message is that large: not our data */
				r->bad = true;
			return v;
		}
	}
	r->bad = true;
	return 0;
}

static struct imap_part *deserialize(struct reader *r, struct imap_part *parent, int depth)
{
	if (depth > IMAP_MIME_DEPTH_MAX + 1 || ++r->parts > IMAP_MIME_PARTS_MAX + 1) {
		r->bad = true;
		return NULL;
	}
	struct imap_part *p = xcalloc(1, sizeof(*p));
	uint64_t base = parent != NULL ? parent->pos + parent->header_size : 0;
	p->parent = parent;
	p->pos = base + get(r);
	p->header_size = get(r);
	p->body_size = get(r);
	p->header_lines = (uint32_t)get(r);
	p->body_lines = (uint32_t)get(r);
	p->decoded_size = get(r);
	uint64_t cte = get(r);
	p->cte = cte <= IMAP_CTE_UNKNOWN ? (enum imap_cte)cte : IMAP_CTE_UNKNOWN;
	p->flags = (unsigned)get(r);
	uint64_t n = get(r);
	/* a child lies inside its parent's body; anything else is not our data */
	if (parent != NULL && (p->pos < base || p->pos + p->header_size + p->body_size >
	                                            parent->pos + parent->header_size + parent->body_size))
		r->bad = true;
	struct imap_part **tail = &p->children;
	for (uint64_t i = 0; i < n && !r->bad; i++) {
		*tail = deserialize(r, p, depth + 1);
		if (*tail == NULL)
			break;
		tail = &(*tail)->next;
		p->nchildren++;
	}
	return p;
}

struct imap_part *imap_parts_deserialize(const void *data, size_t len)
{
	struct reader r = {.p = data, .end = (const unsigned char *)data + len};
	if (len < 1 || *r.p++ != PARTS_VERSION)
		return NULL;
	struct imap_part *root = deserialize(&r, NULL, 0);
	if (r.bad || r.p != r.end) {
		imap_parts_free(root);
		return NULL;
	}
	return root;
}
