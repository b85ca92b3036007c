/* imap_sort.c: SORT and UID SORT (RFC 5256, RFC 5957 SORT=DISPLAY, RFC 5267 ESORT and
 * CONTEXT=SORT's PARTIAL), THREAD and UID THREAD (RFC 5256 ORDEREDSUBJECT and
 * REFERENCES).
 *
 * The messages are chosen by the SEARCH evaluation (imap_search_eval.h); the keys are
 * read from each message's header (decrypted, the header only: imap_sortkey.h) and its
 * metadata (dates, size); the ordering and the threading are imap/'s. */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_sortkey.h"
#include "imap/imap_thread.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_search_eval.h"
#include "lib/log.h"

struct sort_msg {
	size_t idx;      /* view index */
	int64_t arrival; /* INTERNALDATE */
	int64_t date;    /* sent date, INTERNALDATE when it has none (RFC 5256 3) */
	uint64_t size;
	struct imap_sortkeys k;
};

static int to_buf(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n) < 0 ? 1 : 0;
}

/* Reads the metadata and the header keys of view index idx. Returns 1, 0 when the
 * message is gone (it then sorts with empty keys), -1 on a store error (logged). */
static int load(struct imap_session *s, size_t idx, struct sort_msg *out)
{
	char err[256];
	uint32_t uid = s->view.v[idx].uid;
	memset(out, 0, sizeof(*out));
	out->idx = idx;
	struct store_message meta;
	memset(&meta, 0, sizeof(meta));
	int rc = store_message_get(s->store, s->view.id, uid, 0, &meta, err, sizeof(err));
	struct store_body *b = NULL;
	if (rc == 1)
		rc = store_body_open(s->store, s->view.id, uid, &b, err, sizeof(err));
	struct buf h;
	buf_init(&h, (size_t)s->cfg->max_message_size + 1);
	if (rc == 1) {
		out->arrival = meta.msg.internaldate;
		out->date = meta.sent_date != 0 ? meta.sent_date : meta.msg.internaldate;
		out->size = meta.msg.size;
		if (store_body_read(b, 0, meta.header_size, to_buf, &h, err, sizeof(err)) < 0)
			rc = -1;
	}
	if (rc < 0)
		log_err("imap.sort", "user=%s uid=%u error=\"%s\"", s->account.address, uid, err);
	imap_sortkeys_read(h.data != NULL ? h.data : "", h.len, &out->k);
	buf_free(&h);
	store_body_close(b);
	if (rc == 1)
		store_message_free(&meta);
	return rc;
}

static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_key(const struct sort_msg *a, const struct sort_msg *b, enum imap_sort_key key)
{
	switch (key) {
	case IMAP_SORT_ARRIVAL:
		return cmp_i64(a->arrival, b->arrival);
	case IMAP_SORT_DATE:
		return cmp_i64(a->date, b->date);
	case IMAP_SORT_SIZE:
		return a->size < b->size ? -1 : a->size > b->size;
	case IMAP_SORT_SUBJECT:
		return strcmp(a->k.subject, b->k.subject);
	case IMAP_SORT_FROM:
		return strcmp(a->k.from, b->k.from);
	case IMAP_SORT_TO:
		return strcmp(a->k.to, b->k.to);
	case IMAP_SORT_CC:
		return strcmp(a->k.cc, b->k.cc);
	case IMAP_SORT_DISPLAYFROM:
		return strcmp(a->k.dfrom, b->k.dfrom);
	case IMAP_SORT_DISPLAYTO:
		return strcmp(a->k.dto, b->k.dto);
	}
	return 0;
}

/* The criteria in order, then the sequence number (RFC 5256 3: the final tie-break,
 * never reversed). */
static int cmp_msgs(const void *pa, const void *pb, void *arg)
{
	const struct imap_sort_criteria *sc = arg;
	const struct sort_msg *a = pa, *b = pb;
	for (size_t i = 0; i < sc->n; i++) {
		int c = cmp_key(a, b, sc->key[i]);
		if (c != 0)
			return sc->reverse[i] ? -c : c;
	}
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* The matches of q with their keys, in mailbox order. Returns 0, or imap_search_eval's
 * failure, or -1 (logged). */
static int matches(struct imap_session *s, struct imap_search_query *q, struct sort_msg **out, size_t *n)
{
	size_t *idx = NULL;
	*out = NULL;
	*n = 0;
	int erc = imap_search_eval(s, q, &idx, n);
	if (erc < 0)
		return erc;
	*out = xcalloc(*n ? *n : 1, sizeof(**out));
	int rc = 0;
	for (size_t i = 0; i < *n; i++)
		if (load(s, idx[i], &(*out)[i]) < 0)
			rc = -1;
	free(idx);
	return rc;
}

static void matches_free(struct sort_msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		imap_sortkeys_free(&m[i].k);
	free(m);
}

void cmd_sort(struct imap_session *s, struct imap_command *c)
{
	struct imap_sort_criteria sc;
	struct imap_search_query q;
	const char *err = "Invalid SORT";
	int rc = imap_sort_parse(c->args, c->nargs, &sc, &q, &err);
	if (rc == 0 && !q.charset_utf8 && s->enabled_utf8accept) {
		rc = -1; /* RFC 6855 erratum 4029 */
		err = "Only UTF-8 after ENABLE UTF8=ACCEPT";
	}
	if (rc == -2) {
		imap_send(s, c->tag, IMAP_R_BADCHARSET);
		imap_search_free(&q);
		return;
	}
	if (rc < 0) {
		imap_send_text(s, c->tag, IMAP_R_SYNTAX, err);
		imap_search_free(&q);
		return;
	}
	struct sort_msg *m;
	size_t n;
	int mrc = matches(s, &q, &m, &n);
	if (mrc < 0) {
		imap_search_refuse(s, c->tag, mrc, "Sort");
	} else {
		qsort_r(m, n, sizeof(*m), cmp_msgs, &sc);
		size_t *idx = xcalloc(n ? n : 1, sizeof(*idx));
		for (size_t i = 0; i < n; i++)
			idx[i] = m[i].idx;
		if (q.esearch) {
			imap_search_answer(s, c, &q, idx, n); /* ESORT: ESEARCH in sort order */
		} else {
			bool uid = strncmp(c->name, "UID ", 4) == 0;
			conn_puts(s->conn, "* SORT");
			for (size_t i = 0; i < n; i++)
				conn_printf(s->conn, " %u",
				            uid ? s->view.v[idx[i]].uid : (uint32_t)(idx[i] + 1));
			conn_puts(s->conn, "\r\n");
		}
		free(idx);
		if (q.ret & IMAP_SRET_UPDATE) /* live SORT results are not kept (RFC 5267 4.2) */
			imap_send_code(s, c->tag, IMAP_R_DONE_NOUPDATE, c->name, NULL, "\"%s\"", c->tag);
		else
			imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	}
	matches_free(m, n);
	imap_search_free(&q);
}

void cmd_thread(struct imap_session *s, struct imap_command *c)
{
	struct imap_search_query q;
	bool refs = true;
	const char *err = "Invalid THREAD";
	int rc = imap_thread_parse(c->args, c->nargs, &refs, &q, &err);
	if (rc == 0 && !q.charset_utf8 && s->enabled_utf8accept) {
		rc = -1; /* RFC 6855 erratum 4029 */
		err = "Only UTF-8 after ENABLE UTF8=ACCEPT";
	}
	if (rc == -2) {
		imap_send(s, c->tag, IMAP_R_BADCHARSET);
		imap_search_free(&q);
		return;
	}
	if (rc < 0) {
		imap_send_text(s, c->tag, IMAP_R_SYNTAX, err);
		imap_search_free(&q);
		return;
	}
	struct sort_msg *m;
	size_t n;
	int mrc = matches(s, &q, &m, &n);
	if (mrc < 0) {
		imap_search_refuse(s, c->tag, mrc, "Thread");
	} else {
		bool uid = strncmp(c->name, "UID ", 4) == 0;
		struct imap_thread_msg *t = xcalloc(n ? n : 1, sizeof(*t));
		for (size_t i = 0; i < n; i++)
			t[i] = (struct imap_thread_msg){.num = uid ? s->view.v[m[i].idx].uid
			                                           : (uint32_t)(m[i].idx + 1),
			                                .date = m[i].date,
			                                .k = &m[i].k};
		struct buf out;
		buf_init(&out, BUF_UNLIMITED);
		if (refs)
			imap_thread_references(t, n, &out);
		else
			imap_thread_orderedsubject(t, n, &out);
		conn_puts(s->conn, out.len > 0 ? "* THREAD " : "* THREAD");
		conn_write(s->conn, out.data, out.len);
		conn_puts(s->conn, "\r\n");
		buf_free(&out);
		free(t);
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	}
	matches_free(m, n);
	imap_search_free(&q);
}
