/* imap_header.c: header fields of a header block (see imap_header.h). */
#include "imap/imap_header.h"

#include <string.h>

#include "lib/str.h"

void imap_header_iter_init(struct imap_header_iter *it, const char *block, size_t len)
{
	it->p = block;
	it->end = block + len;
}

/* The end of the line at p (after its LF), or end. */
static const char *line_end(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	return lf != NULL ? lf + 1 : end;
}

static bool is_empty_line(const char *p, const char *end)
{
	return (p < end && *p == '\n') || (end - p >= 2 && p[0] == '\r' && p[1] == '\n');
}

int imap_header_next(struct imap_header_iter *it, struct imap_header_field *f)
{
	/* continuation lines with no field before them are skipped */
	while (it->p < it->end && (*it->p == ' ' || *it->p == '\t'))
		it->p = line_end(it->p, it->end);
	if (it->p >= it->end || is_empty_line(it->p, it->end))
		return 0;
	const char *start = it->p, *q = line_end(start, it->end);
	while (q < it->end && (*q == ' ' || *q == '\t'))
		q = line_end(q, it->end);
	f->raw = start;
	f->raw_len = (size_t)(q - start);
	const char *first_end = line_end(start, q);
	const char *colon = memchr(start, ':', (size_t)(first_end - start));
	if (colon == NULL) { /* a broken line: all name, no value */
		size_t n = (size_t)(first_end - start);
		while (n > 0 && (start[n - 1] == '\n' || start[n - 1] == '\r'))
			n--;
		f->name = start;
		f->name_len = n;
		f->value = q;
		f->value_len = 0;
	} else {
		size_t n = (size_t)(colon - start);
		while (n > 0 && (start[n - 1] == ' ' || start[n - 1] == '\t'))
			n--;
		f->name = start;
		f->name_len = n;
		const char *v = colon + 1;
		while (v < q && (*v == ' ' || *v == '\t'))
			v++;
		f->value = v;
		f->value_len = (size_t)(q - v);
	}
	it->p = q;
	return 1;
}

bool imap_header_is(const struct imap_header_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && str_ieqn(f->name, name, n);
}

void imap_header_unfold(const char *value, size_t len, struct buf *out)
{
	size_t start = out->len;
	for (size_t i = 0; i < len; i++)
		if (value[i] != '\r' && value[i] != '\n')
			buf_put_char(out, value[i]);
	while (out->len > start && (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t'))
		buf_truncate(out, out->len - 1);
}

char *imap_header_get(const char *block, size_t len, const char *name)
{
	struct imap_header_iter it;
	struct imap_header_field f;
	imap_header_iter_init(&it, block, len);
	while (imap_header_next(&it, &f) == 1) {
		if (!imap_header_is(&f, name))
			continue;
		struct buf b;
		buf_init(&b, BUF_UNLIMITED);
		imap_header_unfold(f.value, f.value_len, &b);
		char *v = buf_strdup(&b);
		buf_free(&b);
		return v;
	}
	return NULL;
}
