/* buf.c: the growable byte string (see buf.h). */

#include "lib/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/str.h"

static void out_of_memory(size_t n)
{
	/* Continuing without memory would turn into a worse failure later. */
	fprintf(stderr, "mss: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		out_of_memory(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		out_of_memory(n * size);
	return p;
}

void *xrealloc_prefault(void *p, size_t n)
{
	void *q = xrealloc(p, n);
#ifdef MADV_POPULATE_WRITE
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t from = ((uintptr_t)q + page - 1) & ~(page - 1), to = ((uintptr_t)q + n) & ~(page - 1);
	if (to > from)
		(void)madvise((void *)from, to - from, MADV_POPULATE_WRITE); /* an advice: faults as usual */
#endif
	return q;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		out_of_memory(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void buf_init(struct buf *b, size_t limit)
{
	b->cap = 64;
	b->data = xmalloc(b->cap);
	b->data[0] = '\0';
	b->len = 0;
	b->limit = limit > BUF_UNLIMITED ? BUF_UNLIMITED : limit;
	b->refused = false;
	b->wiped = false;
}

void buf_init_wiped(struct buf *b, size_t limit)
{
	buf_init(b, limit);
	b->wiped = true;
}

/* A buf_init_wiped buffer of BUF_WIPED_MAP bytes or more has a mapping of its own
 * (wiped_grow): realloc would copy it through the heap, or mremap it without saying;
 * moved by mremap the pages leave nothing behind, and munmap gives them back to the
 * kernel, which zeroes them before anyone maps them again. */
#define BUF_WIPED_MAP (128 * 1024)

static bool wiped_mapped(const struct buf *b)
{
	return b->wiped && b->cap >= BUF_WIPED_MAP;
}

void buf_free(struct buf *b)
{
	if (b->data != NULL && wiped_mapped(b)) {
		munmap(b->data, b->cap);
	} else {
		if (b->wiped && b->data != NULL)
			explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_wipe(struct buf *b)
{
	if (!b->wiped && b->data != NULL) /* a wiped one is overwritten (or unmapped) by buf_free */
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

/* buf_reserve for a buf_init_wiped buffer: to cap bytes, its old storage overwritten or
 * its pages moved, never left in the heap as realloc would. */
static void wiped_grow(struct buf *b, size_t cap)
{
	char *moved;

	if (cap < BUF_WIPED_MAP) {
		moved = xmalloc(cap);
		memcpy(moved, b->data, b->len + 1);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	} else if (wiped_mapped(b)) {
		moved = mremap(b->data, b->cap, cap, MREMAP_MAYMOVE);
		if (moved == MAP_FAILED)
			out_of_memory(cap);
	} else {
		moved = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (moved == MAP_FAILED)
			out_of_memory(cap);
		memcpy(moved, b->data, b->len + 1);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = moved;
	b->cap = cap;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
	b->refused = false;
}

int buf_reserve(struct buf *b, size_t n)
{
	if (n > b->limit - b->len) {
		b->refused = true;
		return -1;
	}
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap;
	while (cap < need)
		cap = cap > BUF_UNLIMITED / 2 ? need : cap * 2;
	if (b->wiped) { /* realloc would free the old storage as it is */
		wiped_grow(b, cap);
		return 0;
	}
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

void buf_added(struct buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	buf_added(b, n);
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	buf_added(b, (size_t)n);
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

static void put_done(const struct buf *b, int rc)
{
	str_assert(b->limit != BUF_UNLIMITED ? -1 : rc, "buf_put_* into a BUF_UNLIMITED buffer");
}

void buf_put(struct buf *b, const void *p, size_t n)
{
	put_done(b, buf_append(b, p, n));
}

void buf_put_str(struct buf *b, const char *s)
{
	put_done(b, buf_append_str(b, s));
}

void buf_put_char(struct buf *b, char c)
{
	put_done(b, buf_append_char(b, c));
}

void buf_put_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	put_done(b, buf_vprintf(b, fmt, ap));
	va_end(ap);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void buf_truncate(struct buf *b, size_t n)
{
	if (n >= b->len)
		return;
	b->len = n;
	b->data[n] = '\0';
}

char *buf_strdup(const struct buf *b)
{
	return xstrndup(b->data, b->len);
}
