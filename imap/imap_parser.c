/* imap_parser.c: incremental IMAP command parser (see imap_parser.h). */
#include "imap/imap_parser.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"

/* Every node and string of one command lives in an arena, freed at once. */
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

static void arena_clear(struct imap_arena *a)
{
	while (a->head != NULL) {
		struct arena_chunk *n = a->head->next;
		free(a->head);
		a->head = n;
	}
}

static char *arena_strndup(struct imap_arena *a, const char *s, size_t n)
{
	char *d = arena_alloc(a, n + 1);
	if (n > 0)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* The items of one open list (level 0: the command's arguments). */
struct level {
	struct imap_arg *items;
	size_t n, cap;
};

struct imap_parser {
	struct imap_arena arena;
	struct imap_command cmd;
	bool started;  /* the tag and name were read */
	bool failed;   /* a syntax error: nothing more until reset */
	bool need_sep; /* an argument just ended: a space, ')' or the end must follow */
	bool lit_pending;
	bool lit_nonsync, lit_binary;
	uint64_t lit_size;
	unsigned depth;
	size_t nargs;
	struct level lv[IMAP_LIST_DEPTH_MAX + 1];
	const char *err;
	bool utf8; /* 8-bit octets allowed in atoms (kept across commands) */
};

struct imap_parser *imap_parser_new(void)
{
	return xcalloc(1, sizeof(struct imap_parser));
}

void imap_parser_reset(struct imap_parser *p)
{
	arena_clear(&p->arena);
	struct level lv[IMAP_LIST_DEPTH_MAX + 1];
	memcpy(lv, p->lv, sizeof(lv)); /* keep the vectors' memory */
	bool utf8 = p->utf8;
	memset(p, 0, sizeof(*p));
	p->utf8 = utf8;
	for (size_t i = 0; i <= IMAP_LIST_DEPTH_MAX; i++) {
		p->lv[i].items = lv[i].items;
		p->lv[i].cap = lv[i].cap;
	}
	str_assert(str_copy(p->cmd.tag, sizeof(p->cmd.tag), "*"), "a constant into IMAP_TAG_MAX + 1");
}

void imap_parser_set_utf8(struct imap_parser *p, bool on)
{
	p->utf8 = on;
}

void imap_parser_free(struct imap_parser *p)
{
	if (p == NULL)
		return;
	arena_clear(&p->arena);
	for (size_t i = 0; i <= IMAP_LIST_DEPTH_MAX; i++)
		free(p->lv[i].items);
	free(p);
}

static enum imap_parse_result fail(struct imap_parser *p, const char *why)
{
	p->failed = true;
	p->err = why;
	return IMAP_PARSE_ERROR;
}

static int add_arg(struct imap_parser *p, const struct imap_arg *a)
{
	if (++p->nargs > IMAP_ARGS_MAX) {
		p->err = "Too many arguments";
		return -1;
	}
	struct level *l = &p->lv[p->depth];
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
	}
	l->items[l->n++] = *a;
	p->need_sep = true;
	return 0;
}

/* ---- tokens ---- */

/* ATOM-CHAR: any CHAR except atom-specials ( ) { SP CTL % * " \ ]. '%', '*', '\' and
 * ']' are accepted in atoms (list wildcards, flags, resp-specials), as Dovecot does;
 * the handlers validate what they expect. */
static bool atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}

/* The ']' closing a '[' at p, on this line; NULL when there is none. */
static const char *bracket_end(const char *p, const char *end)
{
	return memchr(p, ']', (size_t)(end - p));
}

static const char *parse_atom(struct imap_parser *p, const char *q, const char *end)
{
	const char *start = q;
	while (q < end) {
		unsigned char c = (unsigned char)*q;
		if (c == '[') {
			const char *close = bracket_end(q, end);
			if (close == NULL) { /* '[' is an ATOM-CHAR without a section behind it */
				q++;
				continue;
			}
			for (const char *k = q; k < close; k++)
				if ((unsigned char)*k < 0x20 || (unsigned char)*k >= 0x7f) {
					p->err = "Invalid characters in section";
					return NULL;
				}
			q = close + 1;
			continue;
		}
		if (!atom_char(c) && !(p->utf8 && c >= 0x80))
			break;
		q++;
	}
	if (q < end && (unsigned char)*q >= 0x80) { /* not after ENABLE UTF8=ACCEPT */
		p->err = "8-bit characters not allowed in atoms";
		return NULL;
	}
	if (q == start) {
		p->err = "Unexpected character";
		return NULL;
	}
	size_t n = (size_t)(q - start);
	struct imap_arg a = {.type = n == 3 && str_ieqn(start, "NIL", 3) ? IMAP_ARG_NIL : IMAP_ARG_ATOM,
	                     .str = arena_strndup(&p->arena, start, n),
	                     .len = n};
	return add_arg(p, &a) < 0 ? NULL : q;
}

/* A quoted string: \" and \\ are the only escapes; CR, LF and NUL are refused. 8-bit
 * bytes are accepted only as valid UTF-8 (RFC 9051 allows UTF-8 in quoted strings). */
static const char *parse_quoted(struct imap_parser *p, const char *q, const char *end)
{
	q++; /* opening quote */
	char *out = arena_alloc(&p->arena, (size_t)(end - q) + 1);
	size_t n = 0;
	for (;;) {
		if (q >= end) {
			p->err = "Missing '\"'";
			return NULL;
		}
		char c = *q++;
		if (c == '"')
			break;
		if (c == '\\') {
			if (q >= end || (*q != '"' && *q != '\\')) {
				p->err = "Invalid escape in quoted string";
				return NULL;
			}
			c = *q++;
		} else if (c == '\0' || c == '\r' || c == '\n') {
			p->err = "Invalid character in quoted string";
			return NULL;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	if (!str_is_utf8(out, n)) {
		p->err = "Invalid UTF-8 in quoted string";
		return NULL;
	}
	struct imap_arg a = {.type = IMAP_ARG_QUOTED, .str = out, .len = n};
	return add_arg(p, &a) < 0 ? NULL : q;
}

/* Reads "{N}" / "{N+}" at q: returns the position after '}', or NULL. */
static const char *literal_size(const char *q, const char *end, uint64_t *size, bool *nonsync)
{
	if (q >= end || *q != '{')
		return NULL;
	q++;
	uint64_t v = 0;
	const char *digits = q;
	while (q < end && *q >= '0' && *q <= '9') {
		if (v > (UINT64_MAX / 2 - 9) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*q - '0');
		q++;
	}
	if (q == digits || q - digits > 19)
		return NULL;
	*nonsync = false;
	if (q < end && *q == '+') {
		*nonsync = true;
		q++;
	}
	if (q >= end || *q != '}')
		return NULL;
	*size = v;
	return q + 1;
}

/* A literal announcement: the last thing on its line. */
static enum imap_parse_result parse_literal(struct imap_parser *p, const char *q, const char *end,
                                            bool binary)
{
	const char *after = literal_size(q, end, &p->lit_size, &p->lit_nonsync);
	if (after == NULL || after != end)
		return fail(p, "Invalid literal");
	p->lit_binary = binary;
	p->lit_pending = true;
	return IMAP_PARSE_LITERAL;
}

static const char *open_list(struct imap_parser *p, const char *q)
{
	if (p->depth >= IMAP_LIST_DEPTH_MAX) {
		p->err = "Too deeply nested";
		return NULL;
	}
	p->depth++;
	p->lv[p->depth].n = 0;
	p->need_sep = false;
	return q + 1;
}

static const char *close_list(struct imap_parser *p, const char *q)
{
	if (p->depth == 0) {
		p->err = "Unexpected ')'";
		return NULL;
	}
	struct level *l = &p->lv[p->depth];
	struct imap_arg a = {.type = IMAP_ARG_LIST, .count = l->n};
	if (l->n > 0) {
		a.list = arena_alloc(&p->arena, l->n * sizeof(*l->items));
		memcpy(a.list, l->items, l->n * sizeof(*l->items));
	}
	p->depth--;
	return add_arg(p, &a) < 0 ? NULL : q + 1;
}

/* ---- tag and name ---- */

static bool tag_char(unsigned char c)
{
	return atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\';
}

/* Reads alphabetic characters upper-cased into name at *n. */
static const char *read_word(const char *q, const char *end, char *name, size_t *n, size_t cap)
{
	const char *start = q;
	while (q < end && isalpha((unsigned char)*q)) {
		if (*n + 1 >= cap)
			return NULL;
		name[(*n)++] = (char)toupper((unsigned char)*q++);
	}
	return q > start ? q : NULL;
}

/* tag SP name [SP uid-subcommand]. Returns the position after the name, or NULL. */
static const char *parse_tag_name(struct imap_parser *p, const char *q, const char *end)
{
	const char *t = q;
	while (q < end && tag_char((unsigned char)*q))
		q++;
	if (q == t || (size_t)(q - t) > IMAP_TAG_MAX) {
		p->err = q == t ? "Missing tag" : "Tag too long";
		return NULL;
	}
	if (q < end && *q != ' ') {
		p->err = "Invalid characters in tag";
		return NULL;
	}
	memcpy(p->cmd.tag, t, (size_t)(q - t));
	p->cmd.tag[q - t] = '\0';
	if (q >= end) {
		p->err = "Missing command";
		return NULL;
	}
	size_t n = 0;
	q = read_word(q + 1, end, p->cmd.name, &n, sizeof(p->cmd.name));
	if (q == NULL || (q < end && *q != ' ')) {
		p->err = "Invalid command name";
		return NULL;
	}
	p->cmd.name[n] = '\0';
	if (strcmp(p->cmd.name, "UID") == 0) { /* UID FETCH/STORE/...: one name (RFC 9051 6.4.9) */
		p->cmd.name[n++] = ' ';
		if (q >= end || (q = read_word(q + 1, end, p->cmd.name, &n, sizeof(p->cmd.name))) == NULL ||
		    (q < end && *q != ' ')) {
			p->err = "Invalid UID command";
			return NULL;
		}
		p->cmd.name[n] = '\0';
	}
	return q;
}

/* ---- lines ---- */

static enum imap_parse_result parse_items(struct imap_parser *p, const char *q, const char *end)
{
	while (q < end) {
		if (*q == ')') {
			if ((q = close_list(p, q)) == NULL)
				return fail(p, p->err);
			continue;
		}
		if (p->need_sep) {
			if (*q != ' ')
				return fail(p, "Missing space between arguments");
			q++;
			if (q >= end || *q == ' ' || *q == ')')
				return fail(p, "Unexpected space");
			p->need_sep = false;
			continue;
		}
		switch (*q) {
		case '"':
			q = parse_quoted(p, q, end);
			break;
		case '(':
			q = open_list(p, q);
			break;
		case '{':
			return parse_literal(p, q, end, false);
		case '~': /* literal8 (RFC 3516, RFC 9051) */
			if (end - q > 1 && q[1] == '{')
				return parse_literal(p, q + 1, end, true);
			q = parse_atom(p, q, end);
			break;
		default:
			q = parse_atom(p, q, end);
		}
		if (q == NULL)
			return fail(p, p->err);
	}
	if (p->depth > 0)
		return fail(p, "Missing ')'");
	p->cmd.args = p->lv[0].items;
	p->cmd.nargs = p->lv[0].n;
	return IMAP_PARSE_DONE;
}

enum imap_parse_result imap_parser_line(struct imap_parser *p, const char *line, size_t len)
{
	const char *q = line, *end = line + len;
	if (p->failed)
		return IMAP_PARSE_ERROR;
	if (p->lit_pending)
		return fail(p, "Literal expected");
	if (!p->started) {
		p->started = true;
		if ((q = parse_tag_name(p, q, end)) == NULL)
			return fail(p, p->err);
		if (q < end) {
			q++; /* the space after the name */
			if (q >= end || *q == ' ')
				return fail(p, "Unexpected space");
		}
	}
	enum imap_parse_result r = parse_items(p, q, end);
	p->cmd.args = p->lv[0].items;
	p->cmd.nargs = p->lv[0].n;
	return r;
}

uint64_t imap_parser_literal_size(const struct imap_parser *p)
{
	return p->lit_size;
}

bool imap_parser_literal_nonsync(const struct imap_parser *p)
{
	return p->lit_nonsync;
}

bool imap_parser_literal_binary(const struct imap_parser *p)
{
	return p->lit_binary;
}

unsigned imap_parser_depth(const struct imap_parser *p)
{
	return p->depth;
}

bool imap_parser_literal_pending(const struct imap_parser *p)
{
	return p->lit_pending && !p->failed;
}

static void add_literal(struct imap_parser *p, const char *str, size_t len)
{
	struct imap_arg a = {.type = IMAP_ARG_LITERAL, .str = str, .len = len, .binary = p->lit_binary};
	p->lit_pending = false;
	if (add_arg(p, &a) < 0)
		(void)fail(p, p->err);
	p->cmd.args = p->lv[0].items;
	p->cmd.nargs = p->lv[0].n;
}

void imap_parser_literal_data(struct imap_parser *p, const char *data, size_t len)
{
	add_literal(p, arena_strndup(&p->arena, data, len), len);
}

void imap_parser_literal_streamed(struct imap_parser *p)
{
	add_literal(p, NULL, (size_t)p->lit_size);
}

struct imap_command *imap_parser_command(struct imap_parser *p)
{
	return &p->cmd;
}

const char *imap_parser_error(const struct imap_parser *p)
{
	return p->err != NULL ? p->err : "Syntax error";
}

int imap_parse_command(const char *data, size_t len, struct imap_parser **pr, struct imap_command **cmd,
                       char *err, size_t errlen)
{
	struct imap_parser *p = imap_parser_new();
	imap_parser_reset(p);
	*pr = p;
	*cmd = &p->cmd;
	const char *q = data, *end = data + len;
	for (;;) {
		const char *eol = q;
		while (eol + 1 < end && !(eol[0] == '\r' && eol[1] == '\n'))
			eol++;
		if (eol + 1 >= end)
			eol = end;
		enum imap_parse_result r = imap_parser_line(p, q, (size_t)(eol - q));
		if (r == IMAP_PARSE_ERROR)
			break;
		if (r == IMAP_PARSE_DONE) {
			if (eol == end)
				return 0;
			(void)fail(p, "Unexpected data after the command");
			break;
		}
		q = eol == end ? end : eol + 2;
		if (eol == end || (uint64_t)(end - q) < p->lit_size) {
			(void)fail(p, "Literal shorter than announced");
			break;
		}
		imap_parser_literal_data(p, q, (size_t)p->lit_size);
		q += p->lit_size;
	}
	str_error(err, errlen, "%s", imap_parser_error(p));
	return -1;
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
	if ((!imap_arg_is_string(a) && a->type != IMAP_ARG_NIL) || a->str == NULL || strlen(a->str) != a->len)
		return NULL;
	return a->str;
}
