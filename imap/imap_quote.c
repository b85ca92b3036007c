/* imap_quote.c: IMAP quoted strings and literals (see imap_quote.h). */
#include "imap/imap_quote.h"

#include <sodium.h>
#include <string.h>

#include "lib/str.h"

/* Past this many '"' and '\', a literal is shorter than the escaped quoted string
 * ({n}CRLF costs about five bytes, each escape one). */
#define QUOTED_MAX_ESCAPES 4
#define QUOTED_MAX_LEN 1024 /* longer strings go as literals */

static void literal(struct buf *out, const char *s, size_t n)
{
	buf_put_printf(out, "{%zu}\r\n", n);
	size_t start = out->len;
	buf_put(out, s, n);
	for (size_t i = start; i < out->len; i++)
		if (out->data[i] == '\0')
			out->data[i] = (char)0x80; /* NUL is not a CHAR8 */
}

static void quoted(struct buf *out, const char *s, size_t n)
{
	buf_put_char(out, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_put_char(out, '\\');
		buf_put_char(out, s[i]);
	}
	buf_put_char(out, '"');
}

/* true when s[0..n) can be a quoted string. */
static bool quotable(const char *s, size_t n, bool utf8)
{
	unsigned escapes = 0;
	bool high = false;
	if (n > QUOTED_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' || c == '\n' || c == '\0')
			return false;
		if ((c == '"' || c == '\\') && ++escapes > QUOTED_MAX_ESCAPES)
			return false;
		high |= c >= 0x80;
	}
	return !high || (utf8 && str_is_utf8(s, n));
}

void imap_quote_string(struct buf *out, const char *s, size_t n, bool utf8)
{
	if (quotable(s, n, utf8))
		quoted(out, s, n);
	else
		literal(out, s, n);
}

void imap_quote_nstring_n(struct buf *out, const char *s, size_t n)
{
	if (s == NULL)
		buf_put_str(out, "NIL");
	else
		imap_quote_string(out, s, n, false);
}

void imap_quote_nstring(struct buf *out, const char *s)
{
	imap_quote_nstring_n(out, s, s != NULL ? strlen(s) : 0);
}

void imap_quote_nstring_nolf(struct buf *out, const char *s)
{
	if (s == NULL || strpbrk(s, "\r\n") == NULL) {
		imap_quote_nstring(out, s);
		return;
	}
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	for (const char *p = s; *p; p++) {
		if (*p != '\r' && *p != '\n')
			buf_put_char(&b, *p);
		else if (p[1] != ' ' && p[1] != '\t' && p[1] != '\r' && p[1] != '\n' && p[1] != '\0')
			buf_put_char(&b, ' '); /* keep the words of two lines apart */
	}
	imap_quote_nstring_n(out, b.data, b.len);
	buf_free(&b);
}

static bool lwsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void imap_quote_for_humans(struct buf *out, const char *s, size_t n)
{
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	bool space = false;
	for (size_t i = 0; i < n; i++) {
		if (lwsp(s[i])) {
			space = b.len > 0;
			continue;
		}
		if (space)
			buf_put_char(&b, ' ');
		space = false;
		buf_put_char(&b, s[i] == '\0' ? (char)0x80 : s[i]);
	}
	imap_quote_string(out, b.data, b.len, false);
	buf_free(&b);
}

/* Length of the longest prefix of s[0..n), at most max octets, that ends on a UTF-8
 * character boundary (an encoded word holds whole characters, RFC 2047 5). */
static size_t utf8_prefix(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t k = max;
	while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
		k--;
	return k > 0 ? k : max;
}

void imap_quote_encoded_words(struct buf *out, const char *s, size_t n)
{
	struct buf b;
	char b64[80];
	buf_init(&b, BUF_UNLIMITED);
	/* 45 octets make 60 base64 characters: "=?utf-8?b?" + 60 + "?=" = 72 <= 75 */
	while (n > 0) {
		size_t k = utf8_prefix(s, n, 45);
		sodium_bin2base64(b64, sizeof b64, (const unsigned char *)s, k,
		                  sodium_base64_VARIANT_ORIGINAL);
		buf_put_printf(&b, "%s=?utf-8?b?%s?=", b.len > 0 ? " " : "", b64);
		s += k;
		n -= k;
	}
	imap_quote_string(out, b.data, b.len, false);
	buf_free(&b);
}

static bool astring_char(unsigned char c)
{
	/* ATOM-CHAR or resp-specials (RFC 9051 9) */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\", c) == NULL;
}

void imap_quote_astring(struct buf *out, const char *s, bool utf8)
{
	size_t n = strlen(s);
	bool atom = n > 0 && !str_ieq(s, "NIL");
	for (size_t i = 0; atom && i < n; i++)
		atom = astring_char((unsigned char)s[i]);
	if (atom)
		buf_put(out, s, n);
	else
		imap_quote_string(out, s, n, utf8);
}
