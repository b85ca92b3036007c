/* html.c: HTML escaping (html.h). */
#include "lib/html.h"

#include <string.h>

/* The entity for c, or NULL when c is copied as it is. */
static const char *entity(char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&#39;";
	default:
		return NULL;
	}
}

int html_escape(struct buf *b, const char *s, size_t n)
{
	size_t start = b->len;
	for (size_t i = 0; i < n; i++) {
		const char *e = entity(s[i]);
		int rc = e != NULL ? buf_append_str(b, e) : s[i] == '\0' ? 0 : buf_append_char(b, s[i]);
		if (rc < 0) {
			buf_truncate(b, start);
			return -1;
		}
	}
	return 0;
}

int html_escape_str(struct buf *b, const char *s)
{
	return s == NULL ? 0 : html_escape(b, s, strlen(s));
}
