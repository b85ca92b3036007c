/* imap_address.c: address lists with the obsolete syntax of RFC 5322 4.4 (see
 * imap_address.h). The grammar, with what real mail adds:
 *   address-list = address *("," address)
 *   address      = group / mailbox
 *   group        = phrase ":" [mailbox *("," mailbox)] ";"
 *   mailbox      = [phrase] "<" [route ":"] addr-spec ">" / addr-spec [comment]
 *   addr-spec    = local-part ["@" domain], CFWS allowed between every token */
#include "imap/imap_address.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap_quote.h"
#include "imap/imap_rfc822.h"
#include "lib/str.h"

struct aparser {
	struct rfc822_parser ps;
	struct buf comment; /* last comment seen (a name for "user@domain (Name)") */
	struct buf tmp;
	struct imap_address_list *out;
	struct imap_address cur;
	size_t added;
};

static char *dup_or_null(const struct buf *b)
{
	return xstrdup(b->data);
}

static void add(struct aparser *a, struct imap_address *addr)
{
	struct imap_address_list *l = a->out;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = *addr;
	memset(addr, 0, sizeof(*addr));
	a->added++;
}

/* A mailbox must have a local part and a domain, even empty ones (ENVELOPE). */
static void add_mailbox(struct aparser *a)
{
	struct imap_address *m = &a->cur;
	if (m->mailbox == NULL) {
		m->mailbox = xstrdup("");
		m->invalid = true;
	}
	if (m->domain == NULL || m->domain[0] == '\0') {
		free(m->domain);
		m->domain = xstrdup("");
		m->invalid = true;
	}
	add(a, m);
}

static void cur_reset(struct aparser *a)
{
	free(a->cur.name);
	free(a->cur.route);
	free(a->cur.mailbox);
	free(a->cur.domain);
	memset(&a->cur, 0, sizeof(a->cur));
}

static int local_part(struct aparser *a)
{
	buf_reset(&a->tmp);
	int rc = *a->ps.p == '"' ? rfc822_parse_quoted_string(&a->ps, &a->tmp)
	                         : rfc822_parse_dot_atom(&a->ps, &a->tmp);
	if (rc < 0)
		return -1;
	/* obs-local-part: "a.b" written with a trailing or doubled dot */
	while (rc > 0 && *a->ps.p == '.') {
		buf_put_char(&a->tmp, '.');
		a->ps.p++;
		rc = rfc822_skip_lwsp(&a->ps);
	}
	free(a->cur.mailbox);
	a->cur.mailbox = dup_or_null(&a->tmp);
	return rc;
}

static int domain(struct aparser *a)
{
	buf_reset(&a->tmp);
	int rc = rfc822_parse_domain(&a->ps, &a->tmp);
	if (rc < 0)
		return -1;
	free(a->cur.domain);
	a->cur.domain = dup_or_null(&a->tmp);
	return rc;
}

/* obs-route: "@a,@b:" before the addr-spec in angle brackets. */
static int route(struct aparser *a)
{
	buf_reset(&a->tmp);
	while (a->ps.p < a->ps.end && *a->ps.p == '@') {
		if (a->tmp.len > 0)
			buf_put_char(&a->tmp, ',');
		buf_put_char(&a->tmp, '@');
		if (rfc822_parse_domain(&a->ps, &a->tmp) <= 0)
			return -1;
		while (a->ps.p < a->ps.end && *a->ps.p == ',') {
			a->ps.p++;
			if (rfc822_skip_lwsp(&a->ps) <= 0)
				return -1;
		}
	}
	free(a->cur.route);
	a->cur.route = dup_or_null(&a->tmp);
	if (a->ps.p >= a->ps.end || *a->ps.p != ':')
		return -1;
	a->ps.p++;
	return rfc822_skip_lwsp(&a->ps);
}

/* "<" [route ":"] addr-spec ">", at '<'. Returns 1, 0 or -1 as the lexer does. */
static int angle_addr(struct aparser *a)
{
	a->ps.p++;
	if (rfc822_skip_lwsp(&a->ps) <= 0)
		return -1;
	if (*a->ps.p == '@' && route(a) <= 0)
		return -1;
	if (*a->ps.p != '>') { /* "<>" names no mailbox */
		if (local_part(a) <= 0)
			return -1;
		if (*a->ps.p == '@' && domain(a) <= 0)
			return -1;
	}
	if (a->ps.p >= a->ps.end || *a->ps.p != '>')
		return -1;
	a->ps.p++;
	return rfc822_skip_lwsp(&a->ps);
}

/* [phrase] angle-addr. Returns -1 when this is not one (caller rewinds). */
static int name_addr(struct aparser *a)
{
	buf_reset(&a->tmp);
	if (*a->ps.p != '<') {
		if (rfc822_parse_phrase(&a->ps, &a->tmp) <= 0 || *a->ps.p != '<')
			return -1;
		if (a->tmp.len > 0)
			a->cur.name = dup_or_null(&a->tmp);
	}
	int rc = angle_addr(a);
	if (rc < 0) { /* broken inside the brackets: keep what was read */
		a->cur.invalid = true;
		while (a->ps.p < a->ps.end && *a->ps.p != '>' && *a->ps.p != ',')
			a->ps.p++;
		if (a->ps.p < a->ps.end && *a->ps.p == '>')
			a->ps.p++;
		rc = rfc822_skip_lwsp(&a->ps);
	}
	return rc < 0 ? 0 : rc;
}

/* addr-spec, with a trailing comment as the display name. */
static int addr_spec(struct aparser *a)
{
	buf_reset(&a->comment);
	int rc = local_part(a);
	if (rc < 0) {
		a->cur.invalid = true;
		return -1;
	}
	if (rc > 0 && *a->ps.p == '@') {
		rc = domain(a);
		if (rc < 0)
			a->cur.invalid = true;
	} else if (rc > 0 && *a->ps.p != ',' && *a->ps.p != ';') {
		/* "user more words": a phrase without an address, as Dovecot reads it */
		buf_reset(&a->tmp);
		buf_put_str(&a->tmp, a->cur.mailbox);
		buf_put_char(&a->tmp, ' ');
		rc = rfc822_parse_phrase(&a->ps, &a->tmp);
		free(a->cur.mailbox);
		a->cur.mailbox = NULL;
		a->cur.name = dup_or_null(&a->tmp);
		a->cur.invalid = true;
	}
	if (a->comment.len > 0 && a->cur.name == NULL)
		a->cur.name = dup_or_null(&a->comment);
	return rc;
}

static int mailbox(struct aparser *a)
{
	const unsigned char *start = a->ps.p;
	int rc = name_addr(a);
	if (rc < 0) {
		cur_reset(a);
		a->ps.p = start;
		rc = addr_spec(a);
	}
	add_mailbox(a);
	return rc;
}

/* Skips to the next ',' or ';' after something unreadable. */
static int skip_garbage(struct aparser *a, bool in_group)
{
	while (a->ps.p < a->ps.end && *a->ps.p != ',' && (!in_group || *a->ps.p != ';'))
		a->ps.p++;
	return a->ps.p < a->ps.end ? 1 : 0;
}

/* The members after "name:", up to ';'. */
static int group_members(struct aparser *a)
{
	int rc = 1;
	while (rc > 0 && *a->ps.p != ';') {
		if (*a->ps.p == ',') { /* empty member, obs-mbox-list */
			a->ps.p++;
			rc = rfc822_skip_lwsp(&a->ps);
			continue;
		}
		const unsigned char *before = a->ps.p;
		rc = mailbox(a);
		if (rc < 0 || a->ps.p == before)
			rc = skip_garbage(a, true);
		if (rc > 0 && *a->ps.p == ',') {
			a->ps.p++;
			rc = rfc822_skip_lwsp(&a->ps);
		} else if (rc > 0 && *a->ps.p != ';') {
			rc = skip_garbage(a, true);
		}
	}
	return rc;
}

/* phrase ":" members ";". Returns -1 when this is not a group (caller rewinds). */
static int group(struct aparser *a)
{
	buf_reset(&a->tmp);
	if (rfc822_parse_phrase(&a->ps, &a->tmp) <= 0 || *a->ps.p != ':')
		return -1;
	a->ps.p++;
	a->cur.mailbox = dup_or_null(&a->tmp);
	add(a, &a->cur); /* group start: (NIL NIL "name" NIL) */
	int rc = rfc822_skip_lwsp(&a->ps);
	if (rc > 0)
		rc = group_members(a);
	if (rc > 0 && *a->ps.p == ';') {
		a->ps.p++;
		rc = rfc822_skip_lwsp(&a->ps);
	}
	struct imap_address end = {0};
	add(a, &end); /* group end: (NIL NIL NIL NIL) */
	return rc < 0 ? 0 : rc;
}

static int address(struct aparser *a)
{
	const unsigned char *start = a->ps.p;
	int rc = group(a);
	if (rc >= 0)
		return rc;
	cur_reset(a);
	a->ps.p = start;
	return mailbox(a);
}

void imap_address_parse(const char *value, size_t len, struct imap_address_list *out)
{
	struct aparser a;
	memset(&a, 0, sizeof(a));
	buf_init(&a.comment, BUF_UNLIMITED);
	buf_init(&a.tmp, BUF_UNLIMITED);
	rfc822_init(&a.ps, value, len, &a.comment);
	a.out = out;
	int rc = rfc822_skip_lwsp(&a.ps);
	while (rc > 0 && a.added < IMAP_ADDRESSES_MAX) {
		if (*a.ps.p == ',') { /* empty element, obs-addr-list */
			a.ps.p++;
			rc = rfc822_skip_lwsp(&a.ps);
			continue;
		}
		const unsigned char *before = a.ps.p;
		rc = address(&a);
		if (rc < 0 || a.ps.p == before)
			rc = skip_garbage(&a, false);
		if (rc > 0 && *a.ps.p != ',')
			rc = skip_garbage(&a, false);
	}
	cur_reset(&a);
	buf_free(&a.comment);
	buf_free(&a.tmp);
}

void imap_address_list_free(struct imap_address_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].route);
		free(l->v[i].mailbox);
		free(l->v[i].domain);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool has_8bit(const char *s)
{
	for (; s != NULL && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* A display name or a group's name; ascii: UTF-8 goes as encoded words (RFC 6858 3). */
static void write_phrase(struct buf *out, const char *s, bool ascii)
{
	if (s == NULL)
		buf_put_str(out, "NIL");
	else if (ascii && has_8bit(s))
		imap_quote_encoded_words(out, s, strlen(s));
	else
		imap_quote_for_humans(out, s, strlen(s));
}

/* RFC 6858 3: an address with UTF-8 in its local part, domain or (obsolete) route has
 * no ASCII form, so a client without UTF-8 gets an empty group named after it, in
 * encoded words (the route left out). */
static void write_downgraded(struct buf *out, const struct imap_address *x)
{
	struct buf t;
	buf_init(&t, BUF_UNLIMITED);
	if (x->name != NULL)
		buf_put_printf(&t, "%s <%s@%s>", x->name, x->mailbox, x->domain);
	else
		buf_put_printf(&t, "%s@%s", x->mailbox, x->domain);
	buf_put_str(out, "(NIL NIL ");
	imap_quote_encoded_words(out, t.data, t.len);
	buf_put_str(out, " NIL)(NIL NIL NIL NIL)");
	buf_free(&t);
}

void imap_address_write_envelope(struct buf *out, const struct imap_address_list *l, bool ascii)
{
	if (l == NULL || l->n == 0) {
		buf_put_str(out, "NIL");
		return;
	}
	buf_put_char(out, '(');
	for (size_t i = 0; i < l->n; i++) {
		const struct imap_address *x = &l->v[i];
		if (ascii && x->domain != NULL &&
		    (has_8bit(x->mailbox) || has_8bit(x->domain) || has_8bit(x->route))) {
			write_downgraded(out, x);
			continue;
		}
		buf_put_char(out, '(');
		write_phrase(out, x->name, ascii);
		buf_put_char(out, ' ');
		/* an obsolete route is only ever shown as is: with 8-bit octets, none */
		imap_quote_nstring(out, ascii && has_8bit(x->route) ? NULL : x->route);
		buf_put_char(out, ' ');
		if (ascii && x->domain == NULL && has_8bit(x->mailbox)) /* a group's name */
			imap_quote_encoded_words(out, x->mailbox, strlen(x->mailbox));
		else
			imap_quote_nstring(out, x->mailbox);
		buf_put_char(out, ' ');
		imap_quote_nstring(out, x->domain);
		buf_put_char(out, ')');
	}
	buf_put_char(out, ')');
}

void imap_address_write_text(struct buf *out, const struct imap_address_list *l)
{
	bool in_group = false, first = true;
	for (size_t i = 0; l != NULL && i < l->n; i++) {
		const struct imap_address *x = &l->v[i];
		if (x->domain == NULL) { /* group marker */
			if (!in_group) {
				buf_put_printf(out, "%s%s: ", first ? "" : ", ",
				               x->mailbox ? x->mailbox : "");
				first = true;
			} else {
				buf_put_char(out, ';');
				first = false;
			}
			in_group = !in_group;
			continue;
		}
		if (!first)
			buf_put_str(out, ", ");
		first = false;
		if (x->name != NULL)
			buf_put_printf(out, "%s ", x->name);
		buf_put_char(out, '<');
		if (x->route != NULL)
			buf_put_printf(out, "%s:", x->route);
		buf_put_str(out, x->mailbox ? x->mailbox : "");
		if (x->domain[0] != '\0')
			buf_put_printf(out, "@%s", x->domain);
		buf_put_char(out, '>');
	}
}

const struct imap_address *imap_address_first(const struct imap_address_list *l)
{
	for (size_t i = 0; l != NULL && i < l->n; i++)
		if (l->v[i].domain != NULL)
			return &l->v[i];
	return NULL;
}
