/* imap_bindecode.c: a section with its leaves decoded (see imap_bindecode.h). */
#include "imap/imap_bindecode.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_decode.h"
#include "lib/str.h"

#define CTE_FIELD "Content-Transfer-Encoding"

struct imap_bindecode {
	struct imap_mime_parser *parser;
	struct buf *out;
	uint64_t from, to, pos;      /* the range kept; input octets seen */
	struct buf hdr;              /* the current part's header, while it fits */
	uint64_t hdr_pos;            /* where that header started */
	bool hdr_over;               /* it did not fit: passed on as it came */
	const struct imap_part *dec; /* the leaf being decoded, NULL when none */
	struct imap_decoder d;
	bool dec_in;       /* its body lies in the range */
	uint64_t dec_size; /* its decoded octets and line ends so far */
	uint32_t dec_lines;
	struct decoded_leaf *leaves; /* every leaf decoded, for the binary sizes */
	size_t nleaves, cap;
	struct buf tmp;
};

struct decoded_leaf {
	const struct imap_part *part;
	uint64_t size;
	uint32_t lines;
};

/* The octets [at, at + n) of the input, clipped to the range. */
static void emit_raw(struct imap_bindecode *b, const char *p, size_t n, uint64_t at)
{
	uint64_t lo = at > b->from ? at : b->from, hi = at + n < b->to ? at + n : b->to;
	if (lo < hi)
		buf_put(b->out, p + (lo - at), (size_t)(hi - lo));
}

static bool in_range(const struct imap_bindecode *b, uint64_t at)
{
	return at >= b->from && at < b->to;
}

static bool decoded(const struct imap_part *part)
{
	return !(part->flags & (IMAP_PART_MULTIPART | IMAP_PART_MESSAGE)) &&
	       (part->cte == IMAP_CTE_BASE64 || part->cte == IMAP_CTE_QP);
}

/* Decoded octets in tmp: counted, and kept when the leaf lies in the range. */
static void decoded_out(struct imap_bindecode *b)
{
	b->dec_size += b->tmp.len;
	for (size_t i = 0; i < b->tmp.len; i++)
		b->dec_lines += b->tmp.data[i] == '\n';
	if (b->dec_in)
		buf_put(b->out, b->tmp.data, b->tmp.len);
}

static void decoding_end(struct imap_bindecode *b)
{
	if (b->dec == NULL)
		return;
	buf_reset(&b->tmp);
	imap_decoder_finish(&b->d, &b->tmp);
	decoded_out(b);
	if (b->nleaves == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 8;
		b->leaves = reallocarray(b->leaves, b->cap, sizeof(*b->leaves));
		if (b->leaves == NULL)
			abort(); /* out of memory: as lib/buf does */
	}
	b->leaves[b->nleaves++] = (struct decoded_leaf){b->dec, b->dec_size, b->dec_lines};
	b->dec = NULL;
}

/* Whether the header line l (its first line) starts the Content-Transfer-Encoding
 * field (RFC 5322 2.2: name, optional white space, ':'). */
static bool is_cte_field(const char *l, size_t n)
{
	size_t k = sizeof(CTE_FIELD) - 1;
	if (n < k || !str_ieqn(l, CTE_FIELD, k))
		return false;
	while (k < n && (l[k] == ' ' || l[k] == '\t'))
		k++;
	return k < n && l[k] == ':';
}

/* The header with its Content-Transfer-Encoding field (and continuation lines) said
 * "binary", each other line as it was. */
static void write_header_binary(struct imap_bindecode *b)
{
	const char *p = b->hdr.data, *end = p + b->hdr.len;
	bool skipping = false;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		bool cont = p[0] == ' ' || p[0] == '\t';
		if (skipping && cont) {
			p += n;
			continue;
		}
		skipping = !cont && is_cte_field(p, n);
		if (skipping) {
			buf_put_str(b->out, CTE_FIELD ": binary");
			buf_put_str(b->out, n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n' ? "\r\n" : "\n");
		} else {
			buf_put(b->out, p, n);
		}
		p += n;
	}
}

static void header_line(struct imap_bindecode *b, const char *p, size_t n)
{
	if (b->hdr.len == 0 && !b->hdr_over)
		b->hdr_pos = b->pos;
	if (!b->hdr_over && b->hdr.len + n <= IMAP_MIME_HEADER_MAX) {
		buf_put(&b->hdr, p, n);
		return;
	}
	if (!b->hdr_over) { /* too long to rewrite: what was kept goes out as it was */
		emit_raw(b, b->hdr.data, b->hdr.len, b->hdr_pos);
		buf_reset(&b->hdr);
		b->hdr_over = true;
	}
	emit_raw(b, p, n, b->pos);
}

static void header_done(struct imap_bindecode *b, const struct imap_part *part)
{
	if (!b->hdr_over) {
		if (decoded(part) && in_range(b, b->hdr_pos))
			write_header_binary(b);
		else
			emit_raw(b, b->hdr.data, b->hdr.len, b->hdr_pos);
	}
	buf_reset(&b->hdr);
	b->hdr_over = false;
	if (decoded(part)) {
		b->dec = part;
		b->dec_in = false;
		b->dec_size = 0;
		b->dec_lines = 0;
		imap_decoder_init(&b->d, part->cte);
	}
}

static void on_event(void *arg, const struct imap_part *part, enum imap_mime_event ev, const char *p,
                     size_t n)
{
	struct imap_bindecode *b = arg;
	if (part != b->dec)
		decoding_end(b);
	if (ev == IMAP_MIME_HEADER_END && n == 0)
		header_done(b, part);
	else if (ev != IMAP_MIME_BODY)
		header_line(b, p, n);
	else if (part == b->dec) {
		buf_reset(&b->tmp);
		imap_decoder_feed(&b->d, p, n, &b->tmp);
		b->dec_in = in_range(b, b->pos);
		decoded_out(b);
	} else {
		emit_raw(b, p, n, b->pos);
	}
	b->pos += n;
}

struct imap_bindecode *imap_bindecode_new(uint64_t from, uint64_t to, struct buf *out)
{
	struct imap_bindecode *b = calloc(1, sizeof(*b));
	if (b == NULL)
		abort(); /* out of memory: as lib/buf does */
	b->out = out;
	b->from = from;
	b->to = to;
	buf_init(&b->hdr, BUF_UNLIMITED);
	buf_init(&b->tmp, BUF_UNLIMITED);
	b->parser = imap_mime_parser_new(on_event, b);
	return b;
}

void imap_bindecode_feed(struct imap_bindecode *b, const char *p, size_t n)
{
	imap_mime_parse(b->parser, p, n);
}

/* Each decoded leaf's size and lines those of its decoded body, its ancestors' less
 * the difference. The parts are the tree's, which the caller now owns. */
static void binary_sizes(struct imap_bindecode *b)
{
	for (size_t i = 0; i < b->nleaves; i++) {
		const struct decoded_leaf *l = &b->leaves[i];
		uint64_t dsize = l->part->body_size - l->size;
		uint32_t dlines = l->part->body_lines - l->lines;
		for (struct imap_part *p = (struct imap_part *)l->part; p != NULL; p = p->parent) {
			p->body_size -= dsize;
			p->body_lines -= dlines;
		}
	}
}

struct imap_part *imap_bindecode_finish(struct imap_bindecode *b, bool sizes)
{
	struct imap_part *root = imap_mime_parser_finish(b->parser);
	decoding_end(b);
	if (sizes)
		binary_sizes(b);
	free(b->leaves);
	if (b->hdr.len > 0) /* a header the parser never closed */
		emit_raw(b, b->hdr.data, b->hdr.len, b->hdr_pos);
	buf_free(&b->hdr);
	buf_free(&b->tmp);
	free(b);
	return root;
}
