/* imap_mutf7.c: modified UTF-7 (RFC 3501 5.1.3) <-> UTF-8. */
#include "imap/imap_mutf7.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(unsigned char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

static int put_utf8(struct buf *out, uint32_t cp)
{
	char t[4];
	size_t n;
	if (cp < 0x80) {
		t[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		t[0] = (char)(0xf0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, t, n);
}

/* Decodes one base64 run (between '&' and '-') of UTF-16BE. */
static int decode_run(const char *s, size_t n, struct buf *out)
{
	uint32_t bits = 0, high = 0;
	int nbits = 0;
	size_t units = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value((unsigned char)s[i]);
		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
		if (high) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			if (put_utf8(out, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00)) < 0)
				return -1;
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1;
		} else if ((u >= 0x20 && u <= 0x7e) || u == 0) {
			return -1; /* printable ASCII must be written as itself; no NUL in names */
		} else if (put_utf8(out, u) < 0) {
			return -1;
		}
	}
	/* leftover bits must be fewer than 6 and zero; no half surrogate pair */
	if (high || nbits >= 6 || bits != 0 || units == 0)
		return -1;
	return 0;
}

int mutf7_decode(const char *in, struct buf *out)
{
	const char *p = in;
	bool prev_run = false;
	while (*p) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			if (buf_append_char(out, (char)c) < 0)
				return -1;
			p++;
			prev_run = false;
			continue;
		}
		const char *end = strchr(p + 1, '-');
		if (end == NULL)
			return -1;
		if (end == p + 1) {
			if (buf_append_char(out, '&') < 0)
				return -1;
			prev_run = false;
		} else {
			if (prev_run) /* "&AAA-&BBB-" must have been one run */
				return -1;
			if (decode_run(p + 1, (size_t)(end - p - 1), out) < 0)
				return -1;
			prev_run = true;
		}
		p = end + 1;
	}
	return 0;
}

/* Reads one UTF-8 code point, strictly (no overlongs, surrogates, > U+10FFFF). */
static int get_utf8(const unsigned char **pp, uint32_t *cp)
{
	const unsigned char *p = *pp;
	uint32_t c = p[0];
	int n;
	uint32_t min;
	if (c < 0x80) {
		*cp = c;
		*pp = p + 1;
		return 0;
	} else if ((c & 0xe0) == 0xc0) {
		n = 1, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3, c &= 0x07, min = 0x10000;
	} else {
		return -1;
	}
	for (int i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*cp = c;
	*pp = p + n + 1;
	return 0;
}

static int flush_bits(struct buf *out, uint32_t *bits, int *nbits)
{
	while (*nbits >= 6) {
		*nbits -= 6;
		if (buf_append_char(out, b64[(*bits >> *nbits) & 0x3f]) < 0)
			return -1;
	}
	return 0;
}

int mutf7_encode(const char *in, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	while (*p) {
		if (*p >= 0x20 && *p <= 0x7e) {
			if ((*p == '&' ? buf_append_str(out, "&-") : buf_append_char(out, (char)*p)) < 0)
				return -1;
			p++;
			continue;
		}
		/* a run of non-printable-ASCII characters */
		if (buf_append_char(out, '&') < 0)
			return -1;
		uint32_t bits = 0;
		int nbits = 0;
		while (*p && !(*p >= 0x20 && *p <= 0x7e)) {
			uint32_t cp;
			if (get_utf8(&p, &cp) < 0)
				return -1;
			uint32_t units[2];
			int nu = 1;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = 0xd800 + (cp >> 10);
				units[1] = 0xdc00 + (cp & 0x3ff);
				nu = 2;
			} else {
				units[0] = cp;
			}
			for (int i = 0; i < nu; i++) {
				bits = (bits << 16) | units[i];
				nbits += 16;
				if (flush_bits(out, &bits, &nbits) < 0)
					return -1;
				bits &= (1u << nbits) - 1;
			}
		}
		if ((nbits > 0 && buf_append_char(out, b64[(bits << (6 - nbits)) & 0x3f]) < 0) ||
		    buf_append_char(out, '-') < 0)
			return -1;
	}
	return 0;
}
