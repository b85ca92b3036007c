/* store_flags.c: system flags as bits, keywords as a sorted, unique list of atoms. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "store/store_int.h"

static const struct {
	const char *name;
	uint32_t bit;
} system_flags[] = {
    {"\\Seen", STORE_FLAG_SEEN},       {"\\Answered", STORE_FLAG_ANSWERED}, {"\\Flagged", STORE_FLAG_FLAGGED},
    {"\\Deleted", STORE_FLAG_DELETED}, {"\\Draft", STORE_FLAG_DRAFT},
};
#define NSYSTEM (sizeof(system_flags) / sizeof(system_flags[0]))
#define KEYWORD_MAX 100
#define KEYWORDS_COUNT_MAX 128

uint32_t store_flag_parse(const char *s)
{
	for (size_t i = 0; i < NSYSTEM; i++) {
		if (str_ieq(s, system_flags[i].name))
			return system_flags[i].bit;
	}
	return 0;
}

/* Appends " " (unless first) and word at out[*len]; false when it does not fit. */
static bool put_word(char *out, size_t outlen, size_t *len, const char *word)
{
	size_t sep = *len > 0, n = strlen(word);
	if (*len + sep + n >= outlen)
		return false;
	if (sep)
		out[(*len)++] = ' ';
	memcpy(out + *len, word, n + 1);
	*len += n;
	return true;
}

/* No allocation: FETCH FLAGS runs it once per message. */
int store_flags_format(uint32_t flags, const char *keywords, char *out, size_t outlen)
{
	size_t len = 0;
	bool fits = true;
	if (outlen > 0)
		out[0] = '\0';
	for (size_t i = 0; i < NSYSTEM && fits; i++)
		if (flags & system_flags[i].bit)
			fits = put_word(out, outlen, &len, system_flags[i].name);
	if (fits && keywords != NULL && keywords[0] != '\0')
		fits = put_word(out, outlen, &len, keywords);
	return fits ? 0 : -1;
}

/* RFC 9051 atom: ATOM-CHAR minus atom-specials ( ) { SP CTL % * " \ ]. */
bool store_keyword_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > KEYWORD_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

/* Splits a space separated list into a malloc'ed array of malloc'ed words. */
static size_t split_words(const char *in, char ***out)
{
	char **v = NULL;
	size_t n = 0;
	const char *p = in != NULL ? in : "";
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e != '\0' && *e != ' ')
			e++;
		if (e > p) {
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n++] = xstrndup(p, (size_t)(e - p));
		}
		p = e;
	}
	*out = v;
	return n;
}

static void free_words(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int cmp_word(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keyword names are case-insensitive (RFC 9051 2.3.2): duplicates are found
 * ignoring case, the first spelling kept. */
static bool words_has(char **v, size_t n, const char *w)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] != NULL && str_ieq(v[i], w))
			return true;
	}
	return false;
}

static int words_join(char **v, size_t n, char *out, size_t outlen)
{
	size_t count = 0;
	qsort(v, n, sizeof(*v), cmp_word);
	struct buf b;
	buf_init(&b, STORE_KEYWORDS_MAX);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == NULL)
			continue;
		count++;
		if ((b.len > 0 && buf_append_char(&b, ' ') < 0) || buf_append_str(&b, v[i]) < 0)
			rc = 1;
	}
	if (count > KEYWORDS_COUNT_MAX || str_copy(out, outlen, b.data) < 0)
		rc = 1;
	buf_free(&b);
	return rc;
}

static int merge(char **cur, size_t ncur, char **arg, size_t narg, enum store_flags_op op, char *out,
                 size_t outlen)
{
	char **all = xcalloc(ncur + narg + 1, sizeof(*all));
	size_t n = 0;
	if (op != STORE_FLAGS_REPLACE) {
		for (size_t i = 0; i < ncur; i++) {
			if (op == STORE_FLAGS_REMOVE && words_has(arg, narg, cur[i]))
				continue;
			if (!words_has(all, n, cur[i]))
				all[n++] = cur[i];
		}
	}
	if (op != STORE_FLAGS_REMOVE) {
		for (size_t i = 0; i < narg; i++) {
			if (!words_has(all, n, arg[i]))
				all[n++] = arg[i];
		}
	}
	int rc = words_join(all, n, out, outlen);
	free(all);
	return rc;
}

int store_keywords_apply(enum store_flags_op op, const char *cur, const char *arg, char *out, size_t outlen)
{
	char **vc, **va;
	size_t nc = split_words(cur, &vc);
	size_t na = split_words(arg, &va);
	int rc = 0;
	for (size_t i = 0; i < na; i++) {
		if (!store_keyword_valid(va[i]))
			rc = 1;
	}
	if (rc == 0)
		rc = merge(vc, nc, va, na, op, out, outlen);
	free_words(vc, nc);
	free_words(va, na);
	return rc;
}

int store_keywords_normalise(const char *in, char *out, size_t outlen)
{
	return store_keywords_apply(STORE_FLAGS_REPLACE, NULL, in, out, outlen);
}

int store_flags_split(const char *text, uint32_t *flags, char *keywords, size_t kwlen)
{
	char **v;
	size_t n = split_words(text, &v);
	struct buf kw;
	buf_init(&kw, STORE_KEYWORDS_MAX);
	int rc = 0;
	*flags = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i][0] == '\\') {
			uint32_t bit = store_flag_parse(v[i]);
			if (bit == 0 && !str_ieq(v[i], "\\Recent"))
				rc = 1;
			*flags |= bit;
		} else if ((kw.len > 0 && buf_append_char(&kw, ' ') < 0) || buf_append_str(&kw, v[i]) < 0) {
			rc = 1;
		}
	}
	if (rc == 0)
		rc = store_keywords_normalise(kw.data, keywords, kwlen);
	buf_free(&kw);
	free_words(v, n);
	return rc;
}
