/* vault_mime.c: MIME building blocks for the vault's messages (see vault_mime.h). */
#include "vault/vault_mime.h"

#include <sodium.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "lib/str.h"

static bool plain_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Length of the longest prefix of s, at most max bytes, that ends on a UTF-8
 * character boundary (an encoded word must hold whole characters, RFC 2047 5). */
static size_t utf8_cut(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n > 0 ? n : max;
}

/* Each encoded word holds whole characters and every line stays within 78
 * characters: the first one shares its line with "Name: ". */
static int encoded_words(struct buf *b, const char *v, size_t name_len)
{
	char b64[128];
	int rc = 0;
	size_t room = name_len + 2 + 12 < 66 ? 76 - (name_len + 2 + 12) : 12;
	bool first = true;
	while (*v && rc == 0) {
		size_t n = utf8_cut(v, first ? room / 4 * 3 : 45);
		sodium_bin2base64(b64, sizeof b64, (const unsigned char *)v, n,
		                  sodium_base64_VARIANT_ORIGINAL);
		rc = buf_printf(b, "%s=?UTF-8?B?%s?=", first ? "" : "\r\n ", b64);
		first = false;
		v += n;
	}
	return rc;
}

static size_t longest_word(const char *v)
{
	size_t best = 0;
	while (*v) {
		size_t n = strcspn(v, " ");
		best = n > best ? n : best;
		v += n;
		v += strspn(v, " ");
	}
	return best;
}

/* Folds at spaces so that lines stay near 78 characters (RFC 5322 2.1.1); a fold is
 * CRLF before an existing space, so unfolding gives the value back unchanged. */
static int fold_ascii(struct buf *b, const char *v, size_t col)
{
	while (*v) {
		size_t lead = strspn(v, " ");
		size_t word = strcspn(v + lead, " ");
		if (col > 1 && lead > 0 && col + lead + word > 78) {
			if (buf_append_str(b, "\r\n") != 0)
				return -1;
			col = 0;
		}
		if (buf_append(b, v, lead + word) != 0)
			return -1;
		col += lead + word;
		v += lead + word;
	}
	return 0;
}

/* Drops CR, LF and other controls: a header value is one logical line. */
static void clean_value(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (; *in && o + 1 < outlen; in++) {
		unsigned char c = (unsigned char)*in;
		out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	out[o] = '\0';
}

int mime_header(struct buf *b, const char *name, const char *value)
{
	char v[1024];
	clean_value(value ? value : "", v, sizeof v);
	if (buf_printf(b, "%s: ", name) != 0)
		return -1;
	if (plain_ascii(v) && longest_word(v) < 900) {
		if (fold_ascii(b, v, strlen(name) + 2) != 0)
			return -1;
	} else if (encoded_words(b, v, strlen(name)) != 0) {
		return -1;
	}
	return buf_append_str(b, "\r\n");
}

int mime_date_header(struct buf *b)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	/* Spelled out rather than strftime, which follows the locale. */
	return buf_printf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
	                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void mime_random_token(char out[33])
{
	unsigned char r[16];
	randombytes_buf(r, sizeof r);
	str_hex(out, r, sizeof r);
}

int mime_base64(struct buf *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	char line[80];
	/* 57 input bytes make exactly 76 base64 characters (RFC 2045 6.8). */
	while (len > 0) {
		size_t n = len > 57 ? 57 : len;
		sodium_bin2base64(line, sizeof line, p, n, sodium_base64_VARIANT_ORIGINAL);
		if (buf_append_str(b, line) != 0 || buf_append_str(b, "\r\n") != 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* name="file.pdf", or name*=utf-8''%C3%A9... (RFC 2231) when it is not plain ASCII. */
static int file_param(struct buf *b, const char *param, const char *filename)
{
	char f[512];
	clean_value(filename, f, sizeof f);
	if (plain_ascii(f) && !strpbrk(f, "\"\\"))
		return buf_printf(b, ";\r\n\t%s=\"%s\"", param, f);
	if (buf_printf(b, ";\r\n\t%s*=utf-8''", param) != 0)
		return -1;
	for (const unsigned char *p = (const unsigned char *)f; *p; p++) {
		bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		            (*p >= '0' && *p <= '9') || strchr("!#$&+-.^_`|~", *p);
		if ((keep ? buf_append_char(b, (char)*p) : buf_printf(b, "%%%02X", *p)) != 0)
			return -1;
	}
	return 0;
}

int mime_attachment(struct buf *b, const char *boundary, const char *mime, const char *filename,
                    const void *data, size_t len)
{
	if (buf_printf(b, "--%s\r\nContent-Type: %s", boundary, mime) != 0)
		return -1;
	if (filename[0] && file_param(b, "name", filename) != 0)
		return -1;
	if (buf_append_str(b, "\r\nContent-Disposition: attachment") != 0)
		return -1;
	if (filename[0] && file_param(b, "filename", filename) != 0)
		return -1;
	if (buf_append_str(b, "\r\nContent-Transfer-Encoding: base64\r\n\r\n") != 0)
		return -1;
	return mime_base64(b, data, len);
}

/* Quoted-printable (RFC 2045 6.7): '\n' becomes CRLF, soft breaks keep lines short. */
static int qp(struct buf *b, const char *text)
{
	size_t col = 0;
	int rc = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p && rc == 0; p++) {
		if (*p == '\n') {
			rc = buf_append_str(b, "\r\n");
			col = 0;
			continue;
		}
		bool lit =
		    (*p >= 33 && *p <= 126 && *p != '=') || (*p == ' ' && p[1] != '\n' && p[1] != '\0');
		size_t w = lit ? 1 : 3;
		if (col + w > 75) {
			rc = buf_append_str(b, "=\r\n");
			col = 0;
		}
		if (rc == 0)
			rc = lit ? buf_append_char(b, (char)*p) : buf_printf(b, "=%02X", *p);
		col += w;
	}
	return rc;
}

int mime_text_part(struct buf *b, const char *boundary, const char *text)
{
	if (buf_printf(b,
	               "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	               "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
	               boundary) != 0)
		return -1;
	if (qp(b, text) != 0)
		return -1;
	return buf_append_str(b, "\r\n");
}
