/* imap_search.c: SEARCH and UID SEARCH (RFC 3501 6.4.4 keys, RFC 7162 MODSEQ).
 *
 * The keys are parsed into a tree, then evaluated message by message; flags and UIDs
 * come from the session's view, dates and sizes from the store's metadata (read once
 * per message, only when a key needs them), text from store_search_text (which
 * decrypts). Inside an AND, cheap keys are evaluated before text keys. */
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_cmd.h"
#include "imap/imap_date.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"

#define SEARCH_DEPTH_MAX 32

enum skind {
	K_ALL,
	K_AND,
	K_OR,
	K_NOT,
	K_FLAG, /* flags & flag */
	K_KEYWORD,
	K_RECENT,
	K_BEFORE,
	K_ON,
	K_SINCE, /* INTERNALDATE */
	K_SENTBEFORE,
	K_SENTON,
	K_SENTSINCE, /* Date: header */
	K_LARGER,
	K_SMALLER,
	K_TEXT, /* header/body/text substring */
	K_SEQ,
	K_UID,
	K_MODSEQ,
	K_SAVED, /* "$": the saved result (RFC 5182) */
};

struct snode {
	enum skind kind;
	uint32_t flag;
	uint64_t num;
	int64_t date;
	const char *str;   /* keyword / needle (points into the command) */
	const char *field; /* header field for K_TEXT */
	enum store_text_where where;
	struct imap_seqset set;
	struct snode **kids;
	size_t nkids;
};

struct sparse {
	struct imap_session *s;
	const struct imap_arg *args;
	size_t n, i;
	int depth;
	bool has_modseq;
	const char *err;
};

struct sctx {
	struct imap_session *s;
	size_t idx; /* view index of the message */
	bool meta_loaded;
	int meta_rc;
	struct store_message meta;
	bool error;
};

static void snode_free(struct snode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		snode_free(n->kids[i]);
	free(n->kids);
	imap_seqset_free(&n->set);
	free(n);
}

static struct snode *snode_new(enum skind k)
{
	struct snode *n = xcalloc(1, sizeof(*n));
	n->kind = k;
	return n;
}

static void snode_add(struct snode *parent, struct snode *kid)
{
	parent->kids = xrealloc(parent->kids, (parent->nkids + 1) * sizeof(*parent->kids));
	parent->kids[parent->nkids++] = kid;
}

static struct snode *parse_key(struct sparse *p);

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

static struct snode *flag_key(uint32_t flag, bool negate)
{
	struct snode *n = snode_new(K_FLAG);
	n->flag = flag;
	if (!negate)
		return n;
	struct snode *no = snode_new(K_NOT);
	snode_add(no, n);
	return no;
}

static struct snode *negate(struct snode *k)
{
	if (k == NULL)
		return NULL;
	struct snode *n = snode_new(K_NOT);
	snode_add(n, k);
	return n;
}

static struct snode *text_key(struct sparse *p, enum store_text_where where, const char *field)
{
	const char *needle = next_string(p);
	if (needle == NULL)
		return NULL;
	struct snode *n = snode_new(K_TEXT);
	n->where = where;
	n->field = field;
	n->str = needle;
	return n;
}

static struct snode *date_key(struct sparse *p, enum skind k)
{
	const char *d = next_string(p);
	int64_t t;
	if (d == NULL)
		return NULL;
	if (imap_date_parse(d, &t) < 0) {
		p->err = "Invalid date";
		return NULL;
	}
	struct snode *n = snode_new(k);
	n->date = t;
	return n;
}

static struct snode *number_key(struct sparse *p, enum skind k)
{
	const struct imap_arg *a = next_arg(p);
	uint64_t v;
	if (a == NULL || a->type != IMAP_ARG_ATOM || str_to_u64(a->str, UINT64_MAX / 2, &v) < 0) {
		p->err = "Invalid number";
		return NULL;
	}
	struct snode *n = snode_new(k);
	n->num = v;
	return n;
}

static struct snode *keyword_key(struct sparse *p, bool un)
{
	const struct imap_arg *a = next_arg(p);
	if (a == NULL || a->type != IMAP_ARG_ATOM) {
		p->err = "Invalid keyword";
		return NULL;
	}
	uint32_t f = a->str[0] == '\\' ? store_flag_parse(a->str) : 0;
	if (f)
		return flag_key(f, un);
	struct snode *n = snode_new(K_KEYWORD);
	n->str = a->str;
	return un ? negate(n) : n;
}

/* RFC 7162 3.1.5: MODSEQ [entry-name entry-type] mod-sequence-valzer */
static struct snode *modseq_key(struct sparse *p)
{
	if (p->i + 2 < p->n && p->args[p->i].type == IMAP_ARG_QUOTED)
		p->i += 2; /* per-flag entries: we keep one MODSEQ per message */
	p->has_modseq = true;
	imap_condstore_enable(p->s);
	return number_key(p, K_MODSEQ);
}

static struct snode *set_key(struct sparse *p, const char *set, enum skind k)
{
	struct snode *n = snode_new(k);
	if (imap_seqset_parse(set, &n->set) < 0) {
		p->err = "Invalid sequence set";
		snode_free(n);
		return NULL;
	}
	const struct imap_view *v = &p->s->view;
	uint32_t star = k == K_SEQ ? (uint32_t)v->n : (v->n ? v->v[v->n - 1].uid : 0);
	imap_seqset_normalise(&n->set, star);
	return n;
}

static struct snode *list_key(struct sparse *p, const struct imap_arg *a)
{
	struct sparse sub = {.s = p->s, .args = a->list, .n = a->count, .depth = p->depth + 1};
	if (a->count == 0 || sub.depth > SEARCH_DEPTH_MAX * 4) {
		p->err = "Invalid search list";
		return NULL;
	}
	struct snode *and = snode_new(K_AND);
	while (sub.i < sub.n) {
		struct snode *k = parse_key(&sub);
		if (k == NULL) {
			p->err = sub.err;
			snode_free(and);
			return NULL;
		}
		snode_add(and, k);
	}
	p->has_modseq |= sub.has_modseq;
	return and;
}

static struct snode *or_key(struct sparse *p)
{
	struct snode *a = parse_key(p);
	struct snode *b = a ? parse_key(p) : NULL;
	if (b == NULL) {
		snode_free(a);
		return NULL;
	}
	struct snode *n = snode_new(K_OR);
	snode_add(n, a);
	snode_add(n, b);
	return n;
}

static struct snode *header_key(struct sparse *p)
{
	const char *field = next_string(p);
	return field ? text_key(p, STORE_TEXT_HEADER, field) : NULL;
}

/* Keys without arguments. Returns NULL when name is none of them. */
static struct snode *simple_key(const char *k)
{
	static const struct {
		const char *name;
		uint32_t flag;
		bool un;
	} t[] = {
	    {"ANSWERED", STORE_FLAG_ANSWERED, false}, {"UNANSWERED", STORE_FLAG_ANSWERED, true},
	    {"DELETED", STORE_FLAG_DELETED, false},   {"UNDELETED", STORE_FLAG_DELETED, true},
	    {"DRAFT", STORE_FLAG_DRAFT, false},       {"UNDRAFT", STORE_FLAG_DRAFT, true},
	    {"FLAGGED", STORE_FLAG_FLAGGED, false},   {"UNFLAGGED", STORE_FLAG_FLAGGED, true},
	    {"SEEN", STORE_FLAG_SEEN, false},         {"UNSEEN", STORE_FLAG_SEEN, true},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (str_ieq(k, t[i].name))
			return flag_key(t[i].flag, t[i].un);
	if (str_ieq(k, "ALL"))
		return snode_new(K_ALL);
	if (str_ieq(k, "RECENT"))
		return snode_new(K_RECENT);
	if (str_ieq(k, "OLD"))
		return negate(snode_new(K_RECENT));
	if (str_ieq(k, "NEW")) {
		struct snode *n = snode_new(K_AND);
		snode_add(n, snode_new(K_RECENT));
		snode_add(n, flag_key(STORE_FLAG_SEEN, true));
		return n;
	}
	return NULL;
}

static struct snode *header_alias(struct sparse *p, const char *k)
{
	static const char *const h[] = {"FROM", "From", "TO",  "To",      "CC",
	                                "Cc",   "BCC",  "Bcc", "SUBJECT", "Subject"};
	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i += 2)
		if (str_ieq(k, h[i]))
			return text_key(p, STORE_TEXT_HEADER, h[i + 1]);
	return NULL;
}

static struct snode *parse_key_inner(struct sparse *p)
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
	struct snode *n = simple_key(k);
	if (n != NULL)
		return n;
	if (str_ieq(k, "NOT"))
		return negate(parse_key(p));
	if (str_ieq(k, "OR"))
		return or_key(p);
	if (str_ieq(k, "FROM") || str_ieq(k, "TO") || str_ieq(k, "CC") || str_ieq(k, "BCC") ||
	    str_ieq(k, "SUBJECT"))
		return header_alias(p, k);
	if (str_ieq(k, "HEADER"))
		return header_key(p);
	if (str_ieq(k, "BODY"))
		return text_key(p, STORE_TEXT_BODY, NULL);
	if (str_ieq(k, "TEXT"))
		return text_key(p, STORE_TEXT_TEXT, NULL);
	if (str_ieq(k, "KEYWORD") || str_ieq(k, "UNKEYWORD"))
		return keyword_key(p, str_ieq(k, "UNKEYWORD"));
	static const struct {
		const char *name;
		enum skind kind;
	} dates[] = {{"BEFORE", K_BEFORE},         {"ON", K_ON},         {"SINCE", K_SINCE},
	             {"SENTBEFORE", K_SENTBEFORE}, {"SENTON", K_SENTON}, {"SENTSINCE", K_SENTSINCE}};
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++)
		if (str_ieq(k, dates[i].name))
			return date_key(p, dates[i].kind);
	if (str_ieq(k, "LARGER"))
		return number_key(p, K_LARGER);
	if (str_ieq(k, "SMALLER"))
		return number_key(p, K_SMALLER);
	if (str_ieq(k, "MODSEQ"))
		return modseq_key(p);
	if (str_ieq(k, "UID")) {
		const struct imap_arg *s = next_arg(p);
		if (s == NULL || s->type != IMAP_ARG_ATOM) {
			p->err = "Invalid UID set";
			return NULL;
		}
		return strcmp(s->str, "$") == 0 ? snode_new(K_SAVED) : set_key(p, s->str, K_UID);
	}
	if ((k[0] >= '0' && k[0] <= '9') || k[0] == '*')
		return set_key(p, k, K_SEQ);
	if (strcmp(k, "$") == 0)
		return snode_new(K_SAVED);
	p->err = "Unknown search key";
	return NULL;
}

/* One key, its nesting bounded (NOT NOT NOT ... and OR chains recurse). */
static struct snode *parse_key(struct sparse *p)
{
	if (++p->depth > SEARCH_DEPTH_MAX * 4) {
		p->err = "Search too complex";
		p->depth--;
		return NULL;
	}
	struct snode *n = parse_key_inner(p);
	p->depth--;
	return n;
}

/* ---- evaluation ---- */

static const struct store_message *meta(struct sctx *x)
{
	if (!x->meta_loaded) {
		char err[256];
		memset(&x->meta, 0, sizeof(x->meta));
		x->meta_rc = store_message_get(x->s->store, x->s->view.id, x->s->view.v[x->idx].uid, 0,
		                               &x->meta, err, sizeof(err));
		if (x->meta_rc < 0) {
			log_err("imap.search", "user=%s error=\"%s\"", x->s->account.address, err);
			x->error = true;
		}
		x->meta_loaded = true;
	}
	return x->meta_rc == 1 ? &x->meta : NULL;
}

static bool has_keyword(const char *list, const char *kw)
{
	if (list == NULL)
		return false;
	size_t n = strlen(kw);
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ' ');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && str_ieqn(p, kw, n))
			return true;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return false;
}

static bool has_uid(const uint32_t *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] == uid)
			return true;
		if (v[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool date_cmp(enum skind k, int64_t t, int64_t day)
{
	switch (k) {
	case K_BEFORE:
	case K_SENTBEFORE:
		return t < day;
	case K_ON:
	case K_SENTON:
		return t >= day && t < day + 86400;
	default:
		return t >= day;
	}
}

static bool eval(struct sctx *x, const struct snode *n);

static bool eval_text(struct sctx *x, const struct snode *n)
{
	char err[256];
	int rc = store_search_text(x->s->store, x->s->view.id, x->s->view.v[x->idx].uid, n->where,
	                           n->field ? n->field : "", n->str, err, sizeof(err));
	if (rc < 0) {
		log_err("imap.search", "user=%s error=\"%s\"", x->s->account.address, err);
		x->error = true;
	}
	return rc == 1;
}

static bool eval_meta(struct sctx *x, const struct snode *n)
{
	const struct store_message *m = meta(x);
	if (m == NULL)
		return false;
	switch (n->kind) {
	case K_LARGER:
		return m->msg.size > n->num;
	case K_SMALLER:
		return m->msg.size < n->num;
	case K_BEFORE:
	case K_ON:
	case K_SINCE:
		return date_cmp(n->kind, m->msg.internaldate, n->date);
	default:
		return m->sent_date != 0 && date_cmp(n->kind, m->sent_date, n->date);
	}
}

static bool eval(struct sctx *x, const struct snode *n)
{
	const struct imap_msg *m = &x->s->view.v[x->idx];
	switch (n->kind) {
	case K_ALL:
		return true;
	case K_AND:
		for (size_t i = 0; i < n->nkids; i++)
			if (!eval(x, n->kids[i]))
				return false;
		return true;
	case K_OR:
		return eval(x, n->kids[0]) || eval(x, n->kids[1]);
	case K_NOT:
		return !eval(x, n->kids[0]);
	case K_FLAG:
		return (m->flags & n->flag) != 0;
	case K_KEYWORD:
		return has_keyword(m->keywords, n->str);
	case K_RECENT:
		return m->recent;
	case K_SEQ:
		return imap_seqset_has(&n->set, (uint32_t)(x->idx + 1));
	case K_UID:
		return imap_seqset_has(&n->set, m->uid);
	case K_MODSEQ:
		return m->modseq >= n->num;
	case K_SAVED:
		return has_uid(x->s->saved, x->s->nsaved, m->uid);
	case K_TEXT:
		return eval_text(x, n);
	default:
		return eval_meta(x, n);
	}
}

/* Text keys decrypt the message: put them last in every AND so cheap keys short-cut. */
static int cost(const struct snode *n)
{
	if (n->kind == K_TEXT)
		return 2;
	int c = 0;
	for (size_t i = 0; i < n->nkids; i++) {
		int k = cost(n->kids[i]);
		if (k > c)
			c = k;
	}
	return c;
}

static void order_cheap_first(struct snode *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		order_cheap_first(n->kids[i]);
	if (n->kind != K_AND)
		return;
	for (size_t i = 1; i < n->nkids; i++) /* stable insertion sort, few keys */
		for (size_t j = i; j > 0 && cost(n->kids[j - 1]) > cost(n->kids[j]); j--) {
			struct snode *t = n->kids[j];
			n->kids[j] = n->kids[j - 1];
			n->kids[j - 1] = t;
		}
}

/* [CHARSET x]: UTF-8 and US-ASCII only (RFC 9051 6.4.4). Returns 1 when a NO was sent. */
static int parse_charset(struct imap_session *s, struct imap_command *c, size_t *first)
{
	size_t i = *first;
	if (c->nargs >= i + 2 && imap_arg_is_atom(&c->args[i], "CHARSET")) {
		const char *cs = imap_arg_astring(&c->args[i + 1]);
		if (cs == NULL || (!str_ieq(cs, "UTF-8") && !str_ieq(cs, "US-ASCII"))) {
			imap_no(s, c->tag, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
			return 1;
		}
		*first = i + 2;
	}
	return 0;
}

/* SEARCH RETURN options (RFC 4731 ESEARCH, RFC 5182 SEARCHRES). */
#define RET_MIN 0x01u
#define RET_MAX 0x02u
#define RET_ALL 0x04u
#define RET_COUNT 0x08u
#define RET_SAVE 0x10u

/* Saves the result as "$" (RFC 5182 2.1: with MIN/MAX only, just those). */
static void save_result(struct imap_session *s, const uint32_t *uids, size_t n, unsigned ret)
{
	free(s->saved);
	s->saved = NULL;
	s->nsaved = 0;
	if (n == 0)
		return;
	s->saved = xcalloc(n, sizeof(*s->saved));
	if ((ret & (RET_ALL | RET_COUNT)) || !(ret & (RET_MIN | RET_MAX))) {
		memcpy(s->saved, uids, n * sizeof(*uids));
		s->nsaved = n;
		return;
	}
	if (ret & RET_MIN)
		s->saved[s->nsaved++] = uids[0];
	if ((ret & RET_MAX) && (s->nsaved == 0 || uids[n - 1] != uids[0]))
		s->saved[s->nsaved++] = uids[n - 1];
}

/* The MODSEQ an ESEARCH answer carries: the highest among the messages it returns,
 * so only those of MIN and MAX when neither ALL nor COUNT is asked (RFC 7162 3.1.5). */
static uint64_t returned_modseq(struct imap_session *s, const uint32_t *uids, size_t n, unsigned ret,
                                uint64_t maxmod)
{
	if (n == 0 || (ret & (RET_ALL | RET_COUNT)))
		return maxmod;
	uint64_t m = 0;
	size_t ends[2] = {0, n - 1};
	for (size_t k = 0; k < 2; k++) {
		if (!(ret & (k == 0 ? RET_MIN : RET_MAX)))
			continue;
		size_t i = imap_view_find(s, uids[ends[k]]);
		if (i != (size_t)-1 && s->view.v[i].modseq > m)
			m = s->view.v[i].modseq;
	}
	return m;
}

static void write_esearch(struct imap_session *s, const char *tag, bool uid, const uint32_t *v, size_t n,
                          unsigned ret, bool has_modseq, uint64_t maxmod)
{
	conn_printf(s->conn, "* ESEARCH (TAG \"%s\")%s", tag, uid ? " UID" : "");
	if (n > 0 && (ret & RET_MIN))
		conn_printf(s->conn, " MIN %u", v[0]);
	if (n > 0 && (ret & RET_MAX))
		conn_printf(s->conn, " MAX %u", v[n - 1]);
	if (ret & RET_COUNT)
		conn_printf(s->conn, " COUNT %zu", n);
	if (n > 0 && (ret & RET_ALL)) {
		struct buf set;
		buf_init(&set, BUF_UNLIMITED);
		imap_set_format(&set, v, n);
		conn_printf(s->conn, " ALL %s", set.data);
		buf_free(&set);
	}
	if (has_modseq && n > 0)
		conn_printf(s->conn, " MODSEQ %llu", (unsigned long long)maxmod);
	conn_puts(s->conn, "\r\n");
}

static void write_search(struct imap_session *s, const uint32_t *v, size_t n, bool has_modseq,
                         uint64_t maxmod)
{
	conn_puts(s->conn, "* SEARCH");
	for (size_t i = 0; i < n; i++)
		conn_printf(s->conn, " %u", v[i]);
	if (has_modseq && n > 0)
		conn_printf(s->conn, " (MODSEQ %llu)", (unsigned long long)maxmod);
	conn_puts(s->conn, "\r\n");
}

/* Evaluates root on every message; fills hits (numbers as answered: UIDs or sequence
 * numbers) and uids. Returns 0 or -1 on a store error. */
static int evaluate(struct imap_session *s, struct snode *root, bool uid, uint32_t *hits, uint32_t *uids,
                    size_t *n, uint64_t *maxmod)
{
	*n = 0;
	*maxmod = 0;
	for (size_t i = 0; i < s->view.n; i++) {
		if (!imap_vault_visible(s, s->view.v[i].uid)) /* masked or withdrawn since */
			continue;
		struct sctx x = {.s = s, .idx = i};
		bool hit = eval(&x, root);
		if (x.meta_loaded)
			store_message_free(&x.meta);
		if (x.error)
			return -1;
		if (!hit)
			continue;
		hits[*n] = uid ? s->view.v[i].uid : (uint32_t)(i + 1);
		uids[(*n)++] = s->view.v[i].uid;
		if (s->view.v[i].modseq > *maxmod)
			*maxmod = s->view.v[i].modseq;
	}
	return 0;
}

static void run_search(struct imap_session *s, struct imap_command *c, struct snode *root, bool has_modseq,
                       unsigned ret, bool esearch)
{
	bool uid = strcmp(c->name, "UID SEARCH") == 0;
	size_t cap = s->view.n ? s->view.n : 1, n;
	uint32_t *hits = xcalloc(cap, sizeof(*hits)), *uids = xcalloc(cap, sizeof(*uids));
	uint64_t maxmod;
	if (evaluate(s, root, uid, hits, uids, &n, &maxmod) < 0) {
		if (ret & RET_SAVE)
			save_result(s, uids, 0, ret);
		imap_no(s, c->tag, "[SERVERBUG] Search failed");
	} else {
		if (ret & RET_SAVE)
			save_result(s, uids, n, ret);
		if (!esearch)
			write_search(s, hits, n, has_modseq, maxmod);
		else if (ret != RET_SAVE) /* SAVE alone answers nothing (RFC 5182 2.1) */
			write_esearch(s, c->tag, uid, hits, n, ret, has_modseq,
			              returned_modseq(s, uids, n, ret, maxmod));
		imap_ok(s, c->tag, "%s completed", c->name);
	}
	free(hits);
	free(uids);
}

/* [RETURN (options)] before the keys. Returns 0, or -1 on a bad option. */
static int parse_return(struct imap_command *c, size_t *i, unsigned *ret, bool *esearch)
{
	if (*i + 1 >= c->nargs || !imap_arg_is_atom(&c->args[*i], "RETURN") ||
	    c->args[*i + 1].type != IMAP_ARG_LIST)
		return 0;
	const struct imap_arg *l = &c->args[*i + 1];
	*esearch = true;
	*ret = l->count == 0 ? RET_ALL : 0;
	static const struct {
		const char *name;
		unsigned bit;
	} t[] = {
	    {"MIN", RET_MIN}, {"MAX", RET_MAX}, {"ALL", RET_ALL}, {"COUNT", RET_COUNT}, {"SAVE", RET_SAVE}};
	for (size_t k = 0; k < l->count; k++) {
		unsigned bit = 0;
		for (size_t j = 0; j < sizeof(t) / sizeof(t[0]) && !bit; j++)
			if (imap_arg_is_atom(&l->list[k], t[j].name))
				bit = t[j].bit;
		if (!bit)
			return -1;
		*ret |= bit;
	}
	*i += 2;
	return 0;
}

/* true when a key reads the messages' content (BODY, TEXT), not only headers. */
static bool reads_content(const struct snode *n)
{
	if (n->kind == K_TEXT && n->where != STORE_TEXT_HEADER)
		return true;
	for (size_t i = 0; i < n->nkids; i++)
		if (reads_content(n->kids[i]))
			return true;
	return false;
}

void cmd_search(struct imap_session *s, struct imap_command *c)
{
	size_t first = 0;
	unsigned ret = RET_ALL;
	bool esearch = s->enabled_rev2; /* IMAP4rev2 answers with ESEARCH */
	if (parse_return(c, &first, &ret, &esearch) < 0) {
		imap_bad(s, c->tag, "Invalid SEARCH RETURN option");
		return;
	}
	if (parse_charset(s, c, &first))
		return;
	if (first >= c->nargs) {
		imap_bad(s, c->tag, "SEARCH expects search keys");
		return;
	}
	struct sparse p = {.s = s, .args = c->args, .n = c->nargs, .i = first};
	struct snode *root = snode_new(K_AND);
	while (p.i < p.n) {
		struct snode *k = parse_key(&p);
		if (k == NULL) {
			imap_bad(s, c->tag, "%s", p.err ? p.err : "Invalid search");
			snode_free(root);
			return;
		}
		snode_add(root, k);
	}
	order_cheap_first(root);
	run_search(s, c, root, p.has_modseq, ret, esearch);
	if (reads_content(root))
		imap_vault_searched(s); /* in a shared folder, a search in content is a consultation */
	snode_free(root);
}
