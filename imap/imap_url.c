/* imap_url.c: IMAP URLs naming a message or a part (see imap_url.h; RFC 5092 section
 * 6's grammar, the "imessagepart" form). */
#include "imap/imap_url.h"

#include <string.h>

#include "lib/str.h"

struct cursor {
	const char *p, *end;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX escapes of in[0..n) into out (NUL-terminated). A raw space, and a NUL
 * or control octet escaped or not, are refused. Returns 0 or -1. */
static int decode(const char *in, size_t n, char *out, size_t outlen)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)in[i];
		if (c == ' ')
			return -1;
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || k + 1 >= outlen)
			return -1;
		out[k++] = (char)c;
	}
	out[k] = '\0';
	return 0;
}

/* Case-insensitive: does the cursor start with word? Advances past it when so. */
static bool take(struct cursor *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || !str_ieqn(c->p, word, n))
		return false;
	c->p += n;
	return true;
}

/* Digits at the cursor into *v (at most max). Returns 0, or -1 when none or too big. */
static int number(struct cursor *c, uint64_t max, uint64_t *v)
{
	*v = 0;
	const char *start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		*v = *v * 10 + (uint64_t)(*c->p - '0');
		if (*v > max)
			return -1;
		c->p++;
	}
	return c->p == start ? -1 : 0;
}

/* The first occurrence of word (case-insensitive) in [p, end), or NULL. */
static const char *find(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);
	for (; (size_t)(end - p) >= n; p++)
		if (str_ieqn(p, word, n))
			return p;
	return NULL;
}

static int server_part(struct cursor *c, struct imap_url *out)
{
	if (!take(c, "imap://"))
		return 0;
	const char *slash = memchr(c->p, '/', (size_t)(c->end - c->p));
	if (slash == NULL || slash == c->p || (size_t)(slash - c->p) >= sizeof(out->server))
		return -1;
	memcpy(out->server, c->p, (size_t)(slash - c->p));
	out->server[slash - c->p] = '\0';
	c->p = slash;
	return 0;
}

/* "/" enc-mailbox [";UIDVALIDITY=" nz-number], up to "/;UID=". */
static int mailbox_part(struct cursor *c, struct imap_url *out)
{
	if (!take(c, "/"))
		return -1;
	const char *uid = find(c->p, c->end, "/;uid=");
	if (uid == NULL || uid == c->p)
		return -1;
	const char *mend = uid;
	const char *v = find(c->p, uid, ";uidvalidity=");
	if (v != NULL) {
		struct cursor n = {v + strlen(";uidvalidity="), uid};
		uint64_t val;
		if (number(&n, UINT32_MAX, &val) < 0 || n.p != uid || val == 0)
			return -1;
		out->uidvalidity = (uint32_t)val;
		mend = v;
	}
	if (mend == c->p || decode(c->p, (size_t)(mend - c->p), out->mailbox, sizeof(out->mailbox)) < 0)
		return -1;
	c->p = uid + strlen("/;uid=");
	uint64_t u;
	if (number(c, UINT32_MAX, &u) < 0 || u == 0)
		return -1;
	out->uid = (uint32_t)u;
	return 0;
}

/* Where a parameter value ends: at the next ';' (not a bchar, RFC 5092), before the
 * '/' of a following "/;". */
static const char *value_end(const struct cursor *c)
{
	const char *end = memchr(c->p, ';', (size_t)(c->end - c->p));
	if (end == NULL)
		return c->end;
	return end > c->p && end[-1] == '/' ? end - 1 : end;
}

static int section_part(struct cursor *c, struct imap_url *out)
{
	if (!take(c, "/;section="))
		return 0;
	const char *end = value_end(c);
	if (end == c->p || decode(c->p, (size_t)(end - c->p), out->section, sizeof(out->section)) < 0)
		return -1;
	c->p = end;
	return 0;
}

static int partial_part(struct cursor *c, struct imap_url *out)
{
	if (!take(c, "/;partial="))
		return 0;
	out->partial = true;
	if (number(c, UINT64_MAX / 16, &out->partial_off) < 0)
		return -1;
	if (take(c, ".") && (number(c, UINT64_MAX / 16, &out->partial_len) < 0 || out->partial_len == 0))
		return -1;
	return 0;
}

/* Copies [p, end) into out (NUL-terminated, non-empty, no control octet). 0 or -1. */
static int copy_token(const char *p, const char *end, char *out, size_t outlen)
{
	if (end == p || (size_t)(end - p) >= outlen)
		return -1;
	for (const char *k = p; k < end; k++)
		if ((unsigned char)*k <= 0x20 || *k == 0x7f)
			return -1;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return 0;
}

/* [";EXPIRE=" date-time] ";URLAUTH=" access [":" mechanism ":" token] (RFC 4467). */
static int urlauth_part(struct cursor *c, const char *url, struct imap_url *out)
{
	if (take(c, ";expire=")) {
		const char *end = value_end(c);
		if (copy_token(c->p, end, out->expire, sizeof(out->expire)) < 0)
			return -1;
		c->p = end;
	}
	if (!take(c, ";urlauth="))
		return out->expire[0] != '\0' ? -1 : 0; /* EXPIRE only comes with URLAUTH */
	const char *colon = memchr(c->p, ':', (size_t)(c->end - c->p));
	const char *aend = colon != NULL ? colon : c->end;
	if (aend == c->p || decode(c->p, (size_t)(aend - c->p), out->access, sizeof(out->access)) < 0)
		return -1;
	out->rump_len = (size_t)(aend - url);
	c->p = aend;
	if (colon == NULL)
		return 0;
	const char *mend = memchr(colon + 1, ':', (size_t)(c->end - colon - 1));
	if (mend == NULL || copy_token(colon + 1, mend, out->mechanism, sizeof(out->mechanism)) < 0 ||
	    copy_token(mend + 1, c->end, out->token, sizeof(out->token)) < 0)
		return -1;
	c->p = c->end;
	return 0;
}

int imap_url_parse(const char *url, size_t len, struct imap_url *out)
{
	memset(out, 0, sizeof(*out));
	struct cursor c = {url, url + len};
	if (server_part(&c, out) < 0 || mailbox_part(&c, out) < 0 || section_part(&c, out) < 0 ||
	    partial_part(&c, out) < 0 || urlauth_part(&c, url, out) < 0)
		return -1;
	return c.p == c.end ? 0 : -1;
}
