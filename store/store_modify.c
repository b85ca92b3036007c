/* store_modify.c: changing existing messages: flags, copy, move, expunge.
 *
 * Each operation is one write transaction that takes one new MODSEQ for the mailbox
 * it changes (RFC 7162 allows one value for all messages changed by one command),
 * then touches the mailbox's change file so IDLE sessions wake. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted, duplicate-free copy of uids (malloc'ed). */
static uint32_t *uids_sorted(const uint32_t *uids, size_t n, size_t *nout)
{
	uint32_t *v = xmalloc((n > 0 ? n : 1) * sizeof(*v));
	if (n > 0)
		memcpy(v, uids, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_u32);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k == 0 || v[k - 1] != v[i])
			v[k++] = v[i];
	}
	*nout = k;
	return v;
}

static void u32_push(uint32_t **v, size_t *n, uint32_t x)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = x;
}

/* ---- expunge ---- */

/* Removes one message and records it as expunged at modseq: 1 with *blob_id, 0 when
 * it was not there, -1. */
static int expunge_one(struct store *st, int64_t mailbox_id, uint32_t uid, uint64_t modseq, bool retain,
                       int64_t *blob_id, char *err, size_t errlen)
{
	int rc = sql_one(st->sql, "store.expunge",
	                 "SELECT blob_id FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
	                 SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uid)), blob_id, err, errlen);
	if (rc <= 0)
		return rc;
	if ((retain && store_retain_locked(st, mailbox_id, uid, modseq, err, errlen) < 0) ||
	    sql_exec(st->sql, "store.expunge", "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
	             SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uid)), err, errlen) < 0 ||
	    sql_exec(st->sql, "store.expunge",
	             "INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)"
	             " ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq",
	             SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uid), SQL_INT(modseq)), err, errlen) < 0)
		return -1;
	return 1;
}

int store_expunge_locked(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
                         uint64_t modseq, bool retain, struct store_paths *unlinked, char *err, size_t errlen)
{
	int64_t *blobs = xmalloc((n > 0 ? n : 1) * sizeof(*blobs));
	size_t nblobs = 0;
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		int rc = expunge_one(st, mailbox_id, uids[i], modseq, retain, &blobs[nblobs], err, errlen);
		if (rc < 0)
			ret = -1;
		else if (rc == 1)
			nblobs++;
	}
	/* an expunged document is gone for its readers at once, even while retained */
	if (ret == 0)
		ret = store_readers_drop_unused(st, blobs, nblobs, err, errlen);
	if (ret == 0)
		ret = store_blob_release(st, blobs, nblobs, unlinked, err, errlen);
	free(blobs);
	return ret;
}

/* The UIDs of mailbox_id carrying \Deleted, limited to the sorted list when given. */
static int deleted_uids(struct store *st, int64_t mailbox_id, const uint32_t *only, size_t nonly,
                        uint32_t **out, size_t *nout, char *err, size_t errlen)
{
	struct sql_stmt *q =
	    sql_query(st->sql, "store.deleted",
	              "SELECT uid FROM messages WHERE mailbox_id = ?1 AND (flags & 8) != 0 ORDER BY uid",
	              SQL_ARGS(SQL_INT(mailbox_id)), err, errlen);
	if (q == NULL)
		return -1;
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		uint32_t uid = (uint32_t)sql_int(q, 0);
		if (only == NULL || bsearch(&uid, only, nonly, sizeof(*only), cmp_u32) != NULL)
			u32_push(out, nout, uid);
	}
	sql_done(q);
	return rc < 0 ? -1 : 0;
}

static int expunge_txn(struct store *st, int64_t mailbox_id, const uint32_t *only, size_t nonly,
                       uint32_t **gone, size_t *ngone, struct store_paths *unlinked, char *err, size_t errlen)
{
	struct store_mailbox mb;
	uint64_t modseq;
	int rc = store_mailbox_row_id(st, mailbox_id, &mb, NULL, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "mailbox no longer exists");
		return rc < 0 ? -1 : 1;
	}
	if (deleted_uids(st, mailbox_id, only, nonly, gone, ngone, err, errlen) < 0)
		return -1;
	if (*ngone == 0)
		return 0;
	if (store_mailbox_bump(st, mailbox_id, 0, NULL, &modseq, err, errlen) < 0)
		return -1;
	return store_expunge_locked(st, mailbox_id, *gone, *ngone, modseq, true, unlinked, err, errlen);
}

int store_expunge(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n, uint32_t **expunged,
                  size_t *nexpunged, char *err, size_t errlen)
{
	struct store_txn t;
	struct store_paths unlinked = {0};
	uint32_t *gone = NULL;
	size_t ngone = 0, nonly = 0;
	uint32_t *only = uids != NULL ? uids_sorted(uids, n, &nonly) : NULL;

	int rc = store_txn_begin(st, &t, err, errlen);
	if (rc == 0) {
		rc = expunge_txn(st, mailbox_id, only, nonly, &gone, &ngone, &unlinked, err, errlen);
		rc = store_txn_end(st, &t, rc, err, errlen);
	}
	free(only);
	if (rc == 0) {
		store_paths_unlink(&unlinked);
		if (ngone > 0) {
			store_notify(st, mailbox_id);
			char perr[256]; /* a failed purge is retried by the next one */
			store_retained_purge(st, mailbox_id, perr, sizeof(perr));
		}
	} else {
		store_paths_free(&unlinked);
		free(gone);
		gone = NULL;
		ngone = 0;
	}
	if (expunged != NULL)
		*expunged = gone;
	else
		free(gone);
	if (nexpunged != NULL)
		*nexpunged = ngone;
	return rc;
}

/* ---- flags ---- */

struct flag_row {
	uint32_t flags;
	char keywords[STORE_KEYWORDS_MAX];
	uint64_t modseq;
};

/* 1 with r filled, 0 no such message, -1. */
static int flag_read(struct store *st, int64_t mailbox_id, uint32_t uid, struct flag_row *r, char *err,
                     size_t errlen)
{
	struct sql_stmt *q =
	    sql_query(st->sql, "store.flags_read",
	              "SELECT flags, keywords, modseq FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
	              SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uid)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1) {
		r->flags = (uint32_t)sql_int(q, 0);
		r->modseq = (uint64_t)sql_int(q, 2);
		/* keywords are bounded by store_keywords_normalise on the way in */
		if (sql_text_copy(q, 1, r->keywords, sizeof(r->keywords)) != 0) {
			str_error(err, errlen, "message %u: keywords too long", uid);
			rc = -1;
		}
	}
	sql_done(q);
	return rc;
}

static uint32_t flags_apply(enum store_flags_op op, uint32_t cur, uint32_t arg)
{
	switch (op) {
	case STORE_FLAGS_ADD:
		return cur | arg;
	case STORE_FLAGS_REMOVE:
		return cur & ~arg;
	default:
		return arg & STORE_FLAG_ALL;
	}
}

static void updated_push(struct store_msglist *l, uint32_t uid, uint32_t flags, const char *kw,
                         uint64_t modseq)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	struct store_msg *m = &l->v[l->n++];
	memset(m, 0, sizeof(*m));
	m->uid = uid;
	m->flags = flags;
	m->modseq = modseq;
	m->keywords = kw[0] != '\0' ? xstrdup(kw) : NULL;
}

/* Applies the request to one message. Returns 1 changed, 0 unchanged/skipped, -1. */
static int flags_one(struct store *st, int64_t mailbox_id, uint32_t uid, const struct store_flags_req *req,
                     uint64_t modseq, struct store_flags_result *res, char *err, size_t errlen)
{
	struct flag_row r;
	char kw[STORE_KEYWORDS_MAX];
	int rc = flag_read(st, mailbox_id, uid, &r, err, errlen);
	if (rc <= 0)
		return rc;
	if (req->unchangedsince != 0 && r.modseq > req->unchangedsince) {
		u32_push(&res->failed, &res->nfailed, uid);
		return 0;
	}
	uint32_t nf = flags_apply(req->op, r.flags, req->flags);
	if (store_keywords_apply(req->op, r.keywords, req->keywords, kw, sizeof(kw)) != 0)
		return 0; /* the list would grow past the limit: leave this message as it is */
	if (nf == r.flags && strcmp(kw, r.keywords) == 0)
		return 0;
	if (sql_exec(st->sql, "store.flags_write",
	             "UPDATE messages SET flags = ?1, keywords = ?2, modseq = ?3 WHERE mailbox_id = ?4 AND "
	             "uid = ?5",
	             SQL_ARGS(SQL_INT(nf), SQL_TEXT(kw[0] != '\0' ? kw : NULL), SQL_INT(modseq),
	                      SQL_INT(mailbox_id), SQL_INT(uid)),
	             err, errlen) < 0)
		return -1;
	updated_push(&res->updated, uid, nf, kw, modseq);
	return 1;
}

static int flags_txn(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
                     const struct store_flags_req *req, struct store_flags_result *res, char *err,
                     size_t errlen)
{
	struct store_mailbox mb;
	uint64_t modseq;
	int rc = store_mailbox_row_id(st, mailbox_id, &mb, NULL, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "mailbox no longer exists");
		return rc < 0 ? -1 : 1;
	}
	res->highestmodseq = mb.highestmodseq;
	if (store_mailbox_bump(st, mailbox_id, 0, NULL, &modseq, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (flags_one(st, mailbox_id, uids[i], req, modseq, res, err, errlen) < 0)
			return -1;
	if (res->updated.n > 0)
		res->highestmodseq = modseq;
	return 0;
}

static int flags_validate(const struct store_flags_req *req, char *err, size_t errlen)
{
	char kw[STORE_KEYWORDS_MAX];
	if (store_keywords_normalise(req->keywords, kw, sizeof(kw)) != 0) {
		str_error(err, errlen, "invalid keyword");
		return 1;
	}
	return 0;
}

int store_set_flags(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n,
                    const struct store_flags_req *req, struct store_flags_result *res, char *err,
                    size_t errlen)
{
	struct store_txn t;
	size_t nsorted;
	memset(res, 0, sizeof(*res));
	if (flags_validate(req, err, errlen) != 0)
		return 1;
	uint32_t *sorted = uids_sorted(uids, n, &nsorted);
	int rc = store_txn_begin(st, &t, err, errlen);
	if (rc == 0) {
		rc = flags_txn(st, mailbox_id, sorted, nsorted, req, res, err, errlen);
		/* Nothing changed: roll back, so HIGHESTMODSEQ does not move for nothing. */
		bool changed = rc == 0 && res->updated.n > 0;
		/* a keyword may mask or unmask a document: its readers' keys follow, in this
		 * commit (masked: no row left to open it with) */
		bool keywords = req->keywords != NULL || req->op == STORE_FLAGS_REPLACE;
		if (changed && keywords && store_readers_refresh_mailbox(st, mailbox_id, err, errlen) < 0)
			rc = -1;
		changed = changed && rc == 0;
		rc = store_txn_end(st, &t, changed ? 0 : (rc != 0 ? rc : 2), err, errlen);
		if (rc == 2)
			rc = 0;
		if (rc == 0 && changed)
			store_notify(st, mailbox_id);
	}
	free(sorted);
	if (rc != 0) {
		store_flags_result_free(res);
		memset(res, 0, sizeof(*res));
	}
	return rc;
}

void store_flags_result_free(struct store_flags_result *r)
{
	store_msglist_free(&r->updated);
	free(r->failed);
	r->failed = NULL;
	r->nfailed = 0;
}
