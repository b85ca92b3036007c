/* imap_qresync.c: QRESYNC (RFC 7162 3.2): a client that knows a mailbox's UIDVALIDITY
 * and HIGHESTMODSEQ learns, in one SELECT, which of its messages were expunged
 * (VANISHED (EARLIER)) and which changed flags, instead of fetching every flag again.
 * The store keeps every expunged UID with its MODSEQ (the expunged table), so the
 * answers are exact; seq-match is therefore never needed. */
#include "imapd/imap_qresync.h"

#include <stdlib.h>
#include <string.h>

#include "imapd/imap_session.h"
#include "lib/log.h"
#include "lib/str.h"

static int number(const struct imap_arg *a, uint64_t max, uint64_t *out)
{
	return a->type == IMAP_ARG_ATOM && str_to_u64(a->str, max, out) == 0 ? 0 : -1;
}

static bool is_set(const struct imap_arg *a)
{
	struct imap_seqset ss;
	if (a->type != IMAP_ARG_ATOM || imap_seqset_parse(a->str, &ss) < 0)
		return false;
	imap_seqset_free(&ss);
	return true;
}

/* (uidvalidity modseq [known-uids [(known-sequence-set known-uid-set)]]) */
static int qresync_list(const struct imap_arg *l, struct imap_qresync *q)
{
	uint64_t uv, ms;
	if (l->type != IMAP_ARG_LIST || l->count < 2 || l->count > 4 ||
	    number(&l->list[0], UINT32_MAX, &uv) < 0 || uv == 0 || number(&l->list[1], INT64_MAX, &ms) < 0)
		return -1;
	q->uidvalidity = (uint32_t)uv;
	q->modseq = ms;
	if (l->count >= 3) {
		if (l->list[2].type != IMAP_ARG_ATOM || imap_seqset_parse(l->list[2].str, &q->known) < 0)
			return -1;
		q->has_known = true;
	}
	if (l->count == 4) {
		const struct imap_arg *m = &l->list[3];
		if (m->type != IMAP_ARG_LIST || m->count != 2 || !is_set(&m->list[0]) || !is_set(&m->list[1]))
			return -1;
	}
	q->on = true;
	return 0;
}

int imap_qresync_parse(struct imap_session *s, const struct imap_arg *params, struct imap_qresync *q,
                       const char **err)
{
	memset(q, 0, sizeof(*q));
	*err = "Unsupported SELECT parameter";
	if (params->type != IMAP_ARG_LIST || params->count == 0)
		return -1;
	for (size_t i = 0; i < params->count; i++) {
		const struct imap_arg *p = &params->list[i];
		if (imap_arg_is_atom(p, "CONDSTORE")) {
			imap_condstore_enable(s);
			continue;
		}
		if (!imap_arg_is_atom(p, "QRESYNC") || q->on || i + 1 >= params->count)
			return -1;
		if (!s->enabled_qresync) {
			*err = "QRESYNC needs ENABLE QRESYNC first";
			return -1;
		}
		if (qresync_list(&params->list[++i], q) < 0) {
			*err = "Invalid QRESYNC parameters";
			return -1;
		}
	}
	return 0;
}

void imap_qresync_free(struct imap_qresync *q)
{
	if (q->has_known)
		imap_seqset_free(&q->known);
	q->has_known = false;
}

/* The highest UID a '*' names: the mailbox's last UID, seen or not. */
static uint32_t star_uid(const struct imap_session *s)
{
	const struct imap_view *v = &s->view;
	uint32_t last = v->n ? v->v[v->n - 1].uid : 0;
	return v->uidnext > last + 1 ? v->uidnext - 1 : last;
}

/* Writes "* VANISHED (EARLIER) ..." with the UIDs expunged since that set (normalised,
 * NULL = all) names and the view no longer holds. */
static void vanished_earlier(struct imap_session *s, const struct imap_seqset *set, uint64_t since)
{
	uint32_t *uids;
	size_t n, k = 0;
	char err[256];
	if (store_expunged_since(s->store, s->view.id, since, &uids, &n, err, sizeof(err)) < 0) {
		log_err("imap.qresync", "user=%s mailbox_id=%lld error=\"%s\"", s->account.address,
		        (long long)s->view.id, err);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((set == NULL || imap_seqset_has(set, uids[i])) &&
		    imap_view_find(s, uids[i]) == (size_t)-1)
			uids[k++] = uids[i];
	if (k > 0) {
		struct buf b;
		buf_init(&b, BUF_UNLIMITED);
		imap_set_format(&b, uids, k);
		conn_printf(s->conn, "* VANISHED (EARLIER) %s\r\n", b.data);
		buf_free(&b);
	}
	free(uids);
}

void imap_qresync_select(struct imap_session *s, struct imap_qresync *q)
{
	struct imap_view *v = &s->view;
	/* RFC 7162 3.2.5.2: a new UIDVALIDITY means a full resynchronisation; so does a
	 * shared view, which has no MODSEQ (NOMODSEQ, imap_vault.h) to resynchronise from */
	if (!q->on || q->uidvalidity != v->uidvalidity || v->shared)
		return;
	if (q->has_known)
		imap_seqset_normalise(&q->known, star_uid(s));
	vanished_earlier(s, q->has_known ? &q->known : NULL, q->modseq);
	for (size_t i = 0; i < v->n; i++)
		if (v->v[i].modseq > q->modseq && (!q->has_known || imap_seqset_has(&q->known, v->v[i].uid)))
			imap_view_write_fetch_flags(s, i);
}

void imap_qresync_vanished(struct imap_session *s, const char *set, uint64_t since)
{
	struct imap_seqset ss;
	if (strcmp(set, "$") == 0 || imap_seqset_parse(set, &ss) < 0)
		return; /* the saved result names messages still here; the set was checked */
	imap_seqset_normalise(&ss, star_uid(s));
	vanished_earlier(s, &ss, since);
	imap_seqset_free(&ss);
}
