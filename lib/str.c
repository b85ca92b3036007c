/* str.c: bounded string helpers (see str.h). */

#include "lib/str.h"

#include "lib/log.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int str_copy(char *dst, size_t dstlen, const char *src)
{
	if (dstlen == 0)
		return -1;
	size_t n = strlen(src);
	if (n >= dstlen) {
		memcpy(dst, src, dstlen - 1);
		dst[dstlen - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int str_format(char *dst, size_t dstlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(dst, dstlen, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= dstlen) ? -1 : 0;
}

void str_error(char *dst, size_t dstlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (dstlen > 0 && vsnprintf(dst, dstlen, fmt, ap) < 0)
		dst[0] = '\0';
	va_end(ap);
}

bool str_copy_display(char *dst, size_t dstlen, const char *src)
{
	if (dstlen == 0 || str_copy(dst, dstlen, src) == 0)
		return dstlen == 0 && src[0] != '\0';
	static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */
	size_t n = dstlen > sizeof ellipsis ? dstlen - sizeof ellipsis : 0;
	while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80) /* src[n] continues a character */
		n--;
	if (dstlen > sizeof ellipsis - 1 + n) {
		memcpy(dst + n, ellipsis, sizeof ellipsis - 1);
		n += sizeof ellipsis - 1;
	}
	dst[n] = '\0';
	return true;
}

void str_assert(int rc, const char *why)
{
	if (rc == 0)
		return;
	log_err("panic", "error=\"a copy that cannot be cut was cut: %s\"", why);
	abort();
}

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

bool str_ieqn(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
		if (a[i] == '\0')
			return true;
	}
	return true;
}

bool str_ieq(const char *a, const char *b)
{
	size_t la = strlen(a);
	return la == strlen(b) && str_ieqn(a, b, la);
}

bool str_iprefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	return strlen(s) >= n && str_ieqn(s, prefix, n);
}

char *str_trim(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	size_t i = strspn(s, " \t");
	if (i > 0)
		memmove(s, s + i, n - i + 1);
	return s;
}

char *str_lower(char *s)
{
	for (char *p = s; *p; p++)
		*p = (char)lower((unsigned char)*p);
	return s;
}

int str_to_u64(const char *s, uint64_t max, uint64_t *out)
{
	if (*s < '0' || *s > '9')
		return -1;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

bool str_secret_eq(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

bool str_is_address(const char *s)
{
	size_t n = strlen(s);
	if (n < 3 || n > 254)
		return false;
	const char *at = strrchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(s, '@') != at)
		return false;
	/* RFC 6531 addresses: UTF-8 beyond ASCII, well-formed and without C1 controls
	 * (U+0080..U+009F, encoded C2 80..C2 9F) */
	if (!str_is_utf8(s, n))
		return false;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == 0xc2 && (unsigned char)p[1] < 0xa0)
			return false;
		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
		    c == ';' || c == ':' || c == '\\' || c == '"' || c == '[' || c == ']')
			return false;
	}
	const char *dom = at + 1;
	if (dom[0] == '.' || dom[strlen(dom) - 1] == '.' || strstr(dom, "..") != NULL)
		return false;
	return s[0] != '.' && at[-1] != '.';
}

const char *str_address_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : "";
}

bool str_list_contains(const char *list, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list;
	while (*p) {
		p += strspn(p, " ,\t");
		size_t n = strcspn(p, " ,\t");
		if (n == wl && n > 0 && str_ieqn(p, word, n))
			return true;
		p += n;
	}
	return false;
}

void str_hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* RFC 3629: rejects overlong forms, surrogates and code points above U+10FFFF. */
bool str_is_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		size_t len;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}
