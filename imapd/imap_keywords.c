/* imap_keywords.c: the keywords a selected mailbox has announced in its FLAGS
 * response. A client learns the flags in use from FLAGS (RFC 9051 7.3.5), so a keyword
 * that appears later (STORE or COPY by this or another session, APPEND) is announced
 * with a new FLAGS response before any FETCH shows it, as Dovecot does. */
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_session.h"
#include "lib/str.h"

#define KEYWORDS_ANNOUNCED_MAX 4096 /* past this, keywords still work but are not listed */

static bool known(const struct imap_view *v, const char *kw, size_t n)
{
	for (size_t i = 0; i < v->nkw; i++)
		if (strlen(v->kw[i]) == n && str_ieqn(v->kw[i], kw, n))
			return true;
	return false;
}

/* Adds the keywords of a space-separated list not yet known; returns how many. */
static size_t add_new(struct imap_view *v, const char *keywords)
{
	size_t added = 0;
	for (const char *p = keywords; p != NULL && *p != '\0';) {
		const char *e = strchr(p, ' ');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n > 0 && !known(v, p, n) && v->nkw < KEYWORDS_ANNOUNCED_MAX) {
			v->kw = xrealloc(v->kw, (v->nkw + 1) * sizeof(*v->kw));
			char *k = xmalloc(n + 1);
			memcpy(k, p, n);
			k[n] = '\0';
			v->kw[v->nkw++] = k;
			added++;
		}
		p = e ? e + 1 : NULL;
	}
	return added;
}

void imap_view_write_flags(struct imap_session *s)
{
	const struct imap_view *v = &s->view;
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	int rc = buf_append_str(&b, "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (size_t i = 0; i < v->nkw; i++)
		rc |= buf_printf(&b, " %s", v->kw[i]);
	str_assert(rc, "b is BUF_UNLIMITED");
	conn_printf(s->conn, "* FLAGS (%s)\r\n", b.data);
	if (v->readonly)
		conn_puts(s->conn, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
	else if (v->history) /* history: the patient may only mark it read */
		conn_puts(s->conn, "* OK [PERMANENTFLAGS (\\Seen)] Flags permitted\r\n");
	else
		conn_printf(s->conn, "* OK [PERMANENTFLAGS (%s \\*)] Flags permitted\r\n", b.data);
	buf_free(&b);
}

void imap_view_note_keywords(struct imap_session *s, const char *keywords)
{
	if (keywords != NULL && add_new(&s->view, keywords) > 0)
		imap_view_write_flags(s);
}

/* Called by imap_view_open before the SELECT responses: every keyword in use. */
void imap_view_collect_keywords(struct imap_view *v)
{
	const char *prev = NULL;
	for (size_t i = 0; i < v->n; i++) {
		const char *k = v->v[i].keywords;
		if (k == NULL || (prev != NULL && strcmp(prev, k) == 0))
			continue; /* most messages repeat their neighbour's keywords */
		add_new(v, k);
		prev = k;
	}
}

void imap_view_add_keywords(struct imap_view *v, const char *keywords)
{
	add_new(v, keywords);
}

void imap_view_free_keywords(struct imap_view *v)
{
	for (size_t i = 0; i < v->nkw; i++)
		free(v->kw[i]);
	free(v->kw);
	v->kw = NULL;
	v->nkw = 0;
}
