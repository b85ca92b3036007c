/* imap_search.c: SEARCH, SORT and THREAD grammar (see imap_search.h). */
#include "imap/imap_search.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap_date.h"
#include "lib/buf.h"
#include "lib/str.h"

struct sparse {
	const struct imap_arg *args;
	size_t n, i;
	int depth;
	bool has_modseq;
	const char *err;
};

static void node_free(struct imap_snode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	imap_seqset_free(&n->set);
	free(n);
}

static struct imap_snode *node(enum imap_skey k)
{
	struct imap_snode *n = xcalloc(1, sizeof(*n));
	n->key = k;
	return n;
}

static void add_kid(struct imap_snode *parent, struct imap_snode *kid)
{
	parent->kids = xrealloc(parent->kids, (parent->nkids + 1) * sizeof(*parent->kids));
	parent->kids[parent->nkids++] = kid;
}

static struct imap_snode *negate(struct imap_snode *k)
{
	if (k == NULL)
		return NULL;
	struct imap_snode *n = node(IMAP_SK_NOT);
	add_kid(n, k);
	return n;
}

static struct imap_snode *parse_key(struct sparse *p);

static const struct imap_arg *next_arg(struct sparse *p)
{
	if (p->i >= p->n) {
		p->err = "Missing search argument";
		return NULL;
	}
	return &p->args[p->i++];
}

static const char *next_string(struct sparse *p)
{
	const struct imap_arg *a = next_arg(p);
	const char *v = a ? imap_arg_astring(a) : NULL;
	if (a && v == NULL)
		p->err = "Expected a string";
	return v;
}

static struct imap_snode *flag_key(uint32_t flag, bool un)
{
	struct imap_snode *n = node(IMAP_SK_FLAG);
	n->flag = flag;
	return un ? negate(n) : n;
}

static struct imap_snode *text_key(struct sparse *p, enum imap_skey k, const char *field)
{
	const char *needle = next_string(p);
	if (needle == NULL)
		return NULL;
	struct imap_snode *n = node(k);
	n->field = field;
	n->str = needle;
	return n;
}

static struct imap_snode *date_key(struct sparse *p, enum imap_skey k)
{
	const char *d = next_string(p);
	int64_t t;
	if (d == NULL)
		return NULL;
	if (imap_date_parse(d, &t) < 0) {
		p->err = "Invalid date";
		return NULL;
	}
	struct imap_snode *n = node(k);
	n->date = t;
	return n;
}

static struct imap_snode *number_key(struct sparse *p, enum imap_skey k)
{
	const struct imap_arg *a = next_arg(p);
	uint64_t v;
	if (a == NULL || a->type != IMAP_ARG_ATOM || str_to_u64(a->str, UINT64_MAX / 2, &v) < 0) {
		p->err = "Invalid number";
		return NULL;
	}
	struct imap_snode *n = node(k);
	n->num = v;
	return n;
}

static uint32_t system_flag(const char *s)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} t[] = {{"\\Seen", IMAP_FLAG_SEEN},
	         {"\\Answered", IMAP_FLAG_ANSWERED},
	         {"\\Flagged", IMAP_FLAG_FLAGGED},
	         {"\\Deleted", IMAP_FLAG_DELETED},
	         {"\\Draft", IMAP_FLAG_DRAFT}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (str_ieq(s, t[i].name))
			return t[i].bit;
	return 0;
}

static struct imap_snode *keyword_key(struct sparse *p, bool un)
{
	const struct imap_arg *a = next_arg(p);
	if (a == NULL || (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)) {
		p->err = "Invalid keyword";
		return NULL;
	}
	uint32_t f = a->str[0] == '\\' ? system_flag(a->str) : 0;
	if (f != 0)
		return flag_key(f, un);
	struct imap_snode *n = node(IMAP_SK_KEYWORD);
	n->str = a->str;
	return un ? negate(n) : n;
}

/* RFC 7162 3.1.5: MODSEQ [entry-name entry-type] mod-sequence-valzer */
static struct imap_snode *modseq_key(struct sparse *p)
{
	if (p->i + 2 < p->n && p->args[p->i].type == IMAP_ARG_QUOTED) {
		const struct imap_arg *type = &p->args[p->i + 1];
		if (!imap_arg_is_atom(type, "priv") && !imap_arg_is_atom(type, "shared") &&
		    !imap_arg_is_atom(type, "all")) {
			p->err = "Invalid MODSEQ entry type";
			return NULL;
		}
		p->i += 2; /* per-flag entries: one MODSEQ per message here */
	}
	p->has_modseq = true;
	return number_key(p, IMAP_SK_MODSEQ);
}

static struct imap_snode *set_key(struct sparse *p, const char *set, enum imap_skey k)
{
	if (strcmp(set, "$") == 0)
		return node(IMAP_SK_SAVED);
	struct imap_snode *n = node(k);
	if (imap_seqset_parse(set, &n->set) < 0) {
		p->err = "Invalid sequence set";
		node_free(n);
		return NULL;
	}
	return n;
}

static struct imap_snode *list_key(struct sparse *p, const struct imap_arg *a)
{
	struct sparse sub = {.args = a->list, .n = a->count, .depth = p->depth};
	if (a->count == 0) {
		p->err = "Invalid search list";
		return NULL;
	}
	struct imap_snode *and = node(IMAP_SK_AND);
	while (sub.i < sub.n) {
		struct imap_snode *k = parse_key(&sub);
		if (k == NULL) {
			p->err = sub.err;
			node_free(and);
			return NULL;
		}
		add_kid(and, k);
	}
	p->has_modseq |= sub.has_modseq;
	return and;
}

static struct imap_snode *or_key(struct sparse *p)
{
	struct imap_snode *a = parse_key(p);
	struct imap_snode *b = a ? parse_key(p) : NULL;
	if (b == NULL) {
		node_free(a);
		return NULL;
	}
	struct imap_snode *n = node(IMAP_SK_OR);
	add_kid(n, a);
	add_kid(n, b);
	return n;
}

/* Keys without arguments. Returns NULL when k is none of them. */
static struct imap_snode *simple_key(const char *k)
{
	static const struct {
		const char *name;
		uint32_t flag;
		bool un;
	} t[] = {
	    {"ANSWERED", IMAP_FLAG_ANSWERED, false}, {"UNANSWERED", IMAP_FLAG_ANSWERED, true},
	    {"DELETED", IMAP_FLAG_DELETED, false},   {"UNDELETED", IMAP_FLAG_DELETED, true},
	    {"DRAFT", IMAP_FLAG_DRAFT, false},       {"UNDRAFT", IMAP_FLAG_DRAFT, true},
	    {"FLAGGED", IMAP_FLAG_FLAGGED, false},   {"UNFLAGGED", IMAP_FLAG_FLAGGED, true},
	    {"SEEN", IMAP_FLAG_SEEN, false},         {"UNSEEN", IMAP_FLAG_SEEN, true},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (str_ieq(k, t[i].name))
			return flag_key(t[i].flag, t[i].un);
	if (str_ieq(k, "ALL"))
		return node(IMAP_SK_ALL);
	if (str_ieq(k, "RECENT"))
		return node(IMAP_SK_RECENT);
	if (str_ieq(k, "OLD"))
		return negate(node(IMAP_SK_RECENT));
	if (str_ieq(k, "NEW")) { /* RECENT UNSEEN (RFC 3501 6.4.4) */
		struct imap_snode *n = node(IMAP_SK_AND);
		add_kid(n, node(IMAP_SK_RECENT));
		add_kid(n, flag_key(IMAP_FLAG_SEEN, true));
		return n;
	}
	return NULL;
}

static struct imap_snode *keyed(struct sparse *p, const char *k)
{
	static const char *const headers[] = {"FROM", "From", "TO",  "To",      "CC",
	                                      "Cc",   "BCC",  "Bcc", "SUBJECT", "Subject"};
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i += 2)
		if (str_ieq(k, headers[i]))
			return text_key(p, IMAP_SK_HEADER, headers[i + 1]);
	if (str_ieq(k, "HEADER")) {
		const char *field = next_string(p);
		return field ? text_key(p, IMAP_SK_HEADER, field) : NULL;
	}
	if (str_ieq(k, "BODY"))
		return text_key(p, IMAP_SK_BODY, NULL);
	if (str_ieq(k, "TEXT"))
		return text_key(p, IMAP_SK_TEXT, NULL);
	if (str_ieq(k, "KEYWORD") || str_ieq(k, "UNKEYWORD"))
		return keyword_key(p, str_ieq(k, "UNKEYWORD"));
	static const struct {
		const char *name;
		enum imap_skey key;
	} dates[] = {{"BEFORE", IMAP_SK_BEFORE}, {"ON", IMAP_SK_ON},
	             {"SINCE", IMAP_SK_SINCE},   {"SENTBEFORE", IMAP_SK_SENTBEFORE},
	             {"SENTON", IMAP_SK_SENTON}, {"SENTSINCE", IMAP_SK_SENTSINCE}};
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++)
		if (str_ieq(k, dates[i].name))
			return date_key(p, dates[i].key);
	if (str_ieq(k, "LARGER"))
		return number_key(p, IMAP_SK_LARGER);
	if (str_ieq(k, "SMALLER"))
		return number_key(p, IMAP_SK_SMALLER);
	if (str_ieq(k, "MODSEQ"))
		return modseq_key(p);
	if (str_ieq(k, "NOT"))
		return negate(parse_key(p));
	if (str_ieq(k, "OR"))
		return or_key(p);
	return NULL;
}

static struct imap_snode *parse_key_inner(struct sparse *p)
{
	const struct imap_arg *a = next_arg(p);
	if (a == NULL)
		return NULL;
	if (a->type == IMAP_ARG_LIST)
		return list_key(p, a);
	if (a->type != IMAP_ARG_ATOM) {
		p->err = "Invalid search key";
		return NULL;
	}
	const char *k = a->str;
	struct imap_snode *n = simple_key(k);
	if (n != NULL)
		return n;
	size_t before = p->i;
	const char *err_before = p->err;
	n = keyed(p, k);
	if (n != NULL || p->i != before || p->err != err_before)
		return n;
	if (str_ieq(k, "UID")) {
		const struct imap_arg *s = next_arg(p);
		if (s == NULL || s->type != IMAP_ARG_ATOM) {
			p->err = "Invalid UID set";
			return NULL;
		}
		return set_key(p, s->str, IMAP_SK_UID);
	}
	if ((k[0] >= '0' && k[0] <= '9') || k[0] == '*' || k[0] == '$')
		return set_key(p, k, IMAP_SK_SEQ);
	p->err = "Unknown search key";
	return NULL;
}

/* One key, its nesting bounded (NOT NOT NOT ..., OR chains and lists recurse). */
static struct imap_snode *parse_key(struct sparse *p)
{
	if (++p->depth > IMAP_SEARCH_DEPTH_MAX) {
		p->err = "Search too complex";
		p->depth--;
		return NULL;
	}
	struct imap_snode *n = parse_key_inner(p);
	p->depth--;
	return n;
}

/* "lo:hi" of PARTIAL (RFC 5267 4.4, with RFC 9394's negative ranges). */
static int partial_range(const char *s, int32_t *lo, int32_t *hi)
{
	const char *colon = strchr(s, ':');
	if (colon == NULL)
		return -1;
	char a[16], b[16];
	if ((size_t)(colon - s) >= sizeof(a) || str_copy(b, sizeof(b), colon + 1) < 0)
		return -1;
	memcpy(a, s, (size_t)(colon - s));
	a[colon - s] = '\0';
	bool neg = a[0] == '-';
	uint64_t x, y;
	if (str_to_u64(a + neg, INT32_MAX, &x) < 0 || x == 0 || (b[0] == '-') != neg ||
	    str_to_u64(b + neg, INT32_MAX, &y) < 0 || y == 0)
		return -1;
	*lo = neg ? -(int32_t)x : (int32_t)x;
	*hi = neg ? -(int32_t)y : (int32_t)y;
	return 0;
}

static const struct {
	const char *name;
	unsigned bit;
} return_options[] = {{"MIN", IMAP_SRET_MIN},         {"MAX", IMAP_SRET_MAX},
                      {"ALL", IMAP_SRET_ALL},         {"COUNT", IMAP_SRET_COUNT},
                      {"SAVE", IMAP_SRET_SAVE},       {"UPDATE", IMAP_SRET_UPDATE},
                      {"CONTEXT", IMAP_SRET_CONTEXT}, {"PARTIAL", IMAP_SRET_PARTIAL}};

/* RETURN (options) at args[*i]. Returns 0 or -1. */
static int parse_return(const struct imap_arg *args, size_t n, size_t *i, struct imap_search_query *q,
                        const char **err)
{
	if (*i + 1 >= n || !imap_arg_is_atom(&args[*i], "RETURN") || args[*i + 1].type != IMAP_ARG_LIST)
		return 0;
	const struct imap_arg *l = &args[*i + 1];
	q->esearch = true;
	q->ret = l->count == 0 ? IMAP_SRET_ALL : 0;
	for (size_t k = 0; k < l->count; k++) {
		unsigned bit = 0;
		for (size_t j = 0; j < sizeof(return_options) / sizeof(return_options[0]) && !bit; j++)
			if (imap_arg_is_atom(&l->list[k], return_options[j].name))
				bit = return_options[j].bit;
		if (bit == 0 || (q->ret & bit)) {
			*err = "Invalid RETURN option";
			return -1;
		}
		if (bit == IMAP_SRET_PARTIAL &&
		    (k + 1 >= l->count || l->list[k + 1].type != IMAP_ARG_ATOM ||
		     partial_range(l->list[++k].str, &q->partial_lo, &q->partial_hi) < 0)) {
			*err = "Invalid PARTIAL range";
			return -1;
		}
		q->ret |= bit;
	}
	/* RFC 5267 4.4: PARTIAL and ALL exclude each other */
	if ((q->ret & IMAP_SRET_PARTIAL) && (q->ret & IMAP_SRET_ALL)) {
		*err = "PARTIAL with ALL";
		return -1;
	}
	*i += 2;
	return 0;
}

/* Notes the charset named in q (UTF8=ACCEPT refuses some, RFC 6855 3 and its
 * erratum 4029) and says whether it is one we read. */
static int charset_ok(const struct imap_arg *a, struct imap_search_query *q)
{
	const char *cs = imap_arg_astring(a);
	q->charset = cs != NULL;
	q->charset_utf8 = cs != NULL && str_ieq(cs, "UTF-8");
	return cs != NULL && (str_ieq(cs, "UTF-8") || str_ieq(cs, "US-ASCII"));
}

/* The keys args[i..n), as one AND. */
static int parse_keys(const struct imap_arg *args, size_t n, size_t i, struct imap_search_query *q,
                      const char **err)
{
	if (i >= n) {
		*err = "Search keys expected";
		return -1;
	}
	struct sparse p = {.args = args, .n = n, .i = i};
	q->root = node(IMAP_SK_AND);
	while (p.i < p.n) {
		struct imap_snode *k = parse_key(&p);
		if (k == NULL) {
			*err = p.err ? p.err : "Invalid search";
			return -1;
		}
		add_kid(q->root, k);
	}
	q->has_modseq = p.has_modseq;
	return 0;
}

int imap_search_parse(const struct imap_arg *args, size_t n, struct imap_search_query *q, const char **err)
{
	memset(q, 0, sizeof(*q));
	q->ret = IMAP_SRET_ALL;
	size_t i = 0;
	if (parse_return(args, n, &i, q, err) < 0)
		return -1;
	if (i + 1 < n && imap_arg_is_atom(&args[i], "CHARSET")) {
		if (!charset_ok(&args[i + 1], q))
			return -2;
		i += 2;
	}
	return parse_keys(args, n, i, q, err);
}

static int sort_key(const char *s, enum imap_sort_key *k)
{
	static const struct {
		const char *name;
		enum imap_sort_key key;
	} t[] = {{"ARRIVAL", IMAP_SORT_ARRIVAL},
	         {"CC", IMAP_SORT_CC},
	         {"DATE", IMAP_SORT_DATE},
	         {"FROM", IMAP_SORT_FROM},
	         {"SIZE", IMAP_SORT_SIZE},
	         {"SUBJECT", IMAP_SORT_SUBJECT},
	         {"TO", IMAP_SORT_TO},
	         {"DISPLAYFROM", IMAP_SORT_DISPLAYFROM},
	         {"DISPLAYTO", IMAP_SORT_DISPLAYTO}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (str_ieq(s, t[i].name)) {
			*k = t[i].key;
			return 0;
		}
	return -1;
}

static int parse_criteria(const struct imap_arg *a, struct imap_sort_criteria *sc, const char **err)
{
	*err = "Invalid sort criteria";
	if (a->type != IMAP_ARG_LIST || a->count == 0)
		return -1;
	bool reverse = false;
	for (size_t k = 0; k < a->count; k++) {
		const struct imap_arg *c = &a->list[k];
		if (c->type != IMAP_ARG_ATOM)
			return -1;
		if (str_ieq(c->str, "REVERSE") && !reverse) {
			reverse = true;
			continue;
		}
		if (sc->n == IMAP_SORT_KEYS_MAX || sort_key(c->str, &sc->key[sc->n]) < 0)
			return -1;
		sc->reverse[sc->n++] = reverse;
		reverse = false;
	}
	return reverse ? -1 : 0; /* REVERSE must name a key */
}

int imap_sort_parse(const struct imap_arg *args, size_t n, struct imap_sort_criteria *sc,
                    struct imap_search_query *q, const char **err)
{
	memset(q, 0, sizeof(*q));
	memset(sc, 0, sizeof(*sc));
	q->ret = IMAP_SRET_ALL;
	size_t i = 0;
	if (parse_return(args, n, &i, q, err) < 0)
		return -1;
	if (i + 1 >= n || parse_criteria(&args[i], sc, err) < 0)
		return -1;
	if (!charset_ok(&args[i + 1], q))
		return imap_arg_astring(&args[i + 1]) != NULL ? -2 : -1;
	return parse_keys(args, n, i + 2, q, err);
}

int imap_thread_parse(const struct imap_arg *args, size_t n, bool *refs, struct imap_search_query *q,
                      const char **err)
{
	memset(q, 0, sizeof(*q));
	q->ret = IMAP_SRET_ALL;
	if (n < 3 || args[0].type != IMAP_ARG_ATOM) {
		*err = "THREAD expects an algorithm, a charset and search keys";
		return -1;
	}
	if (str_ieq(args[0].str, "REFERENCES"))
		*refs = true;
	else if (str_ieq(args[0].str, "ORDEREDSUBJECT"))
		*refs = false;
	else {
		*err = "Unknown threading algorithm";
		return -1;
	}
	if (!charset_ok(&args[1], q))
		return imap_arg_astring(&args[1]) != NULL ? -2 : -1;
	return parse_keys(args, n, 2, q, err);
}

void imap_search_free(struct imap_search_query *q)
{
	node_free(q->root);
	q->root = NULL;
}

bool imap_search_has(const struct imap_snode *n, enum imap_skey k)
{
	if (n == NULL)
		return false;
	if (n->key == k)
		return true;
	for (size_t i = 0; i < n->nkids; i++)
		if (imap_search_has(n->kids[i], k))
			return true;
	return false;
}
