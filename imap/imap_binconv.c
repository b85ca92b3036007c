/* imap_binconv.c: binary parts to base64 on APPEND of a literal8 (see imap_binconv.h).
 * The MIME parser (imap_mime.c) reports every octet with the part it belongs to; a
 * part's header is held until it ends, when we know what the part is. */
#include "imap/imap_binconv.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap_header.h"
#include "imap/imap_mime.h"
#include "lib/str.h"

#define HEADER_HELD_MAX (256 * 1024)
#define B64_LINE 76 /* RFC 2045 6.8 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct imap_binconv {
	struct imap_mime_parser *parser;
	struct buf *out;                    /* where converted octets go during a feed */
	struct buf hdr;                     /* the current part's header, held */
	bool holding;                       /* hdr holds a header not yet written */
	const struct imap_part *converting; /* the part whose body becomes base64 */
	unsigned char pend[3];              /* base64: octets waiting for a full group */
	size_t npend;
	size_t col; /* base64 characters on the current line */
};

static void b64_group(struct imap_binconv *c, const unsigned char *g, size_t n)
{
	char q[4];
	q[0] = b64[g[0] >> 2];
	q[1] = b64[((g[0] & 3) << 4) | (n > 1 ? g[1] >> 4 : 0)];
	q[2] = n > 1 ? b64[((g[1] & 15) << 2) | (n > 2 ? g[2] >> 6 : 0)] : '=';
	q[3] = n > 2 ? b64[g[2] & 63] : '=';
	if (c->col == B64_LINE) {
		buf_put(c->out, "\r\n", 2);
		c->col = 0;
	}
	buf_put(c->out, q, 4);
	c->col += 4;
}

static void b64_feed(struct imap_binconv *c, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		c->pend[c->npend++] = p[i];
		if (c->npend == 3) {
			b64_group(c, c->pend, 3);
			c->npend = 0;
		}
	}
}

static void b64_end(struct imap_binconv *c)
{
	if (c->npend > 0)
		b64_group(c, c->pend, c->npend);
	c->npend = 0;
	c->col = 0;
	c->converting = NULL;
}

/* true when the held header says the part is binary: then it is written with
 * base64 instead. A folded or repeated field is left alone, as Dovecot does. */
static bool rewrite_header(struct imap_binconv *c, const struct imap_part *part)
{
	if (part->flags & IMAP_PART_MULTIPART)
		return false; /* some mailers mark multiparts "binary": their parts decide */
	struct imap_header_iter it;
	struct imap_header_field f;
	const char *cte = NULL;
	size_t cte_len = 0;
	imap_header_iter_init(&it, c->hdr.data, c->hdr.len);
	while (imap_header_next(&it, &f) == 1) {
		if (!imap_header_is(&f, "Content-Transfer-Encoding"))
			continue;
		if (cte != NULL)
			return false;
		cte = f.raw;
		cte_len = f.raw_len;
		size_t v = f.value_len;
		while (v > 0 && (f.value[v - 1] == '\r' || f.value[v - 1] == '\n' || f.value[v - 1] == ' '))
			v--;
		if (v != 6 || !str_ieqn(f.value, "binary", 6))
			return false;
	}
	if (cte == NULL)
		return false;
	size_t at = (size_t)(cte - c->hdr.data);
	buf_put(c->out, c->hdr.data, at);
	buf_put_str(c->out, "Content-Transfer-Encoding: base64\r\n");
	buf_put(c->out, c->hdr.data + at + cte_len, c->hdr.len - at - cte_len);
	return true;
}

static void on_event(void *arg, const struct imap_part *part, enum imap_mime_event ev, const char *d,
                     size_t n)
{
	struct imap_binconv *c = arg;
	if (c->converting != NULL && c->converting != part)
		b64_end(c); /* the converted part ended */
	if (ev == IMAP_MIME_BODY) {
		if (part == c->converting)
			b64_feed(c, (const unsigned char *)d, n);
		else
			buf_put(c->out, d, n);
		return;
	}
	if (n > 0) { /* a header line, or the empty line that ends the header */
		if (c->holding && c->hdr.len + n <= HEADER_HELD_MAX) {
			str_assert(buf_append(&c->hdr, d, n), "the length is checked above");
			return;
		}
		buf_put(c->out, c->hdr.data, c->hdr.len); /* too long to hold: as it is */
		buf_reset(&c->hdr);
		c->holding = false;
		buf_put(c->out, d, n);
		return;
	}
	/* the header ended and the parser knows what the part is */
	if (c->holding && rewrite_header(c, part))
		c->converting = part;
	else if (c->holding)
		buf_put(c->out, c->hdr.data, c->hdr.len);
	buf_reset(&c->hdr);
	c->holding = true; /* the next part's header */
}

struct imap_binconv *imap_binconv_new(void)
{
	struct imap_binconv *c = xcalloc(1, sizeof(*c));
	c->parser = imap_mime_parser_new(on_event, c);
	buf_init(&c->hdr, HEADER_HELD_MAX);
	c->holding = true;
	return c;
}

void imap_binconv_feed(struct imap_binconv *c, const char *p, size_t n, struct buf *out)
{
	c->out = out;
	imap_mime_parse(c->parser, p, n);
	c->out = NULL;
}

void imap_binconv_finish(struct imap_binconv *c, struct buf *out)
{
	c->out = out;
	imap_parts_free(imap_mime_parser_finish(c->parser));
	if (c->converting != NULL)
		b64_end(c);
	if (c->hdr.len > 0) /* a header without its end */
		buf_put(out, c->hdr.data, c->hdr.len);
	buf_free(&c->hdr);
	free(c);
}
