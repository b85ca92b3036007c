/* imap_parser.c: IMAP command syntax into an argument tree (see imap_parser.h). */
#include "imapd/imap_parser.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"

/* A per-command arena: every node and string of one command is freed at once. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct imap_arena {
	struct arena_chunk *head;
};

static void *arena_alloc(struct imap_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (a->head == NULL || a->head->cap - a->head->used < n) {
		size_t cap = n > 8192 ? n : 8192;
		struct arena_chunk *c = xmalloc(sizeof(*c) + cap);
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	void *p = a->head->data + a->head->used;
	a->head->used += n;
	return p;
}

static void arena_free(struct imap_arena *a)
{
	if (a == NULL)
		return;
	while (a->head != NULL) {
		struct arena_chunk *n = a->head->next;
		free(a->head);
		a->head = n;
	}
	free(a);
}

struct parser {
	const char *p, *end;
	struct imap_arena *arena;
	size_t nargs;
	const char *err;
};

/* ATOM-CHAR: any CHAR except atom-specials ( ) { SP CTL % * " \ ]. We accept '%', '*'
 * (list wildcards, '*' in sequence sets), '\' (flags) and ']' in atoms, as Dovecot
 * does; the handlers validate what they expect. */
static bool atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

static const char *arena_strndup(struct parser *ps, const char *s, size_t n)
{
	char *d = arena_alloc(ps->arena, n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* The ']' closing a '[' at p, on the same line; NULL when there is none. */
static const char *section_end(const char *p, const char *end)
{
	for (; p < end && *p != '\r' && *p != '\n'; p++)
		if (*p == ']')
			return p;
	return NULL;
}

/* An atom; a '[' opens a section read up to its ']' with spaces and parentheses allowed
 * inside (FETCH BODY[HEADER.FIELDS (From To)]<0.10>, RFC 9051 6.4.5). */
static int parse_atom(struct parser *ps, struct imap_arg *a)
{
	const char *start = ps->p;
	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p;
		if (c == '[') {
			/* '[' is an ATOM-CHAR: without a ']' on the same line it is just that
			 * ("SELECT foo[" names a mailbox, RFC 9051 9: atom) */
			const char *close = section_end(ps->p, ps->end);
			if (close == NULL) {
				ps->p++;
				continue;
			}
			for (const char *q = ps->p; q < close; q++)
				if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f) {
					ps->err = "Invalid characters in section";
					return -1;
				}
			ps->p = close + 1;
			continue;
		}
		if (!atom_char(c))
			break;
		ps->p++;
	}
	if (ps->p == start) {
		ps->err = (unsigned char)*ps->p >= 0x80 ? "8-bit characters not allowed in atoms"
		                                        : "Unexpected character";
		return -1;
	}
	size_t n = (size_t)(ps->p - start);
	if (n == 3 && str_ieqn(start, "NIL", 3)) {
		a->type = IMAP_ARG_NIL; /* also an atom: its text is kept */
		a->str = arena_strndup(ps, start, n);
		a->len = 3;
		return 0;
	}
	a->type = IMAP_ARG_ATOM;
	a->str = arena_strndup(ps, start, n);
	a->len = n;
	return 0;
}

/* A quoted string: \" and \\ are the only escapes; CR, LF and NUL are refused. 8-bit
 * bytes are accepted only as valid UTF-8 (RFC 9051 allows UTF-8 in quoted strings). */
static int parse_quoted(struct parser *ps, struct imap_arg *a)
{
	ps->p++; /* opening quote */
	struct buf b;
	buf_init(&b, (size_t)(ps->end - ps->p) + 1);
	int rc = -1;
	while (ps->p < ps->end) {
		char c = *ps->p++;
		if (c == '"') {
			rc = 0;
			break;
		}
		if (c == '\\') {
			if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\\')) {
				ps->err = "Invalid escape in quoted string";
				goto out;
			}
			c = *ps->p++;
		} else if (c == '\r' || c == '\n' || c == '\0') {
			ps->err = "Invalid character in quoted string";
			goto out;
		}
		buf_append_char(&b, c);
	}
	if (rc != 0) {
		ps->err = "Missing '\"'";
		goto out;
	}
	if (!str_is_utf8(b.data, b.len)) {
		ps->err = "Invalid UTF-8 in quoted string";
		rc = -1;
		goto out;
	}
	a->type = IMAP_ARG_QUOTED;
	a->str = arena_strndup(ps, b.data, b.len);
	a->len = b.len;
out:
	buf_free(&b);
	return rc;
}

/* Reads the digits of "{N}" / "{N+}" at p; returns the position after '}' or NULL. */
static const char *literal_size(const char *p, const char *end, uint64_t *size, bool *nonsync)
{
	if (p >= end || *p != '{')
		return NULL;
	p++;
	uint64_t v = 0;
	const char *digits = p;
	while (p < end && *p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX / 2 - 9) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (p == digits || p - digits > 19)
		return NULL;
	*nonsync = false;
	if (p < end && *p == '+') {
		*nonsync = true;
		p++;
	}
	if (p >= end || *p != '}')
		return NULL;
	*size = v;
	return p + 1;
}

static int parse_literal(struct parser *ps, struct imap_arg *a)
{
	uint64_t n;
	bool nonsync;
	const char *q = literal_size(ps->p, ps->end, &n, &nonsync);
	if (q == NULL) {
		ps->err = "Invalid literal";
		return -1;
	}
	if (ps->end - q < 2 || q[0] != '\r' || q[1] != '\n') {
		ps->err = "Literal not followed by CRLF";
		return -1;
	}
	q += 2;
	if ((uint64_t)(ps->end - q) < n) {
		ps->err = "Literal shorter than announced";
		return -1;
	}
	a->type = IMAP_ARG_LITERAL;
	a->str = arena_strndup(ps, q, (size_t)n);
	a->len = (size_t)n;
	ps->p = q + n;
	return 0;
}

static int parse_list(struct parser *ps, struct imap_arg *a, int depth);

static int parse_one(struct parser *ps, struct imap_arg *a, int depth)
{
	memset(a, 0, sizeof(*a));
	if (++ps->nargs > IMAP_ARGS_MAX) {
		ps->err = "Too many arguments";
		return -1;
	}
	switch (*ps->p) {
	case '"':
		return parse_quoted(ps, a);
	case '{':
		return parse_literal(ps, a);
	case '(':
		return parse_list(ps, a, depth + 1);
	case '~': /* literal8 (RFC 3516 / RFC 9051: APPEND of binary content) */
		if (ps->end - ps->p > 1 && ps->p[1] == '{') {
			ps->p++;
			if (parse_literal(ps, a) < 0)
				return -1;
			a->binary = true;
			return 0;
		}
		return parse_atom(ps, a);
	default:
		return parse_atom(ps, a);
	}
}

/* Parses items separated by single spaces until ')' (in a list) or the end. */
static int parse_items(struct parser *ps, struct imap_arg **items_r, size_t *count_r, int depth, bool in_list)
{
	struct imap_arg *items = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (ps->p >= ps->end) {
			if (in_list) {
				ps->err = "Missing ')'";
				goto fail;
			}
			break;
		}
		if (in_list && *ps->p == ')') {
			ps->p++;
			break;
		}
		if (n > 0) {
			if (*ps->p != ' ') {
				ps->err = "Missing space between arguments";
				goto fail;
			}
			ps->p++;
			if (ps->p >= ps->end || *ps->p == ' ' || (in_list && *ps->p == ')')) {
				ps->err = "Unexpected space";
				goto fail;
			}
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			items = xrealloc(items, cap * sizeof(*items));
		}
		if (parse_one(ps, &items[n], depth) < 0)
			goto fail;
		n++;
	}
	*items_r = NULL;
	if (n > 0) {
		*items_r = arena_alloc(ps->arena, n * sizeof(*items));
		memcpy(*items_r, items, n * sizeof(*items));
	}
	*count_r = n;
	free(items);
	return 0;
fail:
	free(items);
	return -1;
}

static int parse_list(struct parser *ps, struct imap_arg *a, int depth)
{
	if (depth > IMAP_LIST_DEPTH_MAX) {
		ps->err = "Too deeply nested";
		return -1;
	}
	ps->p++; /* '(' */
	a->type = IMAP_ARG_LIST;
	return parse_items(ps, &a->list, &a->count, depth, true);
}

static bool tag_char(unsigned char c)
{
	return atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\';
}

/* tag SP name: shared by imap_parse_head and imap_parse_command. Returns the position
 * after the name, or NULL with err. */
static const char *parse_tag_name(const char *p, const char *end, char *tag, size_t taglen, char *name,
                                  size_t namelen, const char **err)
{
	str_copy(tag, taglen, "*");
	const char *t = p;
	while (p < end && tag_char((unsigned char)*p))
		p++;
	if (p == t || (size_t)(p - t) >= taglen || (size_t)(p - t) > IMAP_TAG_MAX) {
		*err = p == t ? "Missing tag" : "Tag too long";
		return NULL;
	}
	if (p < end && *p != ' ') {
		*err = "Invalid characters in tag";
		return NULL;
	}
	memcpy(tag, t, (size_t)(p - t));
	tag[p - t] = '\0';
	if (p >= end) {
		*err = "Missing command";
		return NULL;
	}
	p++;
	const char *nm = p;
	while (p < end && isalpha((unsigned char)*p))
		p++;
	size_t n = (size_t)(p - nm);
	if (n == 0 || n >= namelen || (p < end && *p != ' ')) {
		*err = "Invalid command name";
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		name[i] = (char)toupper((unsigned char)nm[i]);
	name[n] = '\0';
	/* UID FETCH/STORE/...: the subcommand is part of the name (RFC 9051 6.4.9). */
	if (strcmp(name, "UID") == 0) {
		if (p >= end) {
			*err = "Missing UID command";
			return NULL;
		}
		const char *s = ++p;
		while (p < end && isalpha((unsigned char)*p))
			p++;
		size_t m = (size_t)(p - s);
		if (m == 0 || n + 1 + m >= namelen || (p < end && *p != ' ')) {
			*err = "Invalid UID command";
			return NULL;
		}
		name[n++] = ' ';
		for (size_t i = 0; i < m; i++)
			name[n++] = (char)toupper((unsigned char)s[i]);
		name[n] = '\0';
	}
	return p;
}

int imap_parse_head(const char *line, size_t len, char *tag, size_t taglen, char *name, size_t namelen,
                    char *err, size_t errlen)
{
	const char *e = NULL;
	if (parse_tag_name(line, line + len, tag, taglen, name, namelen, &e) == NULL) {
		str_copy(err, errlen, e);
		return -1;
	}
	return 0;
}

int imap_parse_command(const char *data, size_t len, struct imap_command *cmd, char *err, size_t errlen)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->arena = xcalloc(1, sizeof(*cmd->arena));
	const char *e = NULL;
	const char *p =
	    parse_tag_name(data, data + len, cmd->tag, sizeof(cmd->tag), cmd->name, sizeof(cmd->name), &e);
	if (p == NULL) {
		str_copy(err, errlen, e);
		return -1;
	}
	struct parser ps = {.p = p, .end = data + len, .arena = cmd->arena};
	if (ps.p < ps.end) {
		ps.p++; /* the space after the name */
		if (ps.p >= ps.end || *ps.p == ' ') {
			str_copy(err, errlen, "Unexpected space");
			return -1;
		}
	}
	if (parse_items(&ps, &cmd->args, &cmd->nargs, 0, false) < 0) {
		str_copy(err, errlen, ps.err ? ps.err : "Syntax error");
		return -1;
	}
	return 0;
}

void imap_command_free(struct imap_command *cmd)
{
	arena_free(cmd->arena);
	cmd->arena = NULL;
	cmd->args = NULL;
	cmd->nargs = 0;
}

int imap_line_literal(const char *line, size_t len, uint64_t *size, bool *nonsync)
{
	if (len < 3 || line[len - 1] != '}')
		return 0;
	const char *open = NULL;
	for (size_t i = len - 1; i > 0; i--) {
		char c = line[i - 1];
		if (c == '{') {
			open = line + i - 1;
			break;
		}
		if (!(c >= '0' && c <= '9') && c != '+')
			return 0;
	}
	if (open == NULL)
		return 0;
	const char *after = literal_size(open, line + len, size, nonsync);
	return after == line + len ? 1 : -1;
}

bool imap_arg_is_string(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_LITERAL;
}

bool imap_arg_is_atom(const struct imap_arg *a, const char *word)
{
	return (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NIL) && str_ieq(a->str, word);
}

const char *imap_arg_astring(const struct imap_arg *a)
{
	/* NIL is an atom too: "SEARCH SUBJECT NIL" searches for the text NIL */
	if ((!imap_arg_is_string(a) && a->type != IMAP_ARG_NIL) || strlen(a->str) != a->len)
		return NULL;
	return a->str;
}

/* ---- sequence sets ---- */

static int seq_number(const char **pp, uint32_t *out)
{
	const char *p = *pp;
	if (*p == '*') {
		*out = IMAP_SEQ_STAR;
		*pp = p + 1;
		return 0;
	}
	if (*p < '1' || *p > '9')
		return -1;
	uint64_t v = 0;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX) /* nz-number < 2^32 */
			return -1;
		p++;
	}
	/* 4294967295 stands for '*' inside; clients that write it mean "the top", and no
	 * UID reaches it (the store's UIDNEXT stays below), so it becomes 4294967294. */
	*out = v == UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)v;
	*pp = p;
	return 0;
}

int imap_seqset_parse(const char *s, struct imap_seqset *out)
{
	out->r = NULL;
	out->n = 0;
	size_t cap = 0;
	const char *p = s;
	for (;;) {
		struct imap_seq_range r;
		if (seq_number(&p, &r.lo) < 0)
			goto fail;
		r.hi = r.lo;
		if (*p == ':') {
			p++;
			if (seq_number(&p, &r.hi) < 0)
				goto fail;
		}
		if (r.lo > r.hi) {
			uint32_t t = r.lo;
			r.lo = r.hi;
			r.hi = t;
		}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 4;
			out->r = xrealloc(out->r, cap * sizeof(*out->r));
		}
		out->r[out->n++] = r;
		if (*p == '\0')
			return 0;
		if (*p != ',')
			goto fail;
		p++;
	}
fail:
	imap_seqset_free(out);
	return -1;
}

void imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = 0;
}

static uint32_t resolve(uint32_t v, uint32_t star)
{
	return v == IMAP_SEQ_STAR ? star : v;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t v, uint32_t star)
{
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = resolve(set->r[i].lo, star), hi = resolve(set->r[i].hi, star);
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (v >= lo && v <= hi)
			return true;
	}
	return false;
}

bool imap_seqset_has_star(const struct imap_seqset *set)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->r[i].lo == IMAP_SEQ_STAR || set->r[i].hi == IMAP_SEQ_STAR)
			return true;
	return false;
}

uint32_t imap_seqset_max(const struct imap_seqset *set, uint32_t star)
{
	uint32_t m = 0;
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = resolve(set->r[i].lo, star), hi = resolve(set->r[i].hi, star);
		if (lo > m)
			m = lo;
		if (hi > m)
			m = hi;
	}
	return m;
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void imap_seqset_normalise(struct imap_seqset *set, uint32_t star)
{
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = resolve(set->r[i].lo, star), hi = resolve(set->r[i].hi, star);
		set->r[i].lo = lo < hi ? lo : hi;
		set->r[i].hi = lo < hi ? hi : lo;
	}
	if (set->n > 1)
		qsort(set->r, set->n, sizeof(*set->r), range_cmp);
	size_t k = 0;
	for (size_t i = 0; i < set->n; i++) {
		if (k > 0 && (uint64_t)set->r[i].lo <= (uint64_t)set->r[k - 1].hi + 1) {
			if (set->r[i].hi > set->r[k - 1].hi)
				set->r[k - 1].hi = set->r[i].hi;
			continue;
		}
		set->r[k++] = set->r[i];
	}
	set->n = k;
}

bool imap_seqset_has(const struct imap_seqset *set, uint32_t v)
{
	size_t lo = 0, hi = set->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v < set->r[mid].lo)
			hi = mid;
		else if (v > set->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}
