/* imap_context.c: live SEARCH results (RFC 5267 4, CONTEXT=SEARCH).
 *
 * A context keeps a copy of its command's arguments and the UIDs of the result the
 * client was last told. After each command the search is evaluated again on the view
 * (parsed again from the copy: evaluating resolves '*' in place) and the differences
 * go out as ESEARCH REMOVEFROM and ADDTO. A message that leaves the view is removed
 * from the results before its EXPUNGE is written, under the number it had. SEARCH
 * results are in mailbox order, so every position is 0 (RFC 5267 4.3 leaves placing
 * them to the client). */
#include "imapd/imap_context.h"

#include <stdlib.h>
#include <string.h>

#include "imapd/imap_cmd.h"
#include "imapd/imap_search_eval.h"
#include "lib/str.h"

struct imap_context {
	char tag[IMAP_TAG_MAX + 1];
	bool uid;              /* UID SEARCH: the answers give UIDs */
	struct imap_arg *args; /* a copy of the SEARCH arguments */
	size_t nargs;
	uint32_t *uids; /* the result the client knows, ascending */
	size_t n;
};

static struct imap_arg *args_dup(const struct imap_arg *a, size_t n)
{
	struct imap_arg *d = xcalloc(n ? n : 1, sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		d[i] = a[i];
		d[i].str = a[i].str != NULL ? xstrndup(a[i].str, a[i].len) : NULL;
		d[i].list = a[i].type == IMAP_ARG_LIST ? args_dup(a[i].list, a[i].count) : NULL;
	}
	return d;
}

static void args_free(struct imap_arg *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)a[i].str);
		if (a[i].list != NULL)
			args_free(a[i].list, a[i].count);
	}
	free(a);
}

static void context_free(struct imap_context *x)
{
	args_free(x->args, x->nargs);
	free(x->uids);
	free(x);
}

int imap_context_add(struct imap_session *s, const struct imap_command *c, const size_t *idx, size_t n)
{
	if (s->nctx == IMAP_CONTEXTS_MAX)
		return 1;
	struct imap_context *x = xcalloc(1, sizeof(*x));
	if (str_copy(x->tag, sizeof(x->tag), c->tag) < 0) { /* the parser bounds tags: cannot happen */
		free(x);
		return 1;
	}
	(void)imap_context_cancel(s, c->tag); /* a tag used again names the new search */
	x->uid = strncmp(c->name, "UID ", 4) == 0;
	x->args = args_dup(c->args, c->nargs);
	x->nargs = c->nargs;
	x->uids = xcalloc(n ? n : 1, sizeof(*x->uids));
	for (size_t i = 0; i < n; i++)
		x->uids[i] = s->view.v[idx[i]].uid;
	x->n = n;
	s->ctx[s->nctx++] = x;
	return 0;
}

/* "* ESEARCH (TAG "t") [UID] WHAT (0 set)" for the UIDs v[0..n). */
static void write_change(struct imap_session *s, const struct imap_context *x, const char *what,
                         const uint32_t *v, size_t n)
{
	if (n == 0)
		return;
	uint32_t *num = xcalloc(n, sizeof(*num));
	for (size_t i = 0; i < n; i++)
		num[i] = x->uid ? v[i] : (uint32_t)(imap_view_find(s, v[i]) + 1);
	struct buf set;
	buf_init(&set, BUF_UNLIMITED);
	imap_set_format(&set, num, n);
	conn_printf(s->conn, "* ESEARCH (TAG \"%s\")%s %s (0 ", x->tag, x->uid ? " UID" : "", what);
	conn_write(s->conn, set.data, set.len);
	conn_puts(s->conn, ")\r\n");
	buf_free(&set);
	free(num);
}

void imap_context_expunged(struct imap_session *s, size_t i)
{
	uint32_t uid = s->view.v[i].uid;
	for (size_t k = 0; k < s->nctx; k++) {
		struct imap_context *x = s->ctx[k];
		size_t j = 0;
		while (j < x->n && x->uids[j] < uid)
			j++;
		if (j == x->n || x->uids[j] != uid)
			continue;
		write_change(s, x, "REMOVEFROM", &uid, 1);
		memmove(&x->uids[j], &x->uids[j + 1], (x->n - j - 1) * sizeof(*x->uids));
		x->n--;
	}
}

/* The result now, as ascending UIDs. Returns 0, or -1 (the context is left as is). */
static int evaluate(struct imap_session *s, const struct imap_context *x, uint32_t **uids, size_t *n)
{
	struct imap_search_query q;
	const char *err;
	size_t *idx = NULL;
	int rc = imap_search_parse(x->args, x->nargs, &q, &err) == 0 ? imap_search_eval(s, &q, &idx, n) : -1;
	imap_search_free(&q);
	if (rc < 0)
		return -1;
	*uids = xcalloc(*n ? *n : 1, sizeof(**uids));
	for (size_t i = 0; i < *n; i++)
		(*uids)[i] = s->view.v[idx[i]].uid;
	free(idx);
	return 0;
}

static void update_one(struct imap_session *s, struct imap_context *x)
{
	uint32_t *now;
	size_t n;
	if (evaluate(s, x, &now, &n) < 0)
		return;
	uint32_t *gone = xcalloc(x->n ? x->n : 1, sizeof(*gone)), *added = xcalloc(n ? n : 1, sizeof(*added));
	size_t ngone = 0, nadded = 0, a = 0, b = 0;
	while (a < x->n || b < n) {
		if (b == n || (a < x->n && x->uids[a] < now[b]))
			gone[ngone++] = x->uids[a++];
		else if (a == x->n || now[b] < x->uids[a])
			added[nadded++] = now[b++];
		else
			a++, b++;
	}
	write_change(s, x, "REMOVEFROM", gone, ngone);
	write_change(s, x, "ADDTO", added, nadded);
	free(gone);
	free(added);
	free(x->uids);
	x->uids = now;
	x->n = n;
}

void imap_context_update(struct imap_session *s)
{
	if (!s->view.open)
		return;
	for (size_t k = 0; k < s->nctx; k++)
		update_one(s, s->ctx[k]);
}

int imap_context_cancel(struct imap_session *s, const char *tag)
{
	for (size_t k = 0; k < s->nctx; k++) {
		if (strcmp(s->ctx[k]->tag, tag) != 0)
			continue;
		context_free(s->ctx[k]);
		s->ctx[k] = s->ctx[--s->nctx];
		return 0;
	}
	return -1;
}

void imap_context_clear(struct imap_session *s)
{
	for (size_t k = 0; k < s->nctx; k++)
		context_free(s->ctx[k]);
	s->nctx = 0;
}

/* CANCELUPDATE 1*(SP quoted) (RFC 5267 4.2) */
void cmd_cancelupdate(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs == 0) {
		imap_send_text(s, c->tag, IMAP_R_EXPECTS_SEARCH_TAGS, c->name);
		return;
	}
	for (size_t i = 0; i < c->nargs; i++) {
		const char *t = imap_arg_astring(&c->args[i]);
		if (t == NULL || imap_context_cancel(s, t) < 0) {
			imap_send(s, c->tag, IMAP_R_UNKNOWN_CONTEXT);
			return;
		}
	}
	imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
}
