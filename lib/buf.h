/* buf.h: the one growable byte string used everywhere.
 *
 * A buf always keeps a NUL byte after its data (so data is usable as a C string
 * when it holds no NUL), never grows past its limit, and aborts on out-of-memory
 * rather than returning NULL (Postfix VSTRING discipline). Binary data is fine:
 * len is authoritative. */
#ifndef MSS_BUF_H
#define MSS_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/check.h"

struct buf {
	char *data;   /* NUL-terminated, never NULL after buf_init */
	size_t len;   /* bytes of data, excluding the NUL */
	size_t cap;   /* allocated bytes, including room for the NUL */
	size_t limit; /* the most data bytes it may hold */
	bool refused; /* an append was refused at the limit since buf_init or buf_reset */
	bool wiped;   /* buf_init_wiped: its storage is overwritten whenever it goes */
};

#define BUF_UNLIMITED ((size_t)-1 / 2)

/* Initialises an empty buffer that holds at most limit bytes. */
void buf_init(struct buf *b, size_t limit);
/* As buf_init, for a peer's bytes in a process that serves other peers next (lib/master.h
 * reuse): nothing of it stays in freed memory. The storage is overwritten before it
 * goes, when the buffer grows (moved by hand, where realloc would leave a copy in the
 * heap) and when it is freed; from 128 KiB on it is a mapping of its own, moved by
 * mremap and unmapped. */
void buf_init_wiped(struct buf *b, size_t limit);
/* Frees the storage (overwritten first when the buffer was made by buf_init_wiped);
 * the buf may be buf_init'ed again. */
void buf_free(struct buf *b);
/* buf_free after overwriting the storage: what a connection's bytes passed through
 * must not stay in the memory of a process that serves the next one (lib/master.h
 * reuse). Earlier storage a growing buffer left behind is reached only by
 * buf_init_wiped. */
void buf_wipe(struct buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);
/* Appends n bytes. Returns 0, or -1 (nothing appended, refused set) if the limit would
 * be passed. refused lets a builder of many appends check once, at the end (as
 * ferror does for stdio): mss-webd's pages. */
MSS_MUST_CHECK int buf_append(struct buf *b, const void *p, size_t n);
MSS_MUST_CHECK int buf_append_str(struct buf *b, const char *s);
MSS_MUST_CHECK int buf_append_char(struct buf *b, char c);
/* Appends formatted text. Returns 0, or -1 (nothing appended) past the limit. */
MSS_MUST_CHECK int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
MSS_MUST_CHECK int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends to a buffer made with BUF_UNLIMITED, where an append cannot be refused (the
 * buffer aborts on out-of-memory instead): the output builders that hold a whole
 * answer in memory. A limited buffer here is a broken invariant, caught on the first
 * call whatever its length: logged, then abort() (str_assert). */
void buf_put(struct buf *b, const void *p, size_t n);
void buf_put_str(struct buf *b, const char *s);
void buf_put_char(struct buf *b, char c);
void buf_put_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes (all if n >= len). */
void buf_consume(struct buf *b, size_t n);
/* Shortens the data to n bytes (no-op if n >= len). */
void buf_truncate(struct buf *b, size_t n);
/* Makes room for at least n more bytes; returns 0 or -1 past the limit. The caller may
 * write into data + len and then call buf_added(). */
MSS_MUST_CHECK int buf_reserve(struct buf *b, size_t n);
void buf_added(struct buf *b, size_t n);
/* Returns a malloc'ed copy of the data as a C string (caller frees). */
char *buf_strdup(const struct buf *b);
/* Out-of-memory aware allocators: they never return NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xrealloc for a large array about to be written whole: its new pages are mapped in one
 * call rather than one page fault each (a 100,000-message IMAP view is 600 pages: 1 ms
 * of faults, issue 15). Where the kernel cannot (before Linux 5.14), they fault as usual. */
void *xrealloc_prefault(void *p, size_t n);

#endif
