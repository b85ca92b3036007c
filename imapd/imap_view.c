/* imap_view.c: the selected mailbox as this session sees it, kept in step with the
 * store (RFC 9051 7.5: EXISTS, EXPUNGE and FETCH FLAGS sent to every session that has
 * the mailbox selected). */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_seqset.h"
#include "imapd/imap_context.h"
#include "imapd/imap_session.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/strset.h"
#include "imapd/imap_vault.h"
#include "vault/vault_access.h"

static void view_remove(struct imap_session *s, size_t i);
static size_t view_lower_bound(const struct imap_view *v, uint32_t uid);

_Static_assert(sizeof(struct imap_msg) == 24, "struct imap_msg is kept to 24 bytes (imap_session.h)");
_Static_assert(STORE_FLAG_ALL < (1u << 30), "STORE_FLAG_* fit imap_msg.flags");

static void msg_free(struct imap_msg *m)
{
	m->keywords = NULL; /* the list stays in kwsets, maybe shared */
}

/* The view's copy of a message's keyword list, NULL when it has none. */
static const char *view_keywords(struct imap_view *v, const char *keywords)
{
	return keywords != NULL && keywords[0] != '\0' ? strset_add(&v->kwsets, keywords) : NULL;
}

/* Lists no message holds any longer are dropped once they outnumber the messages: a
 * long session setting many keyword lists does not keep them all. */
static void view_keywords_compact(struct imap_view *v)
{
	if (v->kwsets.n <= 2 * v->n + 64)
		return;
	struct strset old = v->kwsets;
	v->kwsets = (struct strset){0};
	for (size_t i = 0; i < v->n; i++)
		v->v[i].keywords = view_keywords(v, v->v[i].keywords);
	strset_free(&old);
}

/* Keeps recent_low and seen_below true of the entry just added at the end. */
static void view_pushed(struct imap_view *v, bool recent)
{
	const struct imap_msg *m = &v->v[v->n - 1];
	if (recent && m->uid < v->recent_low)
		v->recent_low = m->uid;
	if (v->seen_below == v->n - 1 && (m->flags & STORE_FLAG_SEEN))
		v->seen_below = v->n;
}

/* Keeps seen_below true once entry i's flags changed. */
static void view_flags_changed(struct imap_view *v, size_t i)
{
	if (!(v->v[i].flags & STORE_FLAG_SEEN) && i < v->seen_below)
		v->seen_below = i;
}

size_t imap_view_first_unseen(struct imap_view *v)
{
	size_t i = v->seen_below < v->n ? v->seen_below : v->n;
	while (i < v->n && (v->v[i].flags & STORE_FLAG_SEEN))
		i++;
	v->seen_below = i; /* every one before it has \Seen */
	return i;
}

/* Clears recent on every entry, from recent_low on. */
static void view_clear_recent(struct imap_view *v)
{
	for (size_t i = view_lower_bound(v, v->recent_low); i < v->n; i++)
		v->v[i].recent = false;
	v->nrecent = 0;
	v->recent_low = UINT32_MAX;
}

static void view_push(struct imap_view *v, const struct store_msg *sm, bool recent)
{
	v->nrecent += recent;
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->v = xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	struct imap_msg *m = &v->v[v->n++];
	m->uid = sm->uid;
	m->flags = sm->flags;
	m->modseq = sm->modseq;
	m->keywords = view_keywords(v, sm->keywords);
	m->unannounced = false;
	m->recent = recent;
	view_pushed(v, recent);
}

void imap_view_close(struct imap_session *s)
{
	struct imap_view *v = &s->view;
	imap_context_clear(s);
	for (size_t i = 0; i < v->n; i++)
		msg_free(&v->v[i]);
	free(v->v);
	if (v->watch_fd >= 0)
		store_watch_close(v->watch_fd);
	char err[256];
	if (store_view_close(s->store, v->sv, err, sizeof(err)) < 0)
		log_warn("imap.retained", "mailbox_id=%lld error=\"%s\"", (long long)v->id, err);
	imap_view_free_keywords(v);
	strset_free(&v->kwsets);
	memset(v, 0, sizeof(*v));
	v->watch_fd = -1;
	v->recent_low = UINT32_MAX; /* no entry, none recent */
	free(s->saved);             /* "$" is per selected mailbox (RFC 5182 2.1) */
	s->saved = NULL;
	s->nsaved = 0;
	if (s->state == IMAP_STATE_SELECTED)
		s->state = IMAP_STATE_AUTH;
}

bool imap_view_hides(const struct imap_session *s, const char *keywords)
{
	return s->view.shared && imap_keywords_masked(keywords);
}

/* Before a SELECT again reads the mailbox: a change committed after the reading then
 * wakes IDLE and NOTIFY, and is told at the next command. */
static void view_watch_drain(struct imap_view *v)
{
	if (v->watch_fd >= 0)
		store_watch_drain(v->watch_fd);
}

/* A SELECT has just read the mailbox's HIGHESTMODSEQ and UIDNEXT, the watch drained
 * before (view_watch_drain; a first SELECT's opened before, select_head): the catching
 * up before its tagged reply compares with them instead of asking the store again, as
 * after a body fetch (issue 15). */
static void view_stamp(struct imap_view *v)
{
	v->stamp_highestmodseq = v->highestmodseq;
	v->stamp_uidnext = v->uidnext;
	v->stamp = true;
}

/* Every EXPUNGE up to v->highestmodseq was sent: what only we held back can go. */
static void view_seen(struct imap_session *s)
{
	char err[256];
	if (store_view_seen(s->store, s->view.sv, s->view.highestmodseq, err, sizeof(err)) < 0)
		log_warn("imap.retained", "mailbox_id=%lld error=\"%s\"", (long long)s->view.id, err);
}

/* The first UID that is \Recent in this session (RFC 3501 2.3.2): a read-write view
 * takes the messages no session has seen yet; a read-only one shows them as recent
 * without taking them (RFC 3501 6.3.2). A shared view shows as recent only what was
 * filed while it was open: the mailbox's mark moves when the patient opens her folder,
 * which the professional must not learn (imap_vault.h). mb is the mailbox as just read. */
static uint32_t recent_from(struct imap_session *s, const struct store_mailbox *mb)
{
	if (s->view.shared)
		return s->view.uidnext; /* at SELECT mb's UIDNEXT: none */
	uint32_t first = mb->first_recent_uid;
	if (s->view.readonly || first >= mb->uidnext)
		return first;
	char err[256];
	if (store_recent_claim(s->store, mb->id, mb->uidnext, &first, err, sizeof(err)) != 0) {
		log_err("imap.recent", "mailbox_id=%lld error=\"%s\"", (long long)mb->id, err);
		return UINT32_MAX; /* nothing recent rather than recent twice */
	}
	return first;
}

/* One message of the mailbox being selected, straight from the store's scan into the
 * view (no list in between): the patient's own flags stripped, masked ones left out. */
struct view_fill {
	struct imap_session *s;
	const struct store_mailbox *mb; /* its row and counts, read before the first message */
};

static int view_fill_one(void *arg, struct store_msg *m)
{
	struct view_fill *f = arg;
	struct imap_view *v = &f->s->view;
	if (v->cap == 0 && f->mb->messages > 0) { /* once: the count is known */
		v->cap = f->mb->messages;
		v->v = xrealloc_prefault(v->v, v->cap * sizeof(*v->v));
	}
	imap_vault_strip(f->s, m); /* the patient's own flags never cross */
	if (!imap_view_hides(f->s, m->keywords))
		view_push(v, m, false); /* \Recent once the claim is made (view_mark_recent) */
	return 0;
}

/* The first view index whose UID is uid or above (v->n when none). */
static size_t view_lower_bound(const struct imap_view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Marks the messages from UID first on \Recent in this session. */
static void view_mark_recent(struct imap_view *v, uint32_t first)
{
	size_t lo = view_lower_bound(v, first);
	for (size_t i = lo; i < v->n; i++)
		v->v[i].recent = true;
	v->nrecent += v->n - lo;
	if (lo < v->n && v->v[lo].uid < v->recent_low)
		v->recent_low = v->v[lo].uid;
}

/* Registers this session's view of the mailbox, then reads its messages into the view:
 * registered first, so an expunge from then on is kept readable until we are told
 * (store/store_view.c). Returns 1, 0 no such mailbox, -1. */
static int select_registered(struct imap_session *s, const struct imap_target *t, struct store_mailbox *mb,
                             struct store_view **sv)
{
	char err[256];
	int rc = store_mailbox_get(s->store, t->owner, t->name, mb, err, sizeof(err));
	if (rc == 1 && store_view_open(s->store, mb->id, sv, err, sizeof(err)) < 0)
		log_warn("imap.retained", "mailbox_id=%lld error=\"%s\"", (long long)mb->id, err);
	struct view_fill f = {.s = s, .mb = mb};
	if (rc == 1)
		rc = store_select_scan(s->store, mb->id, mb, view_fill_one, &f, err, sizeof(err));
	if (rc < 0)
		log_err("imap.select", "user=%s error=\"%s\"", s->account.address, err);
	if (rc != 1) {
		store_view_close(s->store, *sv, err, sizeof(err));
		*sv = NULL;
	}
	return rc;
}

static int head_keywords(void *arg, const char *keywords)
{
	imap_view_add_keywords(arg, keywords);
	return 0;
}

/* One change applied without a word to the client (a re-SELECT's responses say it
 * all): flags of a known message, or a new one. */
static void apply_silently(struct imap_view *v, const struct store_msg *sm, size_t i)
{
	if (i != (size_t)-1) {
		struct imap_msg *m = &v->v[i];
		m->keywords = view_keywords(v, sm->keywords);
		m->flags = sm->flags;
		m->modseq = sm->modseq;
		m->unannounced = false;
		view_flags_changed(v, i);
		view_keywords_compact(v);
	} else if (v->n == 0 || sm->uid > v->v[v->n - 1].uid) {
		view_push(v, sm, false);
	}
}

/* SELECT of the mailbox this session has selected (clients select INBOX again and
 * again): the view is caught up from the changes since its MODSEQ instead of read
 * again whole (14 ms of CPU at 100,000 messages, issue 15). What closing ends still
 * ends (SEARCH contexts, "$"); \Recent is this SELECT's own claim, as on a first one.
 * Not for a shared view (masking and stripping are the full path's). Returns 1 done
 * (mb filled), 0 when the view cannot serve (the caller opens afresh). */
static int view_reselect(struct imap_session *s, const struct imap_target *t, bool readonly,
                         struct store_mailbox *mb)
{
	struct imap_view *v = &s->view;
	char err[256];
	if (!v->open || v->pending || v->shared || t->shared || strcmp(v->owner, t->owner) != 0)
		return 0;
	bool own;
	struct store_changes ch;
	struct store_mailbox now;
	view_watch_drain(v);
	if (store_reads_begin(s->store, &own, err, sizeof(err)) < 0)
		return 0;
	int rc = store_mailbox_get(s->store, t->owner, t->name, mb, err, sizeof(err)) == 1 &&
	                 mb->id == v->id && mb->uidvalidity == v->uidvalidity
	             ? store_changes_since(s->store, v->id, v->highestmodseq, &ch, err, sizeof(err))
	             : 0;
	/* the keywords in use as a first SELECT reads them (store_select_head), not by a
	 * pass over the view: one read later, they may name one the view meets next. Read
	 * before \Recent is claimed, which a failure here would lose. */
	if (rc == 1) {
		imap_view_free_keywords(v);
		if (store_select_head(s->store, v->id, &now, NULL, head_keywords, v, err, sizeof(err)) != 1) {
			store_changes_free(&ch);
			rc = 0;
		}
	}
	store_reads_end(s->store, own); /* before \Recent's claim, a write */
	if (rc != 1)
		return 0; /* deleted meanwhile, or an error: the full path says which */
	imap_context_clear(s);
	free(s->saved); /* "$" is per selection (RFC 5182 2.1) */
	s->saved = NULL;
	s->nsaved = 0;
	for (size_t k = 0; k < ch.nexpunged; k++) {
		size_t i = imap_view_find(s, ch.expunged[k]);
		if (i != (size_t)-1)
			view_remove(s, i);
	}
	for (size_t k = 0; k < ch.changed.n; k++)
		apply_silently(v, &ch.changed.v[k], imap_view_find(s, ch.changed.v[k].uid));
	*mb = ch.mbox;
	store_changes_free(&ch);
	str_assert(str_copy(v->name, sizeof(v->name), mb->name), "STORE_MAILBOX_MAX both"); /* renamed? */
	v->history = imap_history_protected(s, t->name);
	v->readonly = readonly;
	v->uidnext = mb->uidnext;
	v->highestmodseq = mb->highestmodseq;
	view_clear_recent(v);
	view_mark_recent(v, recent_from(s, mb));
	view_seen(s);
	view_stamp(v);
	return 1;
}

/* The mailbox's watch (store_watch_open), opened before the mailbox is read so that a
 * change committed after the reading wakes it; -1 (logged) when it cannot be. */
static int view_watch_open(int64_t mailbox_id, struct store *st)
{
	char err[256];
	int fd = store_watch_open(st, mailbox_id, err, sizeof(err));
	if (fd < 0)
		log_warn("imap.watch", "mailbox_id=%lld error=\"%s\"", (long long)mailbox_id, err);
	return fd;
}

/* A first SELECT of one's own mailbox: its counts, keywords and first unseen message,
 * registered as select_registered does; the messages wait for imap_view_load. The
 * mailbox's watch is opened (*watch_fd) before the counts are read: a change committed
 * after their reading then wakes IDLE and NOTIFY and is told at the next command, so
 * the catching up before the tagged reply compares with what they read (view_stamp)
 * instead of asking the store again (issue 15, as view_rehead does). */
static int select_head(struct imap_session *s, const struct imap_target *t, struct store_mailbox *mb,
                       struct store_view **sv, int *watch_fd)
{
	struct imap_view *v = &s->view;
	char err[256];
	*watch_fd = -1;
	int rc = store_mailbox_get(s->store, t->owner, t->name, mb, err, sizeof(err));
	if (rc == 1 && store_view_open(s->store, mb->id, sv, err, sizeof(err)) < 0)
		log_warn("imap.retained", "mailbox_id=%lld error=\"%s\"", (long long)mb->id, err);
	if (rc == 1) {
		*watch_fd = view_watch_open(mb->id, s->store);
		rc = store_select_head(s->store, mb->id, mb, s->enabled_rev2 ? NULL : &v->pending_unseen,
		                       head_keywords, v, err, sizeof(err));
	}
	if (rc < 0)
		log_err("imap.select", "user=%s error=\"%s\"", s->account.address, err);
	if (rc != 1) {
		if (*watch_fd >= 0)
			store_watch_close(*watch_fd);
		*watch_fd = -1;
		store_view_close(s->store, *sv, err, sizeof(err));
		*sv = NULL;
		return rc;
	}
	v->pending = true;
	v->pending_exists = mb->messages;
	return 1;
}

/* \Recent of a view opened by select_head: the count read with the mailbox, unless
 * another session claimed between (then the messages are read to count). */
static int head_recent(struct imap_session *s, const struct store_mailbox *mb)
{
	struct imap_view *v = &s->view;
	v->recent_uid = recent_from(s, mb);
	if (v->recent_uid >= mb->uidnext) {
		v->nrecent = 0;
		return 0;
	}
	if (v->recent_uid == mb->first_recent_uid) {
		v->nrecent = mb->recent;
		return 0;
	}
	return imap_view_load(s);
}

/* SELECT of the mailbox selected whose messages were not read yet: answered from the
 * counts again, the registration and the watch kept (closing and opening them again
 * costs a commit). What closing ends still ends, as in view_reselect. Returns 1 done
 * (mb filled), 0 when it cannot serve (the caller opens afresh). */
static int view_rehead(struct imap_session *s, const struct imap_target *t, bool readonly,
                       struct store_mailbox *mb)
{
	struct imap_view *v = &s->view;
	char err[256];
	if (!v->open || !v->pending || t->shared || strcmp(v->owner, t->owner) != 0)
		return 0;
	bool own;
	view_watch_drain(v);
	if (store_reads_begin(s->store, &own, err, sizeof(err)) < 0)
		return 0;
	int rc = store_mailbox_get(s->store, t->owner, t->name, mb, err, sizeof(err)) == 1 &&
	         mb->id == v->id && mb->uidvalidity == v->uidvalidity;
	if (rc == 1) {
		imap_view_free_keywords(v);
		rc = store_select_head(s->store, v->id, mb, s->enabled_rev2 ? NULL : &v->pending_unseen,
		                       head_keywords, v, err, sizeof(err));
	}
	store_reads_end(s->store, own); /* before \Recent's claim, a write */
	if (rc != 1)
		return 0; /* deleted meanwhile, or an error: the full path says which */
	imap_context_clear(s);
	free(s->saved); /* "$" is per selection (RFC 5182 2.1) */
	s->saved = NULL;
	s->nsaved = 0;
	str_assert(str_copy(v->name, sizeof(v->name), mb->name), "STORE_MAILBOX_MAX both"); /* renamed? */
	v->pending_exists = mb->messages;
	v->history = imap_history_protected(s, t->name);
	v->readonly = readonly;
	v->uidnext = mb->uidnext;
	v->highestmodseq = mb->highestmodseq;
	if (head_recent(s, mb) < 0)
		return 0;
	view_seen(s);
	view_stamp(v);
	return 1;
}

int imap_view_open(struct imap_session *s, const struct imap_target *t, bool readonly,
                   struct store_mailbox *mb)
{
	if (view_rehead(s, t, readonly, mb) == 1 || view_reselect(s, t, readonly, mb) == 1)
		return 1;
	imap_view_close(s);
	struct imap_view *v = &s->view;
	v->shared = t->shared; /* what the scan strips and hides (view_fill_one) */
	struct store_view *sv = NULL;
	int watch_fd = -1;
	int rc = t->shared ? select_registered(s, t, mb, &sv) : select_head(s, t, mb, &sv, &watch_fd);
	if (rc != 1) {
		imap_view_close(s); /* the messages read before a failure */
		return rc;
	}
	v->sv = sv;
	v->watch_fd = watch_fd;
	v->open = true;
	v->id = mb->id;
	str_assert(str_copy(v->name, sizeof(v->name), mb->name), "STORE_MAILBOX_MAX both");
	str_assert(str_copy(v->owner, sizeof(v->owner), t->owner), "256 bytes both");
	str_assert(str_copy(v->patient, sizeof(v->patient), t->patient), "256 bytes both");
	v->ps = t->ps;
	v->history = !t->shared && imap_history_protected(s, t->name);
	v->readonly = readonly || t->shared;
	v->uidvalidity = mb->uidvalidity;
	v->uidnext = mb->uidnext;
	v->highestmodseq = mb->highestmodseq;
	if (v->pending) {
		if (head_recent(s, mb) < 0) {
			imap_view_close(s);
			return -1;
		}
	} else {
		view_mark_recent(v, recent_from(s, mb));
		imap_view_collect_keywords(v);
	}
	view_seen(s);
	if (t->shared)
		v->watch_fd = view_watch_open(v->id, s->store);
	else if (v->pending && v->watch_fd >= 0)
		view_stamp(v); /* the counts were read after the watch was opened */
	s->state = IMAP_STATE_SELECTED;
	return 1;
}

/* One message as it was at the SELECT answered from the counts (store_select_scan_as_of):
 * flags changed since are shown as they are now and told at the next catch-up; one
 * expunged since stays until the catch-up tells its EXPUNGE, as in a view read whole. */
static int view_load_one(void *arg, struct store_msg *m)
{
	struct imap_view *v = arg;
	if (m == NULL) { /* a damaged snapshot: read again from the rows */
		v->n = 0;
		v->seen_below = 0;
		return 0;
	}
	if (v->n == v->cap) { /* the count SELECT announced, unless it moved meanwhile */
		v->cap = v->cap == 0 && v->pending_exists > 0 ? v->pending_exists : v->cap ? v->cap * 2 : 64;
		v->v = xrealloc_prefault(v->v, v->cap * sizeof(*v->v));
	}
	bool gone = m->modseq == UINT64_MAX;
	if (gone)
		m->modseq = v->highestmodseq;
	struct imap_msg *e = &v->v[v->n++];
	e->uid = m->uid;
	e->flags = m->flags;
	e->modseq = m->modseq;
	e->keywords = view_keywords(v, m->keywords);
	e->unannounced = !gone && m->modseq > v->highestmodseq;
	e->recent = false;
	view_pushed(v, false);
	return 0;
}

int imap_view_load(struct imap_session *s)
{
	struct imap_view *v = &s->view;
	if (!v->open || !v->pending)
		return 0;
	char err[256];
	struct store_snapshot_use use = {.min = s->cfg->imap_view_snapshot_min,
	                                 .delta = s->cfg->imap_view_snapshot_delta};
	if (store_select_scan_as_of(s->store, v->id, v->uidnext, v->highestmodseq, &use, view_load_one, v,
	                            err, sizeof(err)) < 0) {
		log_err("imap.select", "mailbox_id=%lld error=\"%s\"", (long long)v->id, err);
		for (size_t i = 0; i < v->n; i++)
			msg_free(&v->v[i]);
		v->n = 0;
		v->seen_below = 0;
		return -1;
	}
	v->pending = false;
	v->nrecent = 0;
	view_mark_recent(v, v->recent_uid);
	log_info("imap.view_load", "mailbox_id=%lld messages=%zu snapshot=%s changed=%zu written=%s",
	         (long long)v->id, v->n, use.used ? "yes" : "no", use.changed, use.written ? "yes" : "no");
	return 0;
}

/* The UID ranges set names below the SELECT's UIDNEXT, ascending, into *r (malloc'ed).
 * Returns false when the set cannot be looked up (see imap_view_lookup). */
static bool lookup_ranges(const struct imap_session *s, const char *set, struct store_uid_range **r,
                          size_t *n)
{
	struct imap_seqset ss;
	*r = NULL;
	*n = 0;
	if (strcmp(set, "$") == 0 || imap_seqset_parse(set, &ss) < 0)
		return false;                   /* the view answers "$", and a BAD */
	bool fits = !imap_seqset_has_star(&ss); /* '*' is the view's last UID */
	uint64_t named = 0;
	if (fits) {
		imap_seqset_normalise(&ss, 0);
		*r = xcalloc(ss.n ? ss.n : 1, sizeof(**r));
	}
	for (size_t k = 0; fits && k < ss.n; k++) {
		uint32_t hi = ss.r[k].hi < s->view.uidnext ? ss.r[k].hi : s->view.uidnext - 1;
		if (ss.r[k].lo > hi)
			continue;
		named += hi - ss.r[k].lo + 1;
		(*r)[(*n)++] = (struct store_uid_range){ss.r[k].lo, hi};
	}
	imap_seqset_free(&ss);
	return fits && named <= s->cfg->imap_view_lookup_uids;
}

int imap_view_lookup(struct imap_session *s, const char *set, struct imap_view_hits *h)
{
	struct imap_view *v = &s->view;
	*h = (struct imap_view_hits){0};
	struct store_uid_range *r = NULL;
	size_t nr = 0;
	if (!v->open || !v->pending || v->shared || v->lookups >= s->cfg->imap_view_lookups ||
	    !lookup_ranges(s, set, &r, &nr)) {
		free(r);
		return 0;
	}
	char err[256];
	struct store_snapshot_use use = {.min = s->cfg->imap_view_snapshot_min,
	                                 .delta = s->cfg->imap_view_snapshot_delta};
	struct store_lookup lk;
	int rc = store_select_lookup_as_of(s->store, v->id, v->uidnext, v->highestmodseq, &use, r, nr, &lk,
	                                   err, sizeof(err));
	free(r);
	if (rc < 0)
		log_err("imap.select", "mailbox_id=%lld error=\"%s\"", (long long)v->id, err);
	if (rc != 1)
		return 0; /* the view is read, and says what went wrong */
	h->m = xcalloc(lk.found.n ? lk.found.n : 1, sizeof(*h->m));
	h->seq = lk.seq;
	lk.seq = NULL;
	h->n = lk.found.n;
	for (size_t i = 0; i < h->n; i++) { /* as view_load_one and view_mark_recent hold them */
		const struct store_msg *m = &lk.found.v[i];
		bool gone = m->modseq == UINT64_MAX;
		h->m[i] = (struct imap_msg){.uid = m->uid,
		                            .flags = m->flags,
		                            .modseq = gone ? v->highestmodseq : m->modseq,
		                            .keywords = view_keywords(v, m->keywords),
		                            .unannounced = !gone && m->modseq > v->highestmodseq,
		                            .recent = m->uid >= v->recent_uid};
	}
	store_lookup_free(&lk);
	v->lookups++;
	log_info("imap.view_lookup", "mailbox_id=%lld ranges=%zu messages=%zu", (long long)v->id, nr, h->n);
	return 1;
}

void imap_view_hits_free(struct imap_view_hits *h)
{
	free(h->m);
	free(h->seq);
	*h = (struct imap_view_hits){0};
}

size_t imap_view_find(const struct imap_session *s, uint32_t uid)
{
	const struct imap_view *v = &s->view;
	size_t lo = 0, hi = v->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->v[mid].uid == uid)
			return mid;
		if (v->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (size_t)-1;
}

/* Drops view entry i; its number before is i + 1. */
static void view_remove(struct imap_session *s, size_t i)
{
	struct imap_view *v = &s->view;
	imap_context_expunged(s, i); /* REMOVEFROM under the number it still has */
	v->nrecent -= v->v[i].recent;
	if (i < v->seen_below)
		v->seen_below--;
	msg_free(&v->v[i]);
	memmove(&v->v[i], &v->v[i + 1], (v->n - i - 1) * sizeof(*v->v));
	v->n--;
}

void imap_view_expunge_uids(struct imap_session *s, const uint32_t *uids, size_t n)
{
	uint32_t *gone = s->enabled_qresync ? xcalloc(n ? n : 1, sizeof(*gone)) : NULL;
	size_t ngone = 0;
	for (size_t k = 0; k < n; k++) {
		size_t i = imap_view_find(s, uids[k]);
		if (i == (size_t)-1)
			continue;
		view_remove(s, i);
		if (gone != NULL)
			gone[ngone++] = uids[k];
		else
			conn_printf(s->conn, "* %zu EXPUNGE\r\n", i + 1);
	}
	if (ngone > 0) {
		struct buf b;
		buf_init(&b, BUF_UNLIMITED);
		imap_set_format(&b, gone, ngone);
		conn_printf(s->conn, "* VANISHED %s\r\n", b.data);
		buf_free(&b);
	}
	free(gone);
}

void imap_view_expunged(struct imap_session *s, uint32_t uid)
{
	imap_view_expunge_uids(s, &uid, 1);
}

void imap_view_set_flags(struct imap_session *s, size_t i, uint32_t flags, const char *keywords,
                         uint64_t modseq)
{
	struct imap_msg *m = &s->view.v[i];
	imap_view_note_keywords(s, keywords);
	m->keywords = view_keywords(&s->view, keywords);
	m->flags = flags;
	m->modseq = modseq;
	m->unannounced = false;
	view_flags_changed(&s->view, i);
	view_keywords_compact(&s->view);
}

static bool same_keywords(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

void imap_view_write_fetch_flags(struct imap_session *s, size_t i)
{
	const struct imap_msg *m = &s->view.v[i];
	conn_printf(s->conn, "* %zu FETCH (UID %u ", i + 1, m->uid);
	imap_flags_write(s, m->flags, m->keywords, m->recent && !s->enabled_rev2);
	if (s->enabled_condstore && !s->view.shared) /* NOMODSEQ (imap_vault.h) */
		conn_printf(s->conn, " MODSEQ (%llu)", (unsigned long long)m->modseq);
	conn_puts(s->conn, ")\r\n");
}

/* Applies one change: a flag update of a known message, or a new message (recent
 * from UID first_recent on). */
static bool apply_change(struct imap_session *s, const struct store_msg *sm, uint32_t first_recent)
{
	struct imap_view *v = &s->view;
	size_t i = imap_view_find(s, sm->uid);
	if (imap_view_hides(s, sm->keywords)) {
		if (i != (size_t)-1) /* masked meanwhile: gone from a professional's view */
			imap_view_expunged(s, sm->uid);
		return false;
	}
	if (i != (size_t)-1) {
		struct imap_msg *m = &v->v[i];
		bool changed =
		    m->unannounced || m->flags != sm->flags || !same_keywords(m->keywords, sm->keywords);
		imap_view_set_flags(s, i, sm->flags, sm->keywords, sm->modseq);
		if (changed)
			imap_view_write_fetch_flags(s, i);
		return false;
	}
	if (v->n > 0 && sm->uid < v->v[v->n - 1].uid)
		return false; /* an old UID we do not have: expunged before we saw it */
	imap_view_note_keywords(s, sm->keywords);
	view_push(v, sm, sm->uid >= first_recent);
	return true;
}

int imap_view_sync(struct imap_session *s, bool allow_expunge)
{
	struct imap_view *v = &s->view;
	if (!v->open || !allow_expunge)
		return 0;
	if (v->shared && vault_may_read(s->store, s->account.address, v->patient) != 1) {
		/* the patient revoked the grant or blocked the reader since SELECT */
		conn_puts(s->conn, "* BYE Access to this folder was withdrawn\r\n");
		s->close_after_reply = true;
		return -1;
	}
	/* Nothing changed, the common case (issue 15): seen from the mailbox's HIGHESTMODSEQ
	 * and UIDNEXT, read by this command with a message (no statement) or now (one, not
	 * the four of the reading below). The watch is drained before a reading only: a
	 * change committed after the message's read still wakes IDLE and NOTIFY, and is
	 * told then or at the next command. An error here is met again, and logged, below. */
	char err[256];
	bool drained = false;
	int moved;
	if (v->stamp) {
		moved = v->stamp_highestmodseq != v->highestmodseq || v->stamp_uidnext != v->uidnext;
		v->stamp = false;
	} else {
		if (v->watch_fd >= 0)
			store_watch_drain(v->watch_fd);
		drained = true;
		moved = store_changed_since(s->store, v->id, v->highestmodseq, v->uidnext, err, sizeof(err));
	}
	if (moved == 0) {
		if (!v->pending)
			view_seen(s);
		return 0;
	}
	if (!drained && v->watch_fd >= 0)
		store_watch_drain(v->watch_fd);
	struct store_changes ch;
	memset(&ch, 0, sizeof(ch));
	int rc = store_changes_since(s->store, v->id, v->highestmodseq, &ch, err, sizeof(err));
	if (rc == 0) {
		conn_puts(s->conn, "* BYE Selected mailbox was deleted\r\n");
		s->close_after_reply = true;
		store_changes_free(&ch);
		return -1;
	}
	if (rc < 0) {
		log_err("imap.sync", "mailbox_id=%lld error=\"%s\"", (long long)v->id, err);
		store_changes_free(&ch);
		return 0;
	}
	if (v->pending) { /* answered from the counts: read the messages once something changed */
		bool same =
		    ch.mbox.highestmodseq == v->highestmodseq && ch.changed.n == 0 && ch.nexpunged == 0;
		store_changes_free(&ch);
		if (same || imap_view_load(s) < 0)
			return 0;
		return imap_view_sync(s, allow_expunge);
	}
	imap_view_expunge_uids(s, ch.expunged, ch.nexpunged);
	bool added = false;
	uint32_t first_recent = UINT32_MAX;
	if (ch.mbox.uidnext > v->uidnext)
		first_recent = recent_from(s, &ch.mbox);
	for (size_t i = 0; i < ch.changed.n; i++) {
		imap_vault_strip(s, &ch.changed.v[i]); /* the patient's own flags never cross */
		added |= apply_change(s, &ch.changed.v[i], first_recent);
	}
	if (added) {
		conn_printf(s->conn, "* %zu EXISTS\r\n", v->n);
		if (!s->enabled_rev2)
			conn_printf(s->conn, "* %zu RECENT\r\n", v->nrecent);
	}
	v->highestmodseq = ch.mbox.highestmodseq;
	v->uidnext = ch.mbox.uidnext;
	store_changes_free(&ch);
	view_seen(s);
	return 0;
}

static int add_index(size_t **idx, size_t *n, size_t *cap, size_t i)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*idx = xrealloc(*idx, *cap * sizeof(**idx));
	}
	(*idx)[(*n)++] = i;
	return 0;
}

int imap_view_resolve(struct imap_session *s, const char *set, bool uid, size_t **idx, size_t *n,
                      const char **err)
{
	struct imap_view *v = &s->view;
	struct imap_seqset ss;
	*idx = NULL;
	*n = 0;
	if (strcmp(set, "$") == 0) { /* the saved search result (RFC 5182) */
		size_t cap = 0;
		for (size_t i = 0; i < s->nsaved; i++) {
			size_t k = imap_view_find(s, s->saved[i]);
			if (k != (size_t)-1)
				add_index(idx, n, &cap, k);
		}
		return 0;
	}
	if (imap_seqset_parse(set, &ss) < 0) {
		*err = "Invalid sequence set";
		return -1;
	}
	/* normalised, the ranges are sorted and disjoint: each is found in the view and
	 * walked, so that "UID FETCH n" costs a binary search, not a pass over every
	 * message (issue 15) */
	size_t cap = 0;
	if (uid) {
		/* '*' is the highest UID, so "N:*" always names it (RFC 9051 6.4.9) */
		imap_seqset_normalise(&ss, v->n ? v->v[v->n - 1].uid : 0);
		for (size_t k = 0; k < ss.n; k++)
			for (size_t i = view_lower_bound(v, ss.r[k].lo);
			     i < v->n && v->v[i].uid <= ss.r[k].hi; i++)
				add_index(idx, n, &cap, i);
		imap_seqset_free(&ss);
		return 0;
	}
	if (v->n == 0 || imap_seqset_max(&ss, (uint32_t)v->n) > v->n) {
		*err = v->n == 0 ? "No messages in mailbox" : "Invalid message sequence number";
		imap_seqset_free(&ss);
		return -1;
	}
	imap_seqset_normalise(&ss, (uint32_t)v->n);
	for (size_t k = 0; k < ss.n; k++) /* lo >= 1 and hi <= n: checked above */
		for (size_t i = ss.r[k].lo - 1; i < ss.r[k].hi; i++)
			add_index(idx, n, &cap, i);
	imap_seqset_free(&ss);
	return 0;
}
