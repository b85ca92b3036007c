/* imap_search.c: SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501 keys, RFC 4731
 * ESEARCH, RFC 5182 SEARCHRES, RFC 7162 MODSEQ), and the evaluation that SORT and
 * THREAD share.
 *
 * The keys are parsed by imap/imap_search.c; here they are evaluated message by
 * message: flags, UIDs and MODSEQ come from the session's view, dates and sizes from
 * the store's metadata (read once per message, only when a key needs them), text from
 * the message itself (decrypted). Inside an AND, cheap keys go before text keys. */
#include "imapd/imap_search_eval.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap_msgsearch.h"
#include "imap/imap_mime.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_context.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"

#define DAY 86400

struct sctx {
	struct imap_session *s;
	size_t idx; /* view index of the message */
	bool meta_loaded;
	int meta_rc;
	struct store_message meta;
	struct store_body *body; /* opened for the first text key */
	int body_rc;
	bool have_header, have_all;
	struct buf text; /* the header, or the whole message once a body key needed it */
	bool error;
};

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

static bool date_cmp(enum imap_skey k, int64_t t, int64_t day)
{
	switch (k) {
	case IMAP_SK_BEFORE:
	case IMAP_SK_SENTBEFORE:
		return t < day;
	case IMAP_SK_ON:
	case IMAP_SK_SENTON:
		return t >= day && t < day + DAY;
	default:
		return t >= day;
	}
}

static int to_text(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n) < 0 ? 1 : 0;
}

/* Reads the header (header keys) or the whole message (BODY, TEXT) once per message.
 * Returns 1 ready, 0 the message is gone, -1 error. */
static int load_text(struct sctx *x, bool all)
{
	char err[256];
	if (x->body == NULL && x->body_rc == 0) {
		x->body_rc = store_body_open(x->s->store, x->s->view.id, x->s->view.v[x->idx].uid, &x->body,
		                             err, sizeof(err));
		if (x->body_rc == 0)
			x->body_rc = 2; /* gone */
		if (x->body_rc < 0)
			log_err("imap.search", "user=%s error=\"%s\"", x->s->account.address, err);
		buf_init(&x->text, (size_t)x->s->cfg->max_message_size + 1);
	}
	if (x->body_rc != 1)
		return x->body_rc == 2 ? 0 : -1;
	if ((all && x->have_all) || (!all && (x->have_header || x->have_all)))
		return 1;
	uint64_t len = all ? store_body_size(x->body) : store_body_parts(x->body)->header_size;
	buf_reset(&x->text);
	if (store_body_read(x->body, 0, len, to_text, &x->text, err, sizeof(err)) < 0 || x->text.len != len) {
		log_err("imap.search", "user=%s uid=%u error=\"%s\"", x->s->account.address,
		        x->s->view.v[x->idx].uid, err);
		x->body_rc = -1;
		return -1;
	}
	x->have_all = all;
	x->have_header = true;
	return 1;
}

static bool eval_text(struct sctx *x, const struct imap_snode *n)
{
	int rc = load_text(x, n->key != IMAP_SK_HEADER);
	if (rc < 0)
		x->error = true;
	if (rc != 1)
		return false;
	const struct imap_part *root = store_body_parts(x->body);
	switch (n->key) {
	case IMAP_SK_HEADER:
		return imap_msgsearch_header(x->text.data, (size_t)root->header_size, n->field, n->str);
	case IMAP_SK_BODY:
		return imap_msgsearch_body(x->text.data, x->text.len, root, n->str);
	default:
		return imap_msgsearch_text(x->text.data, x->text.len, root, n->str);
	}
}

static bool eval_meta(struct sctx *x, const struct imap_snode *n)
{
	const struct store_message *m = meta(x);
	if (m == NULL)
		return false;
	switch (n->key) {
	case IMAP_SK_LARGER:
		return m->msg.size > n->num;
	case IMAP_SK_SMALLER:
		return m->msg.size < n->num;
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE:
		return date_cmp(n->key, m->msg.internaldate, n->date);
	default: /* SENT*: the date as the sender wrote it, in its own zone (RFC 3501 6.4.4) */
		return m->sent_date != 0 && date_cmp(n->key, m->sent_local, n->date);
	}
}

static bool eval(struct sctx *x, const struct imap_snode *n)
{
	const struct imap_msg *m = &x->s->view.v[x->idx];
	switch (n->key) {
	case IMAP_SK_ALL:
		return true;
	case IMAP_SK_AND:
		for (size_t i = 0; i < n->nkids; i++)
			if (!eval(x, n->kids[i]))
				return false;
		return true;
	case IMAP_SK_OR:
		return eval(x, n->kids[0]) || eval(x, n->kids[1]);
	case IMAP_SK_NOT:
		return !eval(x, n->kids[0]);
	case IMAP_SK_FLAG:
		return (m->flags & n->flag) != 0;
	case IMAP_SK_KEYWORD:
		return has_keyword(m->keywords, n->str);
	case IMAP_SK_RECENT:
		return m->recent;
	case IMAP_SK_SEQ:
		return imap_seqset_has(&n->set, (uint32_t)(x->idx + 1));
	case IMAP_SK_UID:
		return imap_seqset_has(&n->set, m->uid);
	case IMAP_SK_MODSEQ:
		return m->modseq >= n->num;
	case IMAP_SK_SAVED:
		return has_uid(x->s->saved, x->s->nsaved, m->uid);
	case IMAP_SK_HEADER:
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		return eval_text(x, n);
	default:
		return eval_meta(x, n);
	}
}

/* Text keys decrypt the message: put them last in every AND so cheap keys short-cut. */
static int cost(const struct imap_snode *n)
{
	if (n->key == IMAP_SK_HEADER || n->key == IMAP_SK_BODY || n->key == IMAP_SK_TEXT)
		return 2;
	int c = 0;
	for (size_t i = 0; i < n->nkids; i++) {
		int k = cost(n->kids[i]);
		if (k > c)
			c = k;
	}
	return c;
}

/* Orders every AND cheap first, and gives '*' in the sets its value for this view. */
static void prepare(struct imap_session *s, struct imap_snode *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		prepare(s, n->kids[i]);
	const struct imap_view *v = &s->view;
	if (n->key == IMAP_SK_SEQ)
		imap_seqset_normalise(&n->set, (uint32_t)v->n);
	else if (n->key == IMAP_SK_UID)
		imap_seqset_normalise(&n->set, v->n ? v->v[v->n - 1].uid : 0);
	if (n->key != IMAP_SK_AND)
		return;
	for (size_t i = 1; i < n->nkids; i++) /* stable insertion sort, few keys */
		for (size_t j = i; j > 0 && cost(n->kids[j - 1]) > cost(n->kids[j]); j--) {
			struct imap_snode *t = n->kids[j];
			n->kids[j] = n->kids[j - 1];
			n->kids[j - 1] = t;
		}
}

/* The keys under n, n included (each NOT, OR and parenthesised group counts). */
static size_t count_keys(const struct imap_snode *n)
{
	size_t k = 1;
	for (size_t i = 0; i < n->nkids; i++)
		k += count_keys(n->kids[i]);
	return k;
}

int imap_search_eval(struct imap_session *s, struct imap_search_query *q, size_t **idx, size_t *n)
{
	*idx = NULL;
	*n = 0;
	/* The work of one search grows with its keys times the messages (200 NOT BODY keys
	 * took 16 s over 774 messages): past the limits it is refused or cut (issue 12). */
	if (count_keys(q->root) - 1 > s->cfg->imap_max_search_keys) /* the root AND is no key */
		return IMAP_SEARCH_TOO_MANY_KEYS;
	if (q->has_modseq)
		imap_condstore_enable(s);
	if (q->has_modseq && s->view.shared)
		return IMAP_SEARCH_NOMODSEQ;
	prepare(s, q->root);
	*idx = xcalloc(s->view.n ? s->view.n : 1, sizeof(**idx));
	time_t until = time(NULL) + (time_t)s->cfg->imap_search_timeout;
	for (size_t i = 0; i < s->view.n; i++) {
		if (!imap_vault_visible(s, s->view.v[i].uid)) /* masked or withdrawn since */
			continue;
		if (time(NULL) > until) {
			free(*idx);
			*idx = NULL;
			*n = 0;
			return IMAP_SEARCH_TOO_LONG;
		}
		struct sctx x = {.s = s, .idx = i};
		bool hit = eval(&x, q->root);
		if (x.meta_loaded)
			store_message_free(&x.meta);
		if (x.body_rc != 0) {
			store_body_close(x.body);
			buf_free(&x.text);
		}
		if (x.error) {
			free(*idx);
			*idx = NULL;
			*n = 0;
			return -1;
		}
		if (hit)
			(*idx)[(*n)++] = i;
	}
	if (imap_search_has(q->root, IMAP_SK_BODY) || imap_search_has(q->root, IMAP_SK_TEXT))
		imap_vault_searched(s); /* in a shared folder, a search in content is a consultation */
	return 0;
}

/* ---- SEARCH results ---- */

/* Saves the result as "$" (RFC 5182 2.1: with MIN/MAX only, just those). */
static void save_result(struct imap_session *s, const uint32_t *uids, size_t n, unsigned ret)
{
	free(s->saved);
	s->saved = NULL;
	s->nsaved = 0;
	if (n == 0)
		return;
	s->saved = xcalloc(n, sizeof(*s->saved));
	if ((ret & (IMAP_SRET_ALL | IMAP_SRET_COUNT)) || !(ret & (IMAP_SRET_MIN | IMAP_SRET_MAX))) {
		memcpy(s->saved, uids, n * sizeof(*uids));
		s->nsaved = n;
		return;
	}
	if (ret & IMAP_SRET_MIN)
		s->saved[s->nsaved++] = uids[0];
	if ((ret & IMAP_SRET_MAX) && (s->nsaved == 0 || uids[n - 1] != uids[0]))
		s->saved[s->nsaved++] = uids[n - 1];
}

/* The MODSEQ an answer carries: the highest among the messages it returns, so only
 * those of MIN and MAX when neither ALL nor COUNT is asked (RFC 7162 3.1.5). */
static uint64_t returned_modseq(const struct imap_session *s, const size_t *idx, size_t n, unsigned ret)
{
	uint64_t m = 0;
	bool all = (ret & (IMAP_SRET_ALL | IMAP_SRET_COUNT | IMAP_SRET_PARTIAL)) != 0;
	for (size_t k = 0; k < n; k++) {
		if (!all && !((k == 0 && (ret & IMAP_SRET_MIN)) || (k == n - 1 && (ret & IMAP_SRET_MAX))))
			continue;
		if (s->view.v[idx[k]].modseq > m)
			m = s->view.v[idx[k]].modseq;
	}
	return m;
}

void imap_esearch_write(struct imap_session *s, const char *tag, bool uid, const uint32_t *v, size_t n,
                        const struct imap_search_query *q, uint64_t modseq)
{
	unsigned ret = q->ret;
	conn_printf(s->conn, "* ESEARCH (TAG \"%s\")%s", tag, uid ? " UID" : "");
	if (n > 0 && (ret & IMAP_SRET_MIN))
		conn_printf(s->conn, " MIN %u", v[0]);
	if (n > 0 && (ret & IMAP_SRET_MAX))
		conn_printf(s->conn, " MAX %u", v[n - 1]);
	if (ret & IMAP_SRET_COUNT)
		conn_printf(s->conn, " COUNT %zu", n);
	struct buf set;
	buf_init(&set, BUF_UNLIMITED);
	if (n > 0 && (ret & IMAP_SRET_ALL)) {
		imap_set_format(&set, v, n);
		conn_printf(s->conn, " ALL %s", set.data);
	}
	if (ret & IMAP_SRET_PARTIAL) {
		size_t lo, cnt;
		imap_partial_window(q->partial_lo, q->partial_hi, n, &lo, &cnt);
		buf_reset(&set);
		imap_set_format(&set, v + lo, cnt);
		/* the range as given, its ends in ascending order (RFC 5267 4.4: 4:2 is 2:4) */
		int32_t a = q->partial_lo < q->partial_hi ? q->partial_lo : q->partial_hi;
		int32_t b = q->partial_lo < q->partial_hi ? q->partial_hi : q->partial_lo;
		conn_printf(s->conn, " PARTIAL (%d:%d %s)", a, b, cnt ? set.data : "NIL");
	}
	buf_free(&set);
	if (q->has_modseq && n > 0)
		conn_printf(s->conn, " MODSEQ %llu", (unsigned long long)modseq);
	conn_puts(s->conn, "\r\n");
}

void imap_partial_window(int32_t lo, int32_t hi, size_t n, size_t *start, size_t *count)
{
	/* lo:hi are 1-based positions in the result; negative ones count from its end */
	int64_t a = lo, b = hi;
	if (a < 0) {
		a = (int64_t)n + a + 1;
		b = (int64_t)n + b + 1;
	}
	if (a > b) {
		int64_t t = a;
		a = b;
		b = t;
	}
	if (a < 1)
		a = 1;
	if (b > (int64_t)n)
		b = (int64_t)n;
	*start = (size_t)(a - 1);
	*count = b >= a ? (size_t)(b - a + 1) : 0;
	if (*start > n)
		*start = n;
}

static void write_search(struct imap_session *s, const uint32_t *v, size_t n, bool has_modseq,
                         uint64_t modseq)
{
	conn_puts(s->conn, "* SEARCH");
	for (size_t i = 0; i < n; i++)
		conn_printf(s->conn, " %u", v[i]);
	if (has_modseq && n > 0)
		conn_printf(s->conn, " (MODSEQ %llu)", (unsigned long long)modseq);
	conn_puts(s->conn, "\r\n");
}

void imap_search_answer(struct imap_session *s, struct imap_command *c, struct imap_search_query *q,
                        const size_t *idx, size_t n)
{
	bool uid = strncmp(c->name, "UID ", 4) == 0;
	uint32_t *numbers = xcalloc(n ? n : 1, sizeof(*numbers)), *uids = xcalloc(n ? n : 1, sizeof(*uids));
	for (size_t k = 0; k < n; k++) {
		uids[k] = s->view.v[idx[k]].uid;
		numbers[k] = uid ? uids[k] : (uint32_t)(idx[k] + 1);
	}
	if (q->ret & IMAP_SRET_SAVE)
		save_result(s, uids, n, q->ret);
	uint64_t modseq = returned_modseq(s, idx, n, q->ret);
	if (!q->esearch && !s->enabled_rev2)
		write_search(s, numbers, n, q->has_modseq, modseq);
	else if ((q->ret & ~IMAP_SRET_SAVE) != 0) /* SAVE alone answers nothing (RFC 5182 2.1) */
		imap_esearch_write(s, c->tag, uid, numbers, n, q, modseq);
	free(numbers);
	free(uids);
}

void imap_search_refuse(struct imap_session *s, const char *tag, int rc, const char *what)
{
	struct imap_num n;
	if (rc == IMAP_SEARCH_TOO_MANY_KEYS)
		imap_send_text(s, tag, IMAP_R_LIMIT_SEARCH_KEYS, imap_num(s->cfg->imap_max_search_keys, &n));
	else if (rc == IMAP_SEARCH_TOO_LONG)
		imap_send_text2(s, tag, IMAP_R_LIMIT_SEARCH_TIME, what,
		                imap_num(s->cfg->imap_search_timeout, &n));
	else if (rc == IMAP_SEARCH_NOMODSEQ)
		imap_send(s, tag, IMAP_R_NOMODSEQ);
	else
		imap_send_text(s, tag, IMAP_R_SERVERBUG_FAILED, what);
}

void cmd_search(struct imap_session *s, struct imap_command *c)
{
	struct imap_search_query q;
	const char *err = "Invalid search";
	int rc = imap_search_parse(c->args, c->nargs, &q, &err);
	if (rc == 0 && q.charset && s->enabled_utf8accept) {
		rc = -1; /* RFC 6855 3: the strings are UTF-8 already */
		err = "No CHARSET after ENABLE UTF8=ACCEPT";
	}
	if (rc == -2) {
		imap_send(s, c->tag, IMAP_R_BADCHARSET);
	} else if (rc < 0) {
		imap_send_text(s, c->tag, IMAP_R_SYNTAX, err);
	} else {
		size_t *idx = NULL, n = 0;
		int erc = imap_search_eval(s, &q, &idx, &n);
		if (erc < 0) {
			if (q.ret & IMAP_SRET_SAVE)
				save_result(s, NULL, 0, q.ret);
			imap_search_refuse(s, c->tag, erc, "Search");
		} else {
			imap_search_answer(s, c, &q, idx, n);
			if ((q.ret & IMAP_SRET_UPDATE) && imap_context_add(s, c, idx, n) != 0)
				imap_send_code(s, c->tag, IMAP_R_DONE_NOUPDATE, c->name, NULL, "\"%s\"",
				               c->tag);
			else
				imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
		}
		free(idx);
	}
	imap_search_free(&q);
}
