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

/* The highest UID a '*' names: the mailbox's last UID, seen or not; in a shared vault
 * view the last one the professional may see (its UIDNEXT is theirs, imap_vault_shown). */
static uint32_t star_uid(const struct imap_session *s)
{
	const struct imap_view *v = &s->view;
	uint32_t last = v->n ? v->v[v->n - 1].uid : 0;
	return v->uidnext > last + 1 && !v->shared ? v->uidnext - 1 : last;
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

/* "lo" or "lo:hi" after what b holds. */
static void put_range(struct buf *b, uint64_t lo, uint64_t hi)
{
	int rc = b->len > 0 ? buf_append_char(b, ',') : 0;
	rc |= lo == hi ? buf_printf(b, "%llu", (unsigned long long)lo)
	               : buf_printf(b, "%llu:%llu", (unsigned long long)lo, (unsigned long long)hi);
	str_assert(rc, "b is BUF_UNLIMITED");
}

/* VANISHED (EARLIER) in a shared vault view: every UID of set (normalised; NULL: up to
 * the last one the view holds) that the view does not hold, whether it was expunged,
 * is masked or never was. To the professional a masked document is an expunged one
 * (an open view tells its EXPUNGE when it is masked), and the store's expunged UIDs
 * alone would tell one from the other: a UID named neither visible nor vanished is a
 * masked document, which nothing may reveal (imap_vault.h). A client forgets the UIDs
 * named that it holds; the others (never known to it) change nothing, and Dovecot too
 * names whole ranges when its log of expunges is short. */
static void vanished_shared(struct imap_session *s, const struct imap_seqset *set)
{
	const struct imap_view *v = &s->view;
	struct imap_seq_range all = {1, star_uid(s)};
	const struct imap_seq_range *r = set != NULL ? set->r : &all;
	size_t nr = set != NULL ? set->n : all.hi > 0, i = 0;
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	for (size_t k = 0; k < nr; k++) { /* ascending, disjoint: the view is walked once */
		uint64_t at = r[k].lo;
		for (; i < v->n && v->v[i].uid < at; i++)
			;
		while (at <= r[k].hi) {
			uint64_t held = i < v->n ? v->v[i].uid : UINT64_MAX;
			if (held > r[k].hi) { /* left for the next range */
				put_range(&b, at, r[k].hi);
				break;
			}
			if (held > at)
				put_range(&b, at, held - 1);
			at = held + 1;
			i++;
		}
	}
	if (b.len > 0)
		conn_printf(s->conn, "* VANISHED (EARLIER) %s\r\n", b.data);
	buf_free(&b);
}

/* The UIDs the client should forget: vanished_earlier, or vanished_shared in a shared
 * vault view. */
static void vanished(struct imap_session *s, const struct imap_seqset *set, uint64_t since)
{
	if (s->view.shared)
		vanished_shared(s, set);
	else
		vanished_earlier(s, set, since);
}

void imap_qresync_select(struct imap_session *s, struct imap_qresync *q)
{
	struct imap_view *v = &s->view;
	if (!q->on || q->uidvalidity != v->uidvalidity)
		return; /* RFC 7162 3.2.5.2: a new UIDVALIDITY means a full resynchronisation */
	if (q->has_known)
		imap_seqset_normalise(&q->known, star_uid(s));
	vanished(s, q->has_known ? &q->known : NULL, q->modseq);
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
	vanished(s, &ss, since);
	imap_seqset_free(&ss);
}
