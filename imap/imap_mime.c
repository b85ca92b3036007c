/* imap_mime.c: streamed MIME structure parser (see imap_mime.h for the rules). */
#include "imap/imap_mime.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap_header.h"
#include "imap/imap_rfc822.h"
#include "lib/str.h"

#define LINE_MAX_KEPT (64 * 1024) /* a longer line is passed on in pieces */
#define BOUNDARY_MAX 200          /* RFC 2046 allows 70; longer ones are not boundaries */

struct boundary {
	char *text;
	size_t len;
	struct imap_part *part;
};

enum state { ST_HEADER, ST_BODY };

struct imap_mime_parser {
	imap_mime_cb cb;
	void *arg;
	struct imap_part *root, *cur;
	size_t nparts;
	int depth; /* of cur: the root is 0 */
	enum state state;
	struct boundary *b; /* innermost last */
	size_t nb;
	struct buf line; /* the line read so far */
	bool midline;    /* the current line's start was passed on already (overlong) */
	char pend[2];    /* the line end of the last body line, held: it belongs to a boundary */
	size_t npend;    /* that follows, else to the body */
	unsigned prev_hdr_nl;
	struct buf hdr;             /* the current part's header, kept for analysis */
	struct imap_part *decoding; /* the leaf whose body is being decoded */
	struct imap_decoder dec;
	struct buf decoded;
};

static struct imap_part *part_new(struct imap_mime_parser *p, struct imap_part *parent, uint64_t pos)
{
	struct imap_part *part = xcalloc(1, sizeof(*part));
	part->pos = pos;
	part->parent = parent;
	if (parent != NULL) {
		struct imap_part **tail = &parent->children;
		while (*tail != NULL)
			tail = &(*tail)->next;
		*tail = part;
		parent->nchildren++;
	}
	p->nparts++;
	return part;
}

static size_t count_lf(const char *d, size_t n)
{
	size_t k = 0;
	for (const char *q = d; (q = memchr(q, '\n', (size_t)(d + n - q))) != NULL; q++)
		k++;
	return k;
}

static void decode_more(struct imap_mime_parser *p, const char *d, size_t n, bool finish)
{
	buf_reset(&p->decoded);
	if (finish)
		imap_decoder_finish(&p->dec, &p->decoded);
	else
		imap_decoder_feed(&p->dec, d, n, &p->decoded);
	p->decoding->decoded_size += p->decoded.len;
	if (p->decoded.len > 0 && memchr(p->decoded.data, '\0', p->decoded.len) != NULL)
		p->decoding->flags |= IMAP_PART_BINARY_NUL;
}

static void body_add(struct imap_mime_parser *p, struct imap_part *part, const char *d, size_t n)
{
	if (n == 0)
		return;
	part->body_size += n;
	part->body_lines += (uint32_t)count_lf(d, n);
	if (memchr(d, '\0', n) != NULL)
		part->flags |= IMAP_PART_HAS_NUL;
	if (part == p->decoding)
		decode_more(p, d, n, false);
	if (p->cb != NULL)
		p->cb(p->arg, part, IMAP_MIME_BODY, d, n);
}

static void header_add(struct imap_mime_parser *p, const char *d, size_t n, enum imap_mime_event ev)
{
	struct imap_part *part = p->cur;
	part->header_size += n;
	part->header_lines += (uint32_t)count_lf(d, n);
	if (memchr(d, '\0', n) != NULL)
		part->flags |= IMAP_PART_HAS_NUL;
	if (p->hdr.len + n <= IMAP_MIME_HEADER_MAX)
		buf_put(&p->hdr, d, n);
	if (p->cb != NULL)
		p->cb(p->arg, part, ev, d, n);
}

/* Ends the decoding of a leaf's body, if it was being decoded. */
static void decoding_end(struct imap_mime_parser *p, struct imap_part *part)
{
	if (p->decoding == part) {
		decode_more(p, NULL, 0, true);
		p->decoding = NULL;
	}
}

/* The part's octets count in its parent's body (RFC 2046 nesting). */
static void part_done(struct imap_mime_parser *p, struct imap_part *part)
{
	decoding_end(p, part);
	if (part->parent != NULL) {
		part->parent->body_size += part->header_size + part->body_size;
		part->parent->body_lines += part->header_lines + part->body_lines;
		part->parent->flags |= part->flags & IMAP_PART_HAS_NUL;
	}
}

/* ---- header end: what the part is ---- */

struct content_type {
	bool seen;
	char type[64], subtype[64];
	char boundary[BOUNDARY_MAX + 1];
};

static void parse_content_type(const char *value, struct content_type *ct)
{
	struct rfc822_parser ps;
	struct buf t;
	buf_init(&t, 256);
	rfc822_init(&ps, value, strlen(value), NULL);
	ct->seen = true;
	int rc = rfc822_skip_lwsp(&ps);
	if (rc > 0)
		rc = rfc822_parse_mime_token(&ps, &t);
	(void)!str_copy(ct->type, sizeof(ct->type), t.data); /* a longer type matches nothing */
	if (rc > 0 && *ps.p == '/') {
		ps.p++;
		buf_reset(&t);
		if (rfc822_skip_lwsp(&ps) > 0 && rfc822_parse_mime_token(&ps, &t) >= 0)
			(void)!str_copy(ct->subtype, sizeof(ct->subtype), t.data);
		struct rfc822_param *pv = NULL;
		size_t n = rfc822_parse_params(&ps, &pv, 64);
		for (size_t i = 0; i < n; i++)
			if (str_ieq(pv[i].name, "boundary") && ct->boundary[0] == '\0' &&
			    pv[i].value[0] != '\0')
				(void)!str_copy(ct->boundary, sizeof(ct->boundary), pv[i].value);
		rfc822_params_free(pv, n);
	}
	buf_free(&t);
}

/* Reads the fields that decide the structure: MIME-Version, Content-Type,
 * Content-Transfer-Encoding. */
static void analyse_header(const char *h, size_t len, struct content_type *ct, bool *mime_version,
                           enum imap_cte *cte)
{
	struct imap_header_iter it;
	struct imap_header_field f;
	bool cte_seen = false;
	struct buf v;
	buf_init(&v, BUF_UNLIMITED);
	imap_header_iter_init(&it, h, len);
	*mime_version = false;
	*cte = IMAP_CTE_7BIT;
	while (imap_header_next(&it, &f) == 1) {
		if (imap_header_is(&f, "MIME-Version")) {
			*mime_version = true;
			continue;
		}
		bool is_ct = imap_header_is(&f, "Content-Type"),
		     is_cte = imap_header_is(&f, "Content-Transfer-Encoding");
		if ((!is_ct || ct->seen) && (!is_cte || cte_seen))
			continue;
		buf_reset(&v);
		imap_header_unfold(f.value, f.value_len, &v);
		if (is_ct) {
			parse_content_type(v.data, ct);
		} else {
			char *tok = str_trim(v.data);
			*cte = imap_cte_parse(tok);
			cte_seen = true;
		}
	}
	buf_free(&v);
}

static void set_type_flags(struct imap_part *part, const struct content_type *ct)
{
	if (str_ieq(ct->type, "message") && str_ieq(ct->subtype, "rfc822"))
		part->flags |= IMAP_PART_MESSAGE;
	else if (str_ieq(ct->type, "text"))
		part->flags |= IMAP_PART_TEXT;
	else if (str_ieq(ct->type, "multipart")) {
		part->flags |= IMAP_PART_MULTIPART;
		if (str_ieq(ct->subtype, "digest"))
			part->flags |= IMAP_PART_DIGEST;
	}
}

static void push_boundary(struct imap_mime_parser *p, const char *text)
{
	p->b = xrealloc(p->b, (p->nb + 1) * sizeof(*p->b));
	p->b[p->nb].text = xstrdup(text);
	p->b[p->nb].len = strlen(text);
	p->b[p->nb].part = p->cur;
	p->nb++;
}

static void pop_boundaries(struct imap_mime_parser *p, size_t keep)
{
	while (p->nb > keep)
		free(p->b[--p->nb].text);
}

/* The header of cur ended (at_eoh: with its empty line). Decides what the part is and
 * where its body goes. */
static void header_end(struct imap_mime_parser *p, bool at_eoh)
{
	struct imap_part *part = p->cur;
	struct content_type ct;
	bool mime_version;
	enum imap_cte cte;
	memset(&ct, 0, sizeof(ct));
	analyse_header(p->hdr.data, p->hdr.len, &ct, &mime_version, &cte);
	if (mime_version || ct.seen)
		part->flags |= IMAP_PART_IS_MIME;
	if ((part->flags & IMAP_PART_IS_MIME) && ct.seen)
		set_type_flags(part, &ct);
	if (!ct.seen || !(part->flags & IMAP_PART_IS_MIME)) {
		bool digest = part->parent != NULL && (part->parent->flags & IMAP_PART_DIGEST);
		part->flags |= digest ? IMAP_PART_MESSAGE : IMAP_PART_TEXT;
	}
	/* too deep or too many: described as one opaque part */
	if ((part->flags & (IMAP_PART_MULTIPART | IMAP_PART_MESSAGE)) &&
	    (p->depth >= IMAP_MIME_DEPTH_MAX || p->nparts >= IMAP_MIME_PARTS_MAX))
		part->flags &= ~(IMAP_PART_MULTIPART | IMAP_PART_MESSAGE | IMAP_PART_DIGEST);
	part->header = buf_strdup(&p->hdr);
	part->header_len = p->hdr.len;
	buf_reset(&p->hdr);
	if (!(part->flags & (IMAP_PART_MULTIPART | IMAP_PART_MESSAGE))) {
		part->cte = cte; /* before the callback: a leaf's encoding is known at its header's end */
		if (cte == IMAP_CTE_UNKNOWN)
			part->flags |= IMAP_PART_UNKNOWN_CTE;
	}
	if (p->cb != NULL)
		p->cb(p->arg, part, IMAP_MIME_HEADER_END, "", 0);
	if (part->flags & IMAP_PART_MESSAGE) {
		p->cur = part_new(p, part, part->pos + part->header_size);
		p->depth++;
		p->state = ST_HEADER;
		p->prev_hdr_nl = 0;
		return;
	}
	if ((part->flags & IMAP_PART_MULTIPART) && at_eoh && ct.boundary[0] != '\0')
		push_boundary(p, ct.boundary);
	if (!(part->flags & IMAP_PART_MULTIPART)) {
		imap_decoder_init(&p->dec, cte == IMAP_CTE_UNKNOWN ? IMAP_CTE_7BIT : cte);
		p->decoding = part;
	}
	p->state = ST_BODY;
	p->npend = 0;
}

/* ---- lines ---- */

/* The boundary that line l starts ("--" + boundary, the longest that matches), or -1. */
static long boundary_match(const struct imap_mime_parser *p, const char *l, size_t n)
{
	long best = -1;
	if (n < 2 || l[0] != '-' || l[1] != '-')
		return -1;
	for (size_t i = p->nb; i-- > 0;) {
		const struct boundary *b = &p->b[i];
		if (b->len <= n - 2 && memcmp(l + 2, b->text, b->len) == 0 &&
		    (best < 0 || p->b[best].len < b->len))
			best = (long)i;
	}
	return best;
}

static void boundary_line(struct imap_mime_parser *p, size_t k, const char *l, size_t n)
{
	struct imap_part *target = p->b[k].part;
	for (struct imap_part *part = p->cur; part != target; part = part->parent) {
		part_done(p, part);
		p->depth--;
	}
	p->cur = target;
	body_add(p, target, p->pend, p->npend); /* the line end before it is the boundary's */
	p->npend = 0;
	body_add(p, target, l, n);
	size_t blen = p->b[k].len;
	if (n >= blen + 4 && memcmp(l + 2 + blen, "--", 2) == 0) {
		pop_boundaries(p, k); /* the close delimiter: the epilogue follows */
		p->state = ST_BODY;
		return;
	}
	pop_boundaries(p, k + 1);
	if (p->nparts >= IMAP_MIME_PARTS_MAX) { /* the rest is the multipart's own data */
		p->state = ST_BODY;
		return;
	}
	p->cur = part_new(p, target, target->pos + target->header_size + target->body_size);
	p->cur->flags |= IMAP_PART_IS_MIME;
	p->depth++;
	p->state = ST_HEADER;
	p->prev_hdr_nl = 0;
}

static void body_line(struct imap_mime_parser *p, const char *l, size_t n)
{
	long k = p->nb > 0 ? boundary_match(p, l, n) : -1;
	if (k >= 0) {
		boundary_line(p, (size_t)k, l, n);
		return;
	}
	body_add(p, p->cur, p->pend, p->npend);
	p->npend = 0;
	size_t keep = 0;
	if (n >= 2 && l[n - 2] == '\r' && l[n - 1] == '\n')
		keep = 2;
	else if (n >= 1 && l[n - 1] == '\n')
		keep = 1;
	body_add(p, p->cur, l, n - keep);
	memcpy(p->pend, l + n - keep, keep);
	p->npend = keep;
}

static bool empty_line(const char *l, size_t n)
{
	return (n == 1 && l[0] == '\n') || (n == 2 && l[0] == '\r' && l[1] == '\n');
}

/* A header cut short by a boundary: the line end before the boundary is the
 * boundary's, in the parent's body (RFC 2046 5.1.1). */
static void header_cut(struct imap_mime_parser *p)
{
	struct imap_part *part = p->cur;
	if (p->prev_hdr_nl > 0 && part->parent != NULL && part->header_size >= p->prev_hdr_nl) {
		part->header_size -= p->prev_hdr_nl;
		part->header_lines--;
		part->parent->body_size += p->prev_hdr_nl;
		part->parent->body_lines++;
		if (p->hdr.len >= p->prev_hdr_nl)
			buf_truncate(&p->hdr, p->hdr.len - p->prev_hdr_nl);
	}
	p->prev_hdr_nl = 0;
}

static void process_line(struct imap_mime_parser *p, const char *l, size_t n)
{
	/* a boundary ends a header too; an embedded message's header may end this way
	 * twice in a row, at most once per nesting level */
	for (int guard = 0; p->state == ST_HEADER && guard <= IMAP_MIME_DEPTH_MAX + 1; guard++) {
		if (p->nb > 0 && boundary_match(p, l, n) >= 0) {
			header_cut(p);
			header_end(p, false);
			continue;
		}
		if (empty_line(l, n)) {
			header_add(p, l, n, IMAP_MIME_HEADER_END);
			header_end(p, true);
			return;
		}
		header_add(p, l, n, IMAP_MIME_HEADER);
		p->prev_hdr_nl =
		    n >= 2 && l[n - 2] == '\r' && l[n - 1] == '\n' ? 2 : (n >= 1 && l[n - 1] == '\n');
		return;
	}
	if (p->state == ST_BODY)
		body_line(p, l, n);
}

/* A piece of an overlong line, after its start: data of whatever holds it. */
static void process_piece(struct imap_mime_parser *p, const char *d, size_t n, bool line_ends)
{
	if (p->state == ST_HEADER) {
		header_add(p, d, n, IMAP_MIME_HEADER);
		if (line_ends)
			p->prev_hdr_nl = n >= 2 && d[n - 2] == '\r' ? 2 : 1;
		return;
	}
	size_t keep = 0;
	if (line_ends)
		keep = n >= 2 && d[n - 2] == '\r' ? 2 : 1;
	body_add(p, p->cur, d, n - keep);
	memcpy(p->pend, d + n - keep, keep);
	p->npend = keep;
}

struct imap_mime_parser *imap_mime_parser_new(imap_mime_cb cb, void *arg)
{
	struct imap_mime_parser *p = xcalloc(1, sizeof(*p));
	p->cb = cb;
	p->arg = arg;
	p->root = p->cur = part_new(p, NULL, 0);
	p->state = ST_HEADER;
	buf_init(&p->line, BUF_UNLIMITED);
	buf_init(&p->hdr, BUF_UNLIMITED);
	buf_init(&p->decoded, BUF_UNLIMITED);
	return p;
}

/* Passes the line held so far on as a piece (too long to keep whole). */
static void flush_long_line(struct imap_mime_parser *p)
{
	if (!p->midline) {
		process_line(p, p->line.data, p->line.len);
		p->midline = true;
	} else {
		process_piece(p, p->line.data, p->line.len, false);
	}
	buf_reset(&p->line);
}

void imap_mime_parse(struct imap_mime_parser *p, const char *data, size_t len)
{
	while (len > 0) {
		const char *lf = memchr(data, '\n', len);
		size_t take = lf != NULL ? (size_t)(lf - data) + 1 : len;
		if (!p->midline && p->line.len == 0 && lf != NULL && take <= LINE_MAX_KEPT) {
			process_line(p, data, take); /* the common case: a whole line, no copy */
		} else {
			/* lines are cut at LINE_MAX_KEPT whatever the pieces the input came in */
			size_t room = LINE_MAX_KEPT - p->line.len;
			if (take > room) {
				take = room;
				lf = NULL;
			}
			buf_put(&p->line, data, take);
			if (lf != NULL) {
				if (p->midline)
					process_piece(p, p->line.data, p->line.len, true);
				else
					process_line(p, p->line.data, p->line.len);
				p->midline = false;
				buf_reset(&p->line);
			} else if (p->line.len >= LINE_MAX_KEPT) {
				flush_long_line(p);
			}
		}
		data += take;
		len -= take;
	}
}

struct imap_part *imap_mime_parser_finish(struct imap_mime_parser *p)
{
	if (p->line.len > 0) { /* a last line without its line end */
		if (p->midline)
			process_piece(p, p->line.data, p->line.len, false);
		else
			process_line(p, p->line.data, p->line.len);
	}
	for (int guard = 0; p->state == ST_HEADER && guard <= IMAP_MIME_DEPTH_MAX + 1; guard++)
		header_end(p, false); /* a header that never ended (no body) */
	body_add(p, p->cur, p->pend, p->npend);
	for (struct imap_part *part = p->cur; part != NULL; part = part->parent)
		part_done(p, part);
	struct imap_part *root = p->root;
	pop_boundaries(p, 0);
	free(p->b);
	buf_free(&p->line);
	buf_free(&p->hdr);
	buf_free(&p->decoded);
	free(p);
	return root;
}

struct imap_part *imap_mime_parse_all(const char *data, size_t len)
{
	struct imap_mime_parser *p = imap_mime_parser_new(NULL, NULL);
	imap_mime_parse(p, data, len);
	return imap_mime_parser_finish(p);
}

void imap_parts_free(struct imap_part *root)
{
	if (root == NULL)
		return;
	struct imap_part *c = root->children;
	while (c != NULL) {
		struct imap_part *next = c->next;
		imap_parts_free(c);
		c = next;
	}
	free(root->header);
	free(root);
}

const struct imap_part *imap_part_find(const struct imap_part *root, const uint32_t *part, size_t depth)
{
	const struct imap_part *node = root;
	for (size_t i = 0; i < depth && node != NULL; i++) {
		bool more = i + 1 < depth;
		if (node->flags & IMAP_PART_MULTIPART) {
			node = node->children;
			for (uint32_t k = 1; k < part[i] && node != NULL; k++)
				node = node->next;
		} else if (part[i] != 1 || (more && !(node->flags & IMAP_PART_MESSAGE))) {
			return NULL; /* a single part has only "1", itself */
		}
		if (node != NULL && more && (node->flags & IMAP_PART_MESSAGE))
			node = node->children; /* going on inside the embedded message */
	}
	return node;
}
