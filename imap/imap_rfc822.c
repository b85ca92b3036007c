/* imap_rfc822.c: RFC 5322 / RFC 2045 / RFC 2231 header value tokens (see imap_rfc822.h). */
#include "imap/imap_rfc822.h"

#include <stdlib.h>
#include <string.h>

#include "lib/str.h"

#define COMMENT_DEPTH_MAX 64 /* nested comments deeper than this are refused */

void rfc822_init(struct rfc822_parser *ps, const void *data, size_t len, struct buf *last_comment)
{
	ps->p = data;
	ps->end = ps->p + len;
	ps->last_comment = last_comment;
}

bool rfc822_is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true; /* UTF-8 in headers (RFC 6532) */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* RFC 2045 tspecials, plus SPACE and CTLs. */
static bool is_mime_token_char(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* A comment at p ('('): skipped, its text kept in last_comment. Returns 1, 0, -1. */
static int skip_comment(struct rfc822_parser *ps)
{
	int depth = 0;
	if (ps->last_comment != NULL)
		buf_reset(ps->last_comment);
	for (; ps->p < ps->end; ps->p++) {
		unsigned char c = *ps->p;
		if (c == '(') {
			if (++depth > COMMENT_DEPTH_MAX)
				return -1;
			if (depth == 1)
				continue;
		} else if (c == ')') {
			if (--depth == 0) {
				ps->p++;
				return ps->p < ps->end ? 1 : 0;
			}
		} else if (c == '\\' && ps->p + 1 < ps->end) {
			c = *++ps->p;
		} else if (c == '\r' || c == '\n') {
			continue; /* folding */
		}
		if (ps->last_comment != NULL)
			str_assert(buf_append_char(ps->last_comment, (char)c),
			           "last_comment is BUF_UNLIMITED (imap_rfc822.h)");
	}
	return -1; /* unterminated */
}

int rfc822_skip_lwsp(struct rfc822_parser *ps)
{
	while (ps->p < ps->end) {
		unsigned char c = *ps->p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			ps->p++;
			continue;
		}
		if (c != '(')
			return 1;
		if (skip_comment(ps) < 0)
			return -1;
	}
	return 0;
}

int rfc822_parse_atom(struct rfc822_parser *ps, struct buf *out)
{
	const unsigned char *start = ps->p;
	while (ps->p < ps->end && rfc822_is_atext(*ps->p))
		ps->p++;
	if (ps->p == start || buf_append(out, start, (size_t)(ps->p - start)) < 0)
		return -1;
	return rfc822_skip_lwsp(ps);
}

int rfc822_parse_dot_atom(struct rfc822_parser *ps, struct buf *out)
{
	int rc = rfc822_parse_atom(ps, out);
	while (rc > 0 && *ps->p == '.') {
		if (buf_append_char(out, '.') < 0)
			return -1;
		ps->p++;
		if ((rc = rfc822_skip_lwsp(ps)) <= 0)
			return rc < 0 ? -1 : 0;
		rc = rfc822_parse_atom(ps, out);
	}
	return rc;
}

int rfc822_parse_quoted_string(struct rfc822_parser *ps, struct buf *out)
{
	if (ps->p >= ps->end || *ps->p != '"')
		return -1;
	for (ps->p++; ps->p < ps->end; ps->p++) {
		unsigned char c = *ps->p;
		if (c == '"') {
			ps->p++;
			return rfc822_skip_lwsp(ps);
		}
		if (c == '\r' || c == '\n')
			continue; /* folding: the white space after it stays */
		if (c == '\\' && ps->p + 1 < ps->end)
			c = *++ps->p;
		if (buf_append_char(out, (char)c) < 0)
			return -1;
	}
	return -1;
}

/* atext and '.' (obs-phrase allows dots between words: "Dr. J. Who"). */
static int parse_atom_or_dot(struct rfc822_parser *ps, struct buf *out)
{
	const unsigned char *start = ps->p;
	while (ps->p < ps->end && (rfc822_is_atext(*ps->p) || *ps->p == '.'))
		ps->p++;
	if (ps->p == start || buf_append(out, start, (size_t)(ps->p - start)) < 0)
		return -1;
	return rfc822_skip_lwsp(ps);
}

int rfc822_parse_phrase(struct rfc822_parser *ps, struct buf *out)
{
	if (ps->p >= ps->end)
		return 0;
	if (*ps->p == '.')
		return -1;
	for (;;) {
		int rc = *ps->p == '"' ? rfc822_parse_quoted_string(ps, out) : parse_atom_or_dot(ps, out);
		if (rc <= 0)
			return rc;
		if (!rfc822_is_atext(*ps->p) && *ps->p != '"' && *ps->p != '.')
			return 1;
		if (buf_append_char(out, ' ') < 0)
			return -1;
	}
}

static int parse_domain_literal(struct rfc822_parser *ps, struct buf *out)
{
	const unsigned char *start = ps->p;
	for (; ps->p < ps->end; ps->p++) {
		if (*ps->p == '\\' && ps->p + 1 < ps->end) {
			ps->p++;
			continue;
		}
		if (*ps->p == ']') {
			ps->p++;
			if (buf_append(out, start, (size_t)(ps->p - start)) < 0)
				return -1;
			return rfc822_skip_lwsp(ps);
		}
	}
	return -1;
}

int rfc822_parse_domain(struct rfc822_parser *ps, struct buf *out)
{
	if (ps->p >= ps->end || *ps->p != '@')
		return -1;
	ps->p++;
	int rc = rfc822_skip_lwsp(ps);
	if (rc <= 0)
		return -1;
	if (*ps->p == '[')
		return parse_domain_literal(ps, out);
	return rfc822_parse_dot_atom(ps, out);
}

int rfc822_parse_mime_token(struct rfc822_parser *ps, struct buf *out)
{
	const unsigned char *start = ps->p;
	while (ps->p < ps->end && is_mime_token_char(*ps->p))
		ps->p++;
	if (ps->p == start || buf_append(out, start, (size_t)(ps->p - start)) < 0)
		return -1;
	return rfc822_skip_lwsp(ps);
}

int rfc822_parse_content_type(struct rfc822_parser *ps, struct buf *out)
{
	int rc = rfc822_parse_mime_token(ps, out);
	if (rc <= 0 || *ps->p != '/' || buf_append_char(out, '/') < 0)
		return -1;
	ps->p++;
	if (rfc822_skip_lwsp(ps) <= 0)
		return -1;
	return rfc822_parse_mime_token(ps, out);
}

/* ---- parameters ---- */

#define PARAM_NAME_MAX 1024 /* a longer name is a broken parameter, skipped */

struct raw_param {
	char *name; /* without the RFC 2231 section suffix */
	char *value;
	unsigned idx;
	bool section;  /* name*N */
	bool extended; /* name*= or name*N*= */
};

/* "; name=value": returns 1 with one parameter read, 0 at the end, -1 broken. */
static int parse_one_param(struct rfc822_parser *ps, struct buf *name, struct buf *value)
{
	buf_reset(name);
	buf_reset(value);
	if (ps->p >= ps->end)
		return 0;
	if (*ps->p != ';')
		return -1;
	ps->p++;
	if (rfc822_skip_lwsp(ps) <= 0)
		return 0; /* a trailing ';' */
	if (rfc822_parse_mime_token(ps, name) <= 0 || *ps->p != '=')
		return -1;
	ps->p++;
	if (rfc822_skip_lwsp(ps) <= 0)
		return 1; /* "name=" at the end: empty value */
	int rc = *ps->p == '"' ? rfc822_parse_quoted_string(ps, value) : rfc822_parse_mime_token(ps, value);
	return rc < 0 ? -1 : 1;
}

/* Splits an RFC 2231 name ("title*1*") into rp. */
static void split_2231(const char *name, struct raw_param *rp)
{
	const char *star = strchr(name, '*');
	memset(rp, 0, sizeof(*rp));
	if (star == NULL) {
		rp->name = xstrdup(name);
		return;
	}
	const char *q = star + 1;
	if (*q >= '0' && *q <= '9') {
		rp->section = true;
		while (*q >= '0' && *q <= '9' && rp->idx < 100000)
			rp->idx = rp->idx * 10 + (unsigned)(*q++ - '0');
	}
	if (*q == '*') {
		rp->extended = true;
		q++;
	}
	if (*q != '\0') { /* not RFC 2231 after all: keep the name whole */
		memset(rp, 0, sizeof(*rp));
		rp->name = xstrdup(name);
		return;
	}
	rp->name = xmalloc((size_t)(star - name) + 1);
	memcpy(rp->name, name, (size_t)(star - name));
	rp->name[star - name] = '\0';
}

static void push(struct rfc822_param **v, size_t *n, const char *name, const char *value)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].name = xstrdup(name);
	(*v)[*n].value = xstrdup(value);
	(*n)++;
}

static bool is_section_of(const struct raw_param *rp, const bool *done, size_t j, const char *key)
{
	return !done[j] && (rp[j].section || rp[j].extended) && str_ieq(rp[j].name, key);
}

/* The raw parameter holding section want of key, or nrp. */
static size_t find_section(const struct raw_param *rp, size_t nrp, const bool *done, const char *key,
                           unsigned want)
{
	for (size_t j = 0; j < nrp; j++)
		if (is_section_of(rp, done, j, key) && (rp[j].section ? rp[j].idx : 0) == want)
			return j;
	return nrp;
}

static int append_2231_escaped(struct buf *b, const char *s)
{
	int rc = 0;
	for (; *s != '\0'; s++)
		rc |= *s == '%' ? buf_append_str(b, "%25") : buf_append_char(b, *s);
	return rc;
}

/* Joins the RFC 2231 sections of rp[first]'s name when their indexes run 0, 1, 2...
 * (an extended value stays encoded, under "name*"); else lists them one by one. */
static void merge_2231(const struct raw_param *rp, size_t nrp, size_t first, bool *done,
                       struct rfc822_param **v, size_t *n)
{
	const char *key = rp[first].name;
	unsigned count = 0;
	bool extended = false, complete = true;
	for (size_t j = 0; j < nrp; j++)
		if (is_section_of(rp, done, j, key)) {
			count++;
			extended |= rp[j].extended;
		}
	for (unsigned want = 0; want < count && complete; want++)
		complete = find_section(rp, nrp, done, key, want) < nrp;
	char name[PARAM_NAME_MAX + 16]; /* the name and "*<index>*" */
	if (complete) {
		struct buf val;
		int rc = 0;
		buf_init(&val, BUF_UNLIMITED);
		if (extended && !rp[find_section(rp, nrp, done, key, 0)].extended)
			rc |= buf_append_str(&val, "''"); /* no charset, no language (RFC 2231 4) */
		for (unsigned want = 0; want < count; want++) {
			size_t j = find_section(rp, nrp, done, key, want);
			if (extended && !rp[j].extended)
				rc |= append_2231_escaped(&val, rp[j].value);
			else
				rc |= buf_append_str(&val, rp[j].value);
		}
		str_assert(rc, "val is BUF_UNLIMITED");
		str_assert(str_format(name, sizeof(name), extended ? "%s*" : "%s", key),
		           "key is shorter than PARAM_NAME_MAX");
		push(v, n, name, val.data);
		buf_free(&val);
	}
	for (size_t j = 0; j < nrp; j++) {
		if (!is_section_of(rp, done, j, key))
			continue;
		if (!complete) { /* missing sections: reported as they came */
			str_assert(str_format(name, sizeof(name), rp[j].extended ? "%s*%u*" : "%s*%u",
			                      rp[j].name, rp[j].idx),
			           "a name shorter than PARAM_NAME_MAX, an index under 100000");
			push(v, n, name, rp[j].value);
		}
	}
	for (size_t j = 0; j < nrp; j++)
		if (is_section_of(rp, done, j, key) && j != first)
			done[j] = true;
	done[first] = true;
}

size_t rfc822_parse_params(struct rfc822_parser *ps, struct rfc822_param **out, size_t max)
{
	struct buf name, value;
	buf_init(&name, PARAM_NAME_MAX - 1);
	buf_init(&value, BUF_UNLIMITED);
	struct raw_param *rp = NULL;
	size_t nrp = 0;
	int rc;
	while (nrp < max && (rc = parse_one_param(ps, &name, &value)) != 0) {
		if (rc < 0) { /* skip to the next ';' and go on */
			while (ps->p < ps->end && *ps->p != ';')
				ps->p++;
			continue;
		}
		rp = xrealloc(rp, (nrp + 1) * sizeof(*rp));
		split_2231(name.data, &rp[nrp]);
		rp[nrp].value = xstrdup(value.data);
		nrp++;
	}
	buf_free(&name);
	buf_free(&value);
	*out = NULL;
	size_t n = 0;
	bool *done = xcalloc(nrp ? nrp : 1, sizeof(*done));
	for (size_t i = 0; i < nrp; i++) {
		if (done[i])
			continue;
		if (rp[i].section || rp[i].extended) {
			merge_2231(rp, nrp, i, done, out, &n);
		} else {
			push(out, &n, rp[i].name, rp[i].value);
			done[i] = true;
		}
	}
	for (size_t i = 0; i < nrp; i++) {
		free(rp[i].name);
		free(rp[i].value);
	}
	free(rp);
	free(done);
	return n;
}

void rfc822_params_free(struct rfc822_param *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}
