/* store_select_snapshot.c: a session's first read of a mailbox's messages from a
 * snapshot of them and the rows changed since (issue 15).
 *
 * Reading every row of a 100,000-message mailbox costs SQLite 16 ms of CPU, per row
 * work an index cannot shrink. So a session that read them all keeps them in
 * view_snapshots: one packed blob per mailbox (UID, flags, MODSEQ, keywords: no health
 * content), stamped with the UIDVALIDITY and the MODSEQ it reflects. The next session
 * reads that blob and only what changed since: the rows of MODSEQ above the stamp
 * (messages_modseq index) and the expunges above it (the expunged table QRESYNC keeps,
 * never pruned while the mailbox lives). Delivery never writes it (SMTP pays nothing):
 * the session that found it missing, or too far behind (use->delta), writes a fresh one.
 *
 * Why the result is exact: a row whose MODSEQ is at most the stamp has not changed since
 * the snapshot was taken, so the snapshot holds it as it is; every other change (new
 * message, flags, keywords, expunge) has a MODSEQ above the stamp and is read. A
 * snapshot may hold rows newer than its stamp (a view read after SELECT shows flags as
 * they are now): they too have a MODSEQ above it and are read over. A UIDVALIDITY or a
 * stamp the mailbox does not match (deleted and made again) leaves it unused. Shared
 * vault views never come here (they read every row at SELECT, stripping and masking). */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

/* Format: "MSV2", the number of checkpoints (4 octets, little-endian), the checkpoints,
 * then per message in ascending UID order four LEB128 numbers: UID minus the previous
 * one (the first from 0), flags, MODSEQ minus the previous one (zigzag: messages
 * delivered in order have close MODSEQs, a changed one jumps), and the keywords' length
 * followed by their bytes. About 5 octets a message. Checkpoint j (20 octets: UID,
 * message count, offset, MODSEQ) is the state before message j * SNAP_CHECK_EVERY: the
 * UID and MODSEQ of the one before it, how many came before, and where it starts past
 * the checkpoints. A UID command naming a few messages decodes one block from there
 * (store_select_lookup_as_of) instead of every message. "MSV1" (no checkpoints) is
 * still read by store_select_scan_as_of, never written.
 *
 * Version 2 also keeps the messages expunged between the SELECT a snapshot is stamped
 * with and the read that wrote it (flags 0, the MODSEQ of the one before): its UIDs are
 * then exactly those there at the stamp, which the sequence numbers of a lookup rest on.
 * Such a message is in the expunged table above the stamp, which every reader applies. */
#define SNAP_MAGIC_LEN 4
#define SNAP_MAGIC_V1 "MSV1"
#define SNAP_MAGIC "MSV2"
#define SNAP_HEAD_LEN 8      /* the magic and the number of checkpoints */
#define SNAP_CHECK_LEN 20    /* one checkpoint */
#define SNAP_CHECK_EVERY 256 /* messages per checkpoint: 8 kB of them at 100,000 messages */

struct snap_reader {
	const unsigned char *p; /* the messages, past the magic (the engine's copy of the column) */
	size_t len, pos;
	uint32_t uid;    /* the last one read */
	uint64_t modseq; /* its MODSEQ */
};

static bool get_number(struct snap_reader *r, uint64_t *v)
{
	if (r->pos < r->len && r->p[r->pos] < 0x80) { /* most numbers: one octet */
		*v = r->p[r->pos++];
		return true;
	}
	*v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->pos >= r->len)
			return false;
		unsigned char c = r->p[r->pos++];
		*v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			return true;
	}
	return false;
}

/* The next message into m (its keywords into kw, STORE_KEYWORDS_MAX + 1 bytes).
 * Returns 1, 0 at the end, -1 when the blob is damaged. */
static int snap_next(struct snap_reader *r, struct store_msg *m, char *kw)
{
	if (r->pos == r->len)
		return 0;
	uint64_t step, flags, modseq, kwlen;
	if (!get_number(r, &step) || !get_number(r, &flags) || !get_number(r, &modseq) ||
	    !get_number(r, &kwlen))
		return -1;
	/* zigzag: even steps up, odd ones down */
	uint64_t down = modseq & 1, by = modseq >> 1;
	if (step == 0 || step > UINT32_MAX - r->uid || flags > STORE_FLAG_ALL ||
	    (down ? by >= r->modseq : by > (uint64_t)INT64_MAX - r->modseq) || kwlen > STORE_KEYWORDS_MAX ||
	    kwlen > r->len - r->pos)
		return -1;
	r->uid += (uint32_t)step;
	r->modseq = down ? r->modseq - by : r->modseq + by;
	*m = (struct store_msg){.uid = r->uid, .flags = (uint32_t)flags, .modseq = r->modseq};
	if (kwlen > 0) { /* most messages have none: no call to copy nothing */
		memcpy(kw, r->p + r->pos, kwlen);
		kw[kwlen] = '\0';
		r->pos += kwlen;
		m->keywords = kw;
	}
	return 1;
}

static void put_number(struct buf *b, uint64_t v)
{
	unsigned char c[10];
	size_t n = 0;
	do {
		c[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			c[n] |= 0x80;
		n++;
	} while (v != 0);
	buf_put(b, c, n);
}

/* n octets of v, least significant first (a checkpoint's fixed-width numbers). */
static void put_fixed(struct buf *b, uint64_t v, size_t n)
{
	unsigned char c[8];
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)(v >> (8 * i));
	buf_put(b, c, n);
}

static uint64_t get_fixed(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

struct snap_writer {
	bool on;
	struct buf b;  /* the messages */
	struct buf ck; /* the checkpoints */
	size_t n;      /* messages put */
	uint32_t uid;
	uint64_t modseq;
};

static void snap_put(struct snap_writer *w, const struct store_msg *m)
{
	if (!w->on)
		return;
	if (w->n % SNAP_CHECK_EVERY == 0) {
		put_fixed(&w->ck, w->uid, 4);
		put_fixed(&w->ck, w->n, 4);
		put_fixed(&w->ck, w->b.len, 4);
		put_fixed(&w->ck, w->modseq, 8);
	}
	w->n++;
	bool gone = m->modseq == UINT64_MAX; /* expunged since the stamp: kept, see the format */
	uint64_t modseq = gone ? w->modseq : m->modseq;
	size_t kwlen = !gone && m->keywords != NULL ? strlen(m->keywords) : 0;
	put_number(&w->b, m->uid - w->uid);
	put_number(&w->b, gone ? 0 : m->flags);
	put_number(&w->b, modseq >= w->modseq ? (modseq - w->modseq) << 1 : (w->modseq - modseq) << 1 | 1);
	put_number(&w->b, kwlen);
	buf_put(&w->b, m->keywords, kwlen);
	w->uid = m->uid;
	w->modseq = modseq;
}

/* A snapshot's data: its messages, and its checkpoints (none in version 1). */
struct snap_blob {
	const unsigned char *msgs, *ck;
	size_t len, nck;
};

/* Returns 2 or 1 (the version), -1 when the data is damaged or of an unknown version. */
static int snap_open(const unsigned char *p, size_t n, struct snap_blob *b)
{
	*b = (struct snap_blob){0};
	if (n >= SNAP_MAGIC_LEN && memcmp(p, SNAP_MAGIC_V1, SNAP_MAGIC_LEN) == 0) {
		b->msgs = p + SNAP_MAGIC_LEN;
		b->len = n - SNAP_MAGIC_LEN;
		return 1;
	}
	if (n < SNAP_HEAD_LEN || memcmp(p, SNAP_MAGIC, SNAP_MAGIC_LEN) != 0)
		return -1;
	uint64_t nck = get_fixed(p + SNAP_MAGIC_LEN, 4);
	if (nck > (n - SNAP_HEAD_LEN) / SNAP_CHECK_LEN)
		return -1;
	b->ck = p + SNAP_HEAD_LEN;
	b->nck = (size_t)nck;
	b->msgs = b->ck + b->nck * SNAP_CHECK_LEN;
	b->len = n - SNAP_HEAD_LEN - b->nck * SNAP_CHECK_LEN;
	return 2;
}

/* A snapshot's stamp (view_snapshots minus its data). */
struct snapshot {
	uint64_t modseq;
	uint32_t uidnext;
};

/* The stamp of mb's snapshot, when it has one that matches mb. Returns 1, 0 none usable, -1. */
static int snap_stamp(struct store *st, const struct store_mailbox *mb, struct snapshot *s, char *err,
                      size_t errlen)
{
	struct sql_stmt *q =
	    sql_query(st->sql, "store.snapshot_stamp",
	              "SELECT uidvalidity, modseq, uidnext FROM view_snapshots WHERE mailbox_id = ?1",
	              SQL_ARGS(SQL_INT(mb->id)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1) {
		s->modseq = (uint64_t)sql_int(q, 1);
		s->uidnext = (uint32_t)sql_int(q, 2);
		if (sql_int(q, 0) != (int64_t)mb->uidvalidity || s->modseq > mb->highestmodseq ||
		    s->uidnext > mb->uidnext)
			rc =
			    0; /* not this mailbox's (made again under its id?): read whole, written afresh */
	}
	sql_done(q);
	return rc;
}

/* What changed since the snapshot's stamp, below uidnext: rows (ascending UID) and
 * expunged UIDs (ascending, with their MODSEQ, from since on). */
struct delta {
	struct store_msglist changed;
	struct store_gone *gone;
	size_t ngone;
};

static void delta_free(struct delta *d)
{
	store_msglist_free(&d->changed);
	free(d->gone);
}

static int changed_read(struct store *st, int64_t mailbox_id, uint32_t uidnext, uint64_t since,
                        struct delta *d, char *err, size_t errlen)
{
	/* ORDER BY +uid: found by (mailbox_id, modseq), sorted after (store_select.c); the
	 * UIDs from uidnext on are left out here, not in SQL, where "uid < ?" made SQLite
	 * walk the (mailbox_id, uid) index over every message (10 ms at 100,000) */
	struct sql_stmt *q = sql_query(
	    st->sql, "store.snapshot_changed",
	    "SELECT uid, flags, modseq, keywords FROM messages WHERE mailbox_id = ?1 AND modseq > ?2"
	    " ORDER BY +uid",
	    SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(since)), err, errlen);
	if (q == NULL)
		return -1;
	size_t cap = 0;
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		if ((uint64_t)sql_int(q, 0) >= uidnext)
			continue; /* arrived after the SELECT: told at the catch-up */
		if (d->changed.n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			d->changed.v = xrealloc(d->changed.v, cap * sizeof(*d->changed.v));
		}
		const char *kw = sql_text(q, 3);
		d->changed.v[d->changed.n++] = (struct store_msg){
		    .uid = (uint32_t)sql_int(q, 0),
		    .flags = (uint32_t)sql_int(q, 1),
		    .modseq = (uint64_t)sql_int(q, 2),
		    .keywords = kw != NULL && kw[0] != '\0' ? xstrdup(kw) : NULL,
		};
	}
	sql_done(q);
	return rc < 0 ? -1 : 0;
}

/* One load: the SELECT it answers for, where it gives the messages, and the snapshot
 * it writes (w.on), stamped with that SELECT's MODSEQ and UIDNEXT. */
struct load {
	uint32_t uidnext; /* the SELECT's */
	uint64_t modseq;
	int (*fn)(void *, struct store_msg *);
	void *arg;
	struct snap_writer w;
	bool renew; /* a snapshot of version 1 read is written again as version 2 */
};

static int emit(struct load *l, struct store_msg *m)
{
	snap_put(&l->w, m);
	return l->fn(l->arg, m);
}

/* The snapshot proved damaged part way: fn forgets what it was given (m NULL), and the
 * snapshot being written starts again. Checking it whole before the merge cost a
 * second decoding of every message at every load, for a case that does not happen. */
static void restart(struct load *l)
{
	l->fn(l->arg, NULL);
	if (!l->w.on)
		return;
	buf_reset(&l->w.b);
	buf_reset(&l->w.ck);
	l->w.n = 0;
	l->w.uid = 0;
	l->w.modseq = 0;
}

/* Where a merge starts (the snapshot's reader, the first changed row and expunge to
 * take) and the last UID it gives. */
struct span {
	struct snap_reader r;
	size_t ic, ig;
	uint32_t hi;
};

/* The snapshot, the rows changed since and the expunges since, merged in UID order:
 * an expunged UID is left out (told as expunged when after the SELECT), a changed row
 * replaces the snapshot's. Returns 0, 1 when the snapshot proved damaged (restart), -1. */
static int merge(struct load *l, struct span sp, uint32_t stamp_uidnext, const struct delta *d)
{
	struct store_msg sm;
	char kw[STORE_KEYWORDS_MAX + 1];
	size_t ic = sp.ic, ig = sp.ig;
	int more = snap_next(&sp.r, &sm, kw);
	for (;;) {
		if (more < 0 || (more == 1 && sm.uid >= stamp_uidnext)) {
			restart(l);
			return 1;
		}
		uint32_t us = more == 1 && sm.uid < l->uidnext ? sm.uid : UINT32_MAX;
		uint32_t uc = ic < d->changed.n ? d->changed.v[ic].uid : UINT32_MAX;
		uint32_t ug = ig < d->ngone ? d->gone[ig].uid : UINT32_MAX;
		uint32_t u = us < uc ? us : uc;
		u = ug < u ? ug : u;
		if (u == UINT32_MAX || u > sp.hi)
			return 0; /* the snapshot's UIDs from the SELECT's UIDNEXT on are not read */
		int rc = 0;
		if (ug == u) {
			struct store_msg g = {.uid = u, .modseq = UINT64_MAX};
			if (d->gone[ig].modseq > l->modseq)
				rc = emit(l, &g);
			ig++;
			ic += uc == u; /* never both: a UID is not used again */
		} else if (uc == u) {
			rc = emit(l, &d->changed.v[ic++]);
		} else {
			rc = emit(l, &sm);
		}
		if (rc < 0)
			return -1;
		if (us == u)
			more = snap_next(&sp.r, &sm, kw);
	}
}

/* The query of mailbox_id's snapshot data, *b its parts. Returns 1 (the caller ends
 * *q once done with *b), 0 when it is damaged (of a version unknown), -1. */
static int data_read(struct store *st, int64_t mailbox_id, struct sql_stmt **q, struct snap_blob *b,
                     char *err, size_t errlen)
{
	/* binary: PostgreSQL would send it as hex text, twice its size, decoded after */
	*q = sql_query_binary(st->sql, "store.snapshot_data",
	                      "SELECT data FROM view_snapshots WHERE mailbox_id = ?1",
	                      SQL_ARGS(SQL_INT(mailbox_id)), err, errlen);
	if (*q == NULL)
		return -1;
	int rc =
	    sql_next(*q, err, errlen); /* 0: gone since its stamp was read, cannot be in one transaction */
	if (rc == 1) {
		size_t n = 0;
		const unsigned char *p = sql_blob(*q, 0, &n); /* n is set by the call */
		if (snap_open(p, n, b) < 0)
			rc = 0;
	}
	if (rc != 1) {
		sql_done(*q);
		*q = NULL;
	}
	return rc;
}

/* The messages from the snapshot's data, read in place (450 kB at 100,000 messages)
 * after the rows changed since. Returns 0, 1 when the data proved damaged (fn told to
 * forget what it was given), -1. */
static int snap_merge(struct store *st, struct load *l, int64_t mailbox_id, const struct snapshot *s,
                      struct delta *d, char *err, size_t errlen)
{
	struct sql_stmt *q;
	struct snap_blob b;
	int rc = data_read(st, mailbox_id, &q, &b, err, errlen);
	if (rc != 1)
		return rc < 0 ? -1 : 1; /* damaged: read whole, and written afresh */
	if (b.ck == NULL && l->renew)   /* version 1: the lookups need the checkpoints */
		l->w.on = true;
	struct span all = {.r = {.p = b.msgs, .len = b.len}, .hi = UINT32_MAX};
	if ((rc = merge(l, all, s->uidnext, d)) < 0)
		str_error(err, errlen, "mailbox %lld: reading stopped", (long long)mailbox_id);
	sql_done(q);
	return rc;
}

/* What changed since the snapshot s, for the SELECT l answers: d filled, *changed the
 * rows changed or expunged since it. Returns 0, -1. */
static int delta_read(struct store *st, const struct load *l, int64_t mailbox_id, const struct snapshot *s,
                      struct delta *d, size_t *changed, char *err, size_t errlen)
{
	uint64_t since = s->modseq < l->modseq ? s->modseq : l->modseq;
	int rc = store_expunged_below(st, mailbox_id, l->uidnext, since, &d->gone, &d->ngone, err, errlen);
	if (rc == 0)
		rc = changed_read(st, mailbox_id, l->uidnext, s->modseq, d, err, errlen);
	*changed = d->changed.n;
	for (size_t i = 0; i < d->ngone; i++)
		*changed += d->gone[i].modseq > s->modseq;
	return rc;
}

/* Returns 0, 1 when the snapshot cannot serve (nothing given to fn), -1. */
static int from_snapshot(struct store *st, struct load *l, const struct store_mailbox *mb,
                         const struct snapshot *s, struct store_snapshot_use *use, char *err, size_t errlen)
{
	struct delta d = {0};
	size_t changed = 0;
	int rc = delta_read(st, l, mb->id, s, &d, &changed, err, errlen);
	l->w.on = changed > use->delta && mb->messages >= use->min;
	l->renew = mb->messages >= use->min;
	if (rc == 0)
		rc = snap_merge(st, l, mb->id, s, &d, err, errlen);
	if (rc == 0) {
		use->used = true;
		use->changed = changed;
	}
	delta_free(&d);
	return rc;
}

static int emit_scanned(void *arg, struct store_msg *m)
{
	return emit(arg, m);
}

static int load_locked(struct store *st, int64_t mailbox_id, struct load *l, struct store_mailbox *mb,
                       struct store_snapshot_use *use, char *err, size_t errlen)
{
	int rc = store_mailbox_row_id(st, mailbox_id, mb, NULL, err, errlen);
	if (rc == 1)
		rc = store_mailbox_counts(st, mb, err, errlen) < 0 ? -1 : 1;
	if (rc < 0)
		return -1;
	if (rc == 0) /* deleted meanwhile: the catch-up will say so */
		return store_scan_before_locked(st, mailbox_id, l->uidnext, l->modseq, l->fn, l->arg, err,
		                                errlen);
	struct snapshot s = {0};
	rc = snap_stamp(st, mb, &s, err, errlen);
	if (rc == 1)
		rc = from_snapshot(st, l, mb, &s, use, err, errlen); /* 0, 1 it cannot serve, -1 */
	else if (rc == 0)
		rc = 1;
	if (rc != 1)
		return rc;
	/* none yet, or unusable: every row, kept for the next session */
	l->w.on = mb->messages >= use->min;
	return store_scan_before_locked(st, mailbox_id, l->uidnext, l->modseq, emit_scanned, l, err, errlen);
}

/* A fresh snapshot, unless one as new or newer was written meanwhile. Returns 0, -1. */
static int snap_write(struct store *st, const struct store_mailbox *mb, const struct load *l, char *err,
                      size_t errlen)
{
	struct buf data;
	buf_init(&data, BUF_UNLIMITED);
	buf_put(&data, SNAP_MAGIC, SNAP_MAGIC_LEN);
	put_fixed(&data, l->w.ck.len / SNAP_CHECK_LEN, 4);
	buf_put(&data, l->w.ck.data, l->w.ck.len);
	buf_put(&data, l->w.b.data, l->w.b.len);
	struct store_txn t;
	int rc = store_txn_begin(st, &t, err, errlen);
	if (rc == 0)
		rc = sql_exec(st->sql, "store.snapshot_write",
		              "INSERT INTO view_snapshots (mailbox_id, uidvalidity, modseq, uidnext, data)"
		              " SELECT id, uidvalidity, ?3, ?4, ?5 FROM mailboxes"
		              " WHERE id = ?1 AND uidvalidity = ?2"
		              " ON CONFLICT (mailbox_id) DO UPDATE SET uidvalidity = excluded.uidvalidity,"
		              " modseq = excluded.modseq, uidnext = excluded.uidnext, data = excluded.data"
		              " WHERE view_snapshots.modseq <= excluded.modseq"
		              " OR view_snapshots.uidvalidity <> excluded.uidvalidity",
		              SQL_ARGS(SQL_INT(mb->id), SQL_INT(mb->uidvalidity), SQL_INT((int64_t)l->modseq),
		                       SQL_INT(l->uidnext), SQL_BLOB(data.data, data.len)),
		              err, errlen) < 0
		         ? -1
		         : 0;
	buf_free(&data);
	return store_txn_end(st, &t, rc, err, errlen);
}

int store_select_scan_as_of(struct store *st, int64_t mailbox_id, uint32_t uidnext, uint64_t modseq,
                            struct store_snapshot_use *use, int (*fn)(void *arg, struct store_msg *m),
                            void *arg, char *err, size_t errlen)
{
	struct store_txn t;
	if (store_read_begin(st, &t, err, errlen) < 0)
		return -1;
	if (use == NULL) {
		int rc = store_scan_before_locked(st, mailbox_id, uidnext, modseq, fn, arg, err, errlen);
		store_read_end(st, &t);
		return rc;
	}
	use->used = use->written = false;
	use->changed = 0;
	struct load l = {.uidnext = uidnext, .modseq = modseq, .fn = fn, .arg = arg};
	buf_init(&l.w.b, BUF_UNLIMITED);
	buf_init(&l.w.ck, BUF_UNLIMITED);
	struct store_mailbox mb;
	int rc = load_locked(st, mailbox_id, &l, &mb, use, err, errlen);
	store_read_end(st, &t);
	if (rc == 0 && l.w.on) {
		char werr[256];
		if (snap_write(st, &mb, &l, werr, sizeof(werr)) < 0) /* the read stands */
			log_warn("store.snapshot", "mailbox_id=%lld error=\"%s\"", (long long)mailbox_id,
			         werr);
		else
			use->written = true;
	}
	buf_free(&l.w.b);
	buf_free(&l.w.ck);
	return rc;
}

/* ---- a few UIDs without the view (store_select_lookup_as_of) ---- */

/* What a lookup gathers: the messages merge gives, numbered on from seq. */
struct gather {
	struct store_lookup *out;
	size_t cap, seq;
	bool damaged;
};

static int gather_one(void *arg, struct store_msg *m)
{
	struct gather *g = arg;
	if (m == NULL) { /* the snapshot proved damaged: the view is read instead */
		g->damaged = true;
		return 0;
	}
	struct store_msglist *f = &g->out->found;
	if (f->n == g->cap) {
		g->cap = g->cap == 0 ? 16 : g->cap * 2;
		f->v = xrealloc(f->v, g->cap * sizeof(*f->v));
		g->out->seq = xrealloc(g->out->seq, g->cap * sizeof(*g->out->seq));
	}
	f->v[f->n] = *m;
	f->v[f->n].keywords = m->keywords != NULL ? xstrdup(m->keywords) : NULL;
	g->out->seq[f->n++] = ++g->seq;
	return 0;
}

void store_lookup_free(struct store_lookup *l)
{
	store_msglist_free(&l->found);
	free(l->seq);
	l->seq = NULL;
}

/* The last checkpoint before UID uid (checkpoint 0 is before the first message: UID 0). */
static size_t ck_before(const struct snap_blob *b, uint32_t uid)
{
	size_t a = 0, z = b->nck;
	while (z - a > 1) {
		size_t mid = a + (z - a) / 2;
		if (get_fixed(b->ck + mid * SNAP_CHECK_LEN, 4) < uid)
			a = mid;
		else
			z = mid;
	}
	return a;
}

static uint64_t ck_offset(const struct snap_blob *b, size_t j)
{
	return get_fixed(b->ck + j * SNAP_CHECK_LEN + 8, 4);
}

/* The checkpoints as snap_put writes them: checkpoint 0 before the first message (all
 * zero), checkpoint j after j * SNAP_CHECK_EVERY messages, UIDs and offsets rising (a
 * message takes at least 4 octets), UIDs below the stamp's UIDNEXT. A lookup numbers
 * its messages from a checkpoint's count and reads them from its UID and MODSEQ: a
 * damaged one would answer with other sequence numbers, or another message's flags. */
static bool ck_ordered(const struct snap_blob *b, uint32_t uidnext)
{
	for (size_t j = 0; j < b->nck; j++) {
		const unsigned char *c = b->ck + j * SNAP_CHECK_LEN, *p = c - SNAP_CHECK_LEN;
		uint64_t uid = get_fixed(c, 4), off = get_fixed(c + 8, 4), modseq = get_fixed(c + 12, 8);
		if (get_fixed(c + 4, 4) != (uint64_t)j * SNAP_CHECK_EVERY || modseq > (uint64_t)INT64_MAX ||
		    uid >= uidnext)
			return false;
		if (j == 0 ? uid != 0 || off != 0 || modseq != 0
		           : uid <= get_fixed(p, 4) || off < get_fixed(p + 8, 4) + 4 * SNAP_CHECK_EVERY)
			return false;
	}
	return true;
}

/* The checkpoints of the snapshot at ref (b->ck then points into ck; its messages are
 * read in part, blocks_read). Returns 1, 0 when it has none (version 1) or they are
 * damaged, -1. */
static int ck_read(struct store *st, const struct sql_blob_ref *ref, const struct snapshot *s, struct buf *ck,
                   struct snap_blob *b, char *err, size_t errlen)
{
	if (sql_blob_part(st->sql, "store.snapshot_part", ref, 0, SNAP_HEAD_LEN, ck, err, errlen) < 0)
		return -1;
	if (ck->len < SNAP_HEAD_LEN || memcmp(ck->data, SNAP_MAGIC, SNAP_MAGIC_LEN) != 0)
		return 0; /* version 1: no checkpoints, and expunged messages may be missing */
	uint64_t nck = get_fixed((const unsigned char *)ck->data + SNAP_MAGIC_LEN, 4);
	if (nck > s->uidnext / SNAP_CHECK_EVERY + 1) /* more than its messages can have */
		return 0;
	buf_reset(ck);
	if (sql_blob_part(st->sql, "store.snapshot_part", ref, SNAP_HEAD_LEN, nck * SNAP_CHECK_LEN, ck, err,
	                  errlen) < 0)
		return -1;
	if (ck->len != nck * SNAP_CHECK_LEN)
		return 0;
	*b = (struct snap_blob){.ck = (const unsigned char *)ck->data, .nck = (size_t)nck};
	return ck_ordered(b, s->uidnext) ? 1 : 0;
}

/* The blocks of checkpoints a to z (blk, read from a's offset) agree with them: read
 * from a's UID and MODSEQ, they reach each later checkpoint at its offset with its UID
 * and MODSEQ, hold SNAP_CHECK_EVERY messages each, the last at most that many, and end
 * below the stamp's UIDNEXT. A checkpoint is thus checked by the one after it (the
 * caller reads from the one before the last); the first is all zero (ck_ordered). A
 * few hundred messages decoded (microseconds); the lookup's numbers rest on them. */
static bool blocks_agree(const struct snap_blob *b, size_t a, size_t z, const struct buf *blk,
                         uint32_t uidnext)
{
	const unsigned char *c = b->ck + a * SNAP_CHECK_LEN;
	struct snap_reader r = {.p = (const unsigned char *)blk->data,
	                        .len = blk->len,
	                        .uid = (uint32_t)get_fixed(c, 4),
	                        .modseq = get_fixed(c + 12, 8)};
	uint64_t base = ck_offset(b, a);
	struct store_msg m;
	char kw[STORE_KEYWORDS_MAX + 1];
	size_t k = 0; /* messages read past checkpoint a */
	int more;
	while ((more = snap_next(&r, &m, kw)) == 1) {
		size_t j = a + ++k / SNAP_CHECK_EVERY; /* the checkpoint this message ends at */
		if (k % SNAP_CHECK_EVERY != 0 || j >= b->nck)
			continue;
		c = b->ck + j * SNAP_CHECK_LEN;
		if (j > z || r.pos != ck_offset(b, j) - base || r.uid != get_fixed(c, 4) ||
		    r.modseq != get_fixed(c + 12, 8))
			return false;
	}
	size_t full = (z - a) * SNAP_CHECK_EVERY;
	return more == 0 && r.uid < uidnext &&
	       (z < b->nck ? k == full : k > full - SNAP_CHECK_EVERY && k <= full);
}

/* The blocks of messages from the checkpoint before UID lo (the one before it when
 * that is the last) to the end of the one holding hi, read into blk; *r reads them
 * from that checkpoint on, *before the messages before it. Returns 1, 0 when the
 * checkpoints are damaged, -1. */
static int blocks_read(struct store *st, const struct sql_blob_ref *ref, const struct snap_blob *b,
                       uint32_t lo, uint32_t hi, uint32_t uidnext, struct buf *blk, struct snap_reader *r,
                       size_t *before, char *err, size_t errlen)
{
	buf_reset(blk);
	*before = 0;
	*r = (struct snap_reader){0};
	if (b->nck == 0) /* no messages */
		return 1;
	size_t a = ck_before(b, lo), z = ck_before(b, hi) + 1;
	if (a > 0 && a + 1 == b->nck)
		a--; /* the last checkpoint has none after it to be checked by (blocks_agree) */
	uint64_t from = ck_offset(b, a), to = z < b->nck ? ck_offset(b, z) : UINT64_MAX;
	const unsigned char *c = b->ck + a * SNAP_CHECK_LEN;
	if (to < from || get_fixed(c + 12, 8) > (uint64_t)INT64_MAX)
		return 0;
	if (sql_blob_part(st->sql, "store.snapshot_part", ref, SNAP_HEAD_LEN + b->nck * SNAP_CHECK_LEN + from,
	                  to == UINT64_MAX ? SIZE_MAX : (size_t)(to - from), blk, err, errlen) < 0)
		return -1;
	if (blk->len == 0 || (to != UINT64_MAX && blk->len != to - from) ||
	    !blocks_agree(b, a, z, blk, uidnext))
		return 0; /* a checkpoint past the messages, or not theirs: damaged */
	*r = (struct snap_reader){.p = (const unsigned char *)blk->data,
	                          .len = blk->len,
	                          .uid = (uint32_t)get_fixed(c, 4),
	                          .modseq = get_fixed(c + 12, 8)};
	*before = (size_t)get_fixed(c + 4, 4);
	return 1;
}

/* The messages of the SELECT's view from UID lo to hi (below its UIDNEXT), numbered,
 * the snapshot's read by r from a checkpoint before lo, with n messages before it.
 * Returns 1, 0 when the snapshot proved damaged, -1. */
static int lookup_range(struct load *l, struct snap_reader r, size_t n, const struct snapshot *s,
                        const struct delta *d, uint32_t lo, uint32_t hi)
{
	struct gather *g = l->arg;
	struct span sp = {.r = r, .hi = hi};
	for (;;) { /* the snapshot's messages before lo, counted */
		struct snap_reader at = sp.r;
		struct store_msg sm;
		char kw[STORE_KEYWORDS_MAX + 1];
		int more = snap_next(&sp.r, &sm, kw);
		if (more < 0 || (more == 1 && sm.uid >= s->uidnext))
			return 0;
		if (more == 0 || sm.uid >= lo) {
			sp.r = at;
			break;
		}
		n++;
	}
	/* and what changed since, as merge applies it: a new row adds one; an expunge adds
	 * one when the message was not there at the stamp but is shown (expunged after the
	 * SELECT), takes one away when it was there and is not shown */
	for (; sp.ic < d->changed.n && d->changed.v[sp.ic].uid < lo; sp.ic++)
		n += d->changed.v[sp.ic].uid >= s->uidnext;
	for (; sp.ig < d->ngone && d->gone[sp.ig].uid < lo; sp.ig++) {
		const struct store_gone *e = &d->gone[sp.ig];
		bool held = e->uid < s->uidnext && e->modseq > s->modseq, shown = e->modseq > l->modseq;
		n = n + (shown && !held) - (held && !shown);
	}
	g->seq = n;
	int rc = merge(l, sp, s->uidnext, d);
	return rc < 0 ? -1 : rc == 1 || g->damaged ? 0 : 1;
}

/* The snapshot's checkpoints, then for each range the blocks that hold it, read in
 * part: a few kB of the 450 kB of a 100,000-message mailbox. Returns 1, 0 when the
 * snapshot cannot answer, -1. */
static int lookup_parts(struct store *st, struct load *l, int64_t mailbox_id, const struct snapshot *s,
                        const struct delta *d, const struct store_uid_range *ranges, size_t nranges,
                        char *err, size_t errlen)
{
	const struct sql_blob_ref ref = {
	    .table = "view_snapshots", .column = "data", .key = "mailbox_id", .id = mailbox_id};
	struct buf ck, blk;
	buf_init(&ck, BUF_UNLIMITED);
	buf_init(&blk, BUF_UNLIMITED);
	struct snap_blob b;
	int rc = ck_read(st, &ref, s, &ck, &b, err, errlen);
	for (size_t k = 0; k < nranges && rc == 1; k++) {
		uint32_t hi = ranges[k].hi < l->uidnext ? ranges[k].hi : l->uidnext - 1;
		struct snap_reader r;
		size_t before;
		if (ranges[k].lo > hi)
			continue;
		rc = blocks_read(st, &ref, &b, ranges[k].lo, hi, s->uidnext, &blk, &r, &before, err, errlen);
		if (rc == 1)
			rc = lookup_range(l, r, before, s, d, ranges[k].lo, hi);
	}
	buf_free(&ck);
	buf_free(&blk);
	return rc;
}

/* Returns 1, 0 when the snapshot cannot answer, -1. */
static int lookup_locked(struct store *st, struct load *l, int64_t mailbox_id,
                         const struct store_snapshot_use *use, const struct store_uid_range *ranges,
                         size_t nranges, char *err, size_t errlen)
{
	struct store_mailbox mb;
	struct snapshot s = {0};
	int rc = store_mailbox_row_id(st, mailbox_id, &mb, NULL, err, errlen);
	if (rc == 1)
		rc = snap_stamp(st, &mb, &s, err, errlen);
	if (rc != 1) /* deleted meanwhile (the catch-up says so), or no snapshot yet */
		return rc;
	struct delta d = {0};
	size_t changed = 0;
	rc = delta_read(st, l, mailbox_id, &s, &d, &changed, err, errlen) < 0 ? -1 : 1;
	if (rc == 1 && changed > use->delta)
		rc = 0; /* the view's read writes a fresh snapshot */
	if (rc == 1)
		rc = lookup_parts(st, l, mailbox_id, &s, &d, ranges, nranges, err, errlen);
	delta_free(&d);
	return rc;
}

int store_select_lookup_as_of(struct store *st, int64_t mailbox_id, uint32_t uidnext, uint64_t modseq,
                              const struct store_snapshot_use *use, const struct store_uid_range *ranges,
                              size_t nranges, struct store_lookup *out, char *err, size_t errlen)
{
	*out = (struct store_lookup){0};
	struct gather g = {.out = out};
	struct load l = {.uidnext = uidnext, .modseq = modseq, .fn = gather_one, .arg = &g};
	struct store_txn t;
	if (store_read_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = lookup_locked(st, &l, mailbox_id, use, ranges, nranges, err, errlen);
	store_read_end(st, &t);
	if (rc != 1)
		store_lookup_free(out);
	return rc;
}
