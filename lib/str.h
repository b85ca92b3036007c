/* str.h: bounded string helpers; no strcpy/strcat/sprintf anywhere else. */
#ifndef MSS_STR_H
#define MSS_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/check.h"

/* Copies src into dst of size dstlen, always NUL-terminating.
 * Returns 0, or -1 if src did not fit (dst then holds a truncated copy). */
MSS_MUST_CHECK int str_copy(char *dst, size_t dstlen, const char *src);
/* snprintf that returns 0, or -1 on truncation or error. */
MSS_MUST_CHECK int str_format(char *dst, size_t dstlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes human-readable error text (the err/errlen out-parameter of a failing function)
 * into dst. A cut message is still a message, so this one may truncate and returns
 * nothing; never use it for data (names, addresses, paths, protocol text). dstlen 0
 * writes nothing. */
void str_error(char *dst, size_t dstlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* For text shown to people and never compared (a document's title, an author's name):
 * copies src, or when it does not fit, its start cut at a UTF-8 character boundary and
 * followed by "…", so that the reader sees the cut. Returns true when it was shortened.
 * Never for names, addresses, identifiers or protocol text (use str_copy there). */
bool str_copy_display(char *dst, size_t dstlen, const char *src);
/* For a copy that cannot be cut, written as str_assert(str_copy(...), "why") (or around a
 * buf_* append to an unlimited buffer): the
 * reason (a constant into a larger buffer, a field copied into one of its own size) is
 * the second argument. A cut there is a broken invariant: logs it and aborts. */
void str_assert(int rc, const char *why);
/* ASCII case-insensitive comparisons (protocol keywords, domains). */
bool str_ieq(const char *a, const char *b);
bool str_ieqn(const char *a, const char *b, size_t n);
bool str_iprefix(const char *s, const char *prefix);
/* Removes leading and trailing spaces and tabs in place; returns s. */
char *str_trim(char *s);
/* Lowercases ASCII letters in place; returns s. */
char *str_lower(char *s);
/* Parses a whole decimal number in [min, max]; returns 0 or -1. */
int str_to_u64(const char *s, uint64_t max, uint64_t *out);
/* Constant-time comparison of two equal-length secrets (libsodium sodium_memcmp). */
bool str_secret_eq(const void *a, const void *b, size_t n);
/* Checks that s is a plausible mail address local@domain (ASCII or, RFC 6531, UTF-8
 * without C1 controls; no spaces or controls, one '@', non-empty parts, at most 254
 * octets). Nothing is normalised: two spellings are two addresses. */
bool str_is_address(const char *s);
/* Returns the domain part of an address (after the last '@'), or "" */
const char *str_address_domain(const char *addr);
/* Checks whether word occurs in a comma/space separated list (case-insensitive). */
bool str_list_contains(const char *list, const char *word);
/* Hex encodes n bytes into out (2n+1 bytes). */
void str_hex(char *out, const unsigned char *in, size_t n);
/* True when the n bytes are valid UTF-8. */
bool str_is_utf8(const char *s, size_t n);

#endif
