/* store_select.c: reading message lists and cached metadata; no decryption here. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

#define MSG_COLS "uid, flags, modseq, internaldate, size, keywords"

static void msg_from_row(struct sql_stmt *q, struct store_msg *m)
{
	m->uid = (uint32_t)sql_int(q, 0);
	m->flags = (uint32_t)sql_int(q, 1);
	m->modseq = (uint64_t)sql_int(q, 2);
	m->internaldate = sql_int(q, 3);
	m->size = (uint64_t)sql_int(q, 4);
	const char *kw = sql_text(q, 5);
	m->keywords = (kw != NULL && kw[0] != '\0') ? xstrdup(kw) : NULL;
}

void store_msglist_free(struct store_msglist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].keywords);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Reads the rows of q (then done) into list, growing geometrically (100,000 rows). */
static int msglist_read(struct sql_stmt *q, struct store_msglist *list, char *err, size_t errlen)
{
	size_t cap = 0;
	int rc;
	memset(list, 0, sizeof(*list));
	if (q == NULL)
		return -1;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		if (list->n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			list->v = xrealloc(list->v, cap * sizeof(*list->v));
		}
		msg_from_row(q, &list->v[list->n++]);
	}
	sql_done(q);
	if (rc < 0) {
		store_msglist_free(list);
		return -1;
	}
	return 0;
}

static int select_locked(struct store *st, struct store_mailbox *mbox, struct store_msglist *list, char *err,
                         size_t errlen)
{
	if (store_mailbox_counts(st, mbox, err, errlen) < 0)
		return -1;
	if (list == NULL)
		return 1;
	int rc =
	    msglist_read(sql_query(st->sql, "store.select",
	                           "SELECT " MSG_COLS " FROM messages WHERE mailbox_id = ?1 ORDER BY uid",
	                           SQL_ARGS(SQL_INT(mbox->id)), err, errlen),
	                 list, err, errlen);
	return rc < 0 ? -1 : 1;
}

int store_select(struct store *st, const char *user, const char *name, struct store_mailbox *mbox,
                 struct store_msglist *list, char *err, size_t errlen)
{
	struct store_txn t;
	if (list != NULL)
		memset(list, 0, sizeof(*list));
	if (store_read_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = store_mailbox_get(st, user, name, mbox, err, errlen);
	if (rc == 1)
		rc = select_locked(st, mbox, list, err, errlen);
	store_read_end(st, &t);
	return rc;
}

int store_select_id(struct store *st, int64_t mailbox_id, struct store_mailbox *mbox,
                    struct store_msglist *list, char *err, size_t errlen)
{
	struct store_txn t;
	if (list != NULL)
		memset(list, 0, sizeof(*list));
	if (store_read_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = store_mailbox_row_id(st, mailbox_id, mbox, NULL, err, errlen);
	if (rc == 1)
		rc = select_locked(st, mbox, list, err, errlen);
	store_read_end(st, &t);
	return rc;
}

/* One row of "SELECT uid, flags, modseq, keywords" into m (m->keywords points into kw,
 * STORE_KEYWORDS_MAX + 1 bytes). Returns 0, or -1 with err. */
static int scanned_msg(struct sql_stmt *q, int64_t mailbox_id, char *kw, struct store_msg *m, char *err,
                       size_t errlen)
{
	*m = (struct store_msg){.uid = (uint32_t)sql_int(q, 0),
	                        .flags = (uint32_t)sql_int(q, 1),
	                        .modseq = (uint64_t)sql_int(q, 2)};
	if (sql_text_copy(q, 3, kw, STORE_KEYWORDS_MAX + 1) < 0) {
		str_error(err, errlen, "mailbox %lld uid %u: keywords too long", (long long)mailbox_id,
		          m->uid);
		return -1;
	}
	m->keywords = kw[0] != '\0' ? kw : NULL;
	return 0;
}

static int scan_locked(struct store *st, struct store_mailbox *mbox, int (*fn)(void *, struct store_msg *),
                       void *arg, char *err, size_t errlen)
{
	if (store_mailbox_counts(st, mbox, err, errlen) < 0)
		return -1;
	struct sql_stmt *q =
	    sql_query(st->sql, "store.select_scan",
	              "SELECT uid, flags, modseq, keywords FROM messages WHERE mailbox_id = ?1 ORDER BY uid",
	              SQL_ARGS(SQL_INT(mbox->id)), err, errlen);
	if (q == NULL)
		return -1;
	char kw[STORE_KEYWORDS_MAX + 1];
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		struct store_msg m;
		if (scanned_msg(q, mbox->id, kw, &m, err, errlen) < 0) {
			rc = -1;
			break;
		}
		if (fn(arg, &m) < 0) {
			str_error(err, errlen, "mailbox %lld: reading stopped", (long long)mbox->id);
			rc = -1;
			break;
		}
	}
	sql_done(q);
	return rc < 0 ? -1 : 1;
}

int store_select_scan(struct store *st, int64_t mailbox_id, struct store_mailbox *mbox,
                      int (*fn)(void *arg, struct store_msg *m), void *arg, char *err, size_t errlen)
{
	struct store_txn t;
	if (store_read_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = store_mailbox_row_id(st, mailbox_id, mbox, NULL, err, errlen);
	if (rc == 1)
		rc = scan_locked(st, mbox, fn, arg, err, errlen);
	store_read_end(st, &t);
	return rc;
}

/* The sequence number of the first message without \Seen, 0 when none: its UID from
 * the partial index messages_unseen (store step 18; the literal 1 is STORE_FLAG_SEEN,
 * as the index says it), then the messages counted on the shorter side of it by UID,
 * below it or from it on (then taken from the mailbox's count): new mail sits near
 * the end, and a mailbox never read starts unseen (issue 15). */
_Static_assert(STORE_FLAG_SEEN == 1, "messages_unseen's condition names \\Seen as 1");
static int first_unseen_locked(struct store *st, const struct store_mailbox *mbox, uint32_t *seq, char *err,
                               size_t errlen)
{
	*seq = 0;
	/* SQLite, without statistics, prefers the covering messages_select and walks it */
	struct sql_stmt *q =
	    sql_query(st->sql, "store.first_unseen",
	              sql_engine(st->sql) == SQL_SQLITE
	                  ? "SELECT uid FROM messages INDEXED BY messages_unseen"
	                    " WHERE mailbox_id = ?1 AND (flags & 1) = 0 ORDER BY uid LIMIT 1"
	                  : "SELECT uid FROM messages"
	                    " WHERE mailbox_id = ?1 AND (flags & 1) = 0 ORDER BY uid LIMIT 1",
	              SQL_ARGS(SQL_INT(mbox->id)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	int64_t uid = rc == 1 ? sql_int(q, 0) : 0;
	sql_done(q);
	if (rc <= 0)
		return rc;
	bool below = uid - 1 <= (int64_t)mbox->uidnext - uid;
	q = sql_query(st->sql, below ? "store.seq_of" : "store.seq_of_tail",
	              below ? "SELECT count(*) FROM messages WHERE mailbox_id = ?1 AND uid < ?2"
	                    : "SELECT count(*) FROM messages WHERE mailbox_id = ?1 AND uid >= ?2",
	              SQL_ARGS(SQL_INT(mbox->id), SQL_INT(uid)), err, errlen);
	if (q == NULL)
		return -1;
	rc = sql_next(q, err, errlen);
	if (rc == 1) {
		int64_t n = sql_int(q, 0);
		*seq = below ? (uint32_t)n + 1 : (uint32_t)(mbox->messages - n + 1);
	}
	sql_done(q);
	return rc < 0 ? -1 : 0;
}

/* One keyword list in use and the first UID that has it (head_keywords). */
struct kw_first {
	char *keywords;
	int64_t first;
};

static int kw_first_cmp(const void *a, const void *b)
{
	const struct kw_first *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* PostgreSQL: the same seeks in one recursive query, one round trip to the server
 * instead of one a list (a statement's preparation there is the server's, and the
 * first-run cost that made SQLite walk list by list is SQLite's own). */
static int head_keywords_recursive(struct store *st, int64_t mailbox_id,
                                   int (*kw)(void *arg, const char *keywords), void *arg, char *err,
                                   size_t errlen)
{
	struct sql_stmt *q = sql_query(
	    st->sql, "store.select_keywords_recursive",
	    "WITH RECURSIVE k(kw) AS ("
	    " SELECT min(keywords) FROM messages WHERE mailbox_id = ?1 AND keywords <> ''"
	    " UNION ALL SELECT (SELECT min(keywords) FROM messages"
	    "  WHERE mailbox_id = ?1 AND keywords <> '' AND keywords > k.kw) FROM k WHERE kw IS NOT NULL)"
	    " SELECT kw, (SELECT min(uid) FROM messages WHERE mailbox_id = ?1 AND keywords <> ''"
	    "  AND keywords = k.kw) AS first FROM k WHERE kw IS NOT NULL ORDER BY first",
	    SQL_ARGS(SQL_INT(mailbox_id)), err, errlen);
	if (q == NULL)
		return -1;
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1)
		if (kw(arg, sql_text(q, 0)) < 0) {
			str_error(err, errlen, "mailbox %lld: reading stopped", (long long)mailbox_id);
			rc = -1;
			break;
		}
	sql_done(q);
	return rc < 0 ? -1 : 0;
}

/* The keyword lists in use in the mailbox, each once, given to kw in the order of
 * their first UID: read from the partial index messages_keywords (migration 15), which
 * holds only the messages with keywords, list to list (the first message of the next
 * list above the last one: one seek each), not message by message (a GROUP BY read
 * every message with keywords: 3 ms at 25,000, issue 15). One small statement run once
 * per list and once more: its preparation, at a session's first SELECT, cost several
 * times the recursive query's that walked the same seeks (issue 15, firstselect). */
static int head_keywords(struct store *st, int64_t mailbox_id, int (*kw)(void *arg, const char *keywords),
                         void *arg, char *err, size_t errlen)
{
	if (sql_engine(st->sql) != SQL_SQLITE)
		return head_keywords_recursive(st, mailbox_id, kw, arg, err, errlen);
	struct kw_first *lists = NULL;
	size_t n = 0, cap = 0;
	int rc;
	for (;;) {
		struct sql_stmt *q = sql_query(
		    st->sql, "store.select_keywords",
		    "SELECT keywords, uid FROM messages WHERE mailbox_id = ?1"
		    " AND keywords <> '' AND keywords > ?2 ORDER BY keywords, uid LIMIT 1",
		    SQL_ARGS(SQL_INT(mailbox_id), SQL_TEXT(n ? lists[n - 1].keywords : "")), err, errlen);
		if (q == NULL) {
			rc = -1;
			break;
		}
		rc = sql_next(q, err, errlen);
		if (rc == 1) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				lists = xrealloc(lists, cap * sizeof(*lists));
			}
			lists[n].keywords = xstrdup(sql_text(q, 0));
			lists[n].first = sql_int(q, 1);
			n++;
		}
		sql_done(q);
		if (rc != 1)
			break;
	}
	if (rc == 0) {
		if (n > 1) /* lists is NULL when no message has keywords: qsort wants an array */
			qsort(lists, n, sizeof(*lists), kw_first_cmp);
		for (size_t i = 0; i < n && rc == 0; i++)
			if (kw(arg, lists[i].keywords) < 0) {
				str_error(err, errlen, "mailbox %lld: reading stopped",
				          (long long)mailbox_id);
				rc = -1;
			}
	}
	for (size_t i = 0; i < n; i++)
		free(lists[i].keywords);
	free(lists);
	return rc < 0 ? -1 : 0;
}

static int head_locked(struct store *st, struct store_mailbox *mbox, uint32_t *first_unseen,
                       int (*kw)(void *arg, const char *keywords), void *arg, char *err, size_t errlen)
{
	if (store_mailbox_counts(st, mbox, err, errlen) < 0)
		return -1;
	if (head_keywords(st, mbox->id, kw, arg, err, errlen) < 0)
		return -1;
	if (first_unseen != NULL && mbox->unseen > 0 &&
	    first_unseen_locked(st, mbox, first_unseen, err, errlen) < 0)
		return -1;
	return 1;
}

int store_select_head(struct store *st, int64_t mailbox_id, struct store_mailbox *mbox,
                      uint32_t *first_unseen, int (*kw)(void *arg, const char *keywords), void *arg,
                      char *err, size_t errlen)
{
	struct store_txn t;
	if (first_unseen != NULL)
		*first_unseen = 0;
	if (store_read_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = store_mailbox_row_id(st, mailbox_id, mbox, NULL, err, errlen);
	if (rc == 1)
		rc = head_locked(st, mbox, first_unseen, kw, arg, err, errlen);
	store_read_end(st, &t);
	return rc;
}

int store_expunged_below(struct store *st, int64_t mailbox_id, uint32_t uidnext, uint64_t since,
                         struct store_gone **gone, size_t *n, char *err, size_t errlen)
{
	struct sql_stmt *q =
	    sql_query(st->sql, "store.expunged_before",
	              "SELECT uid, modseq FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 AND uid < ?3"
	              " ORDER BY +uid",
	              SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(since), SQL_INT(uidnext)), err, errlen);
	if (q == NULL)
		return -1;
	size_t cap = 0;
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		if (*n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			*gone = xrealloc(*gone, cap * sizeof(**gone));
		}
		(*gone)[(*n)++] = (struct store_gone){(uint32_t)sql_int(q, 0), (uint64_t)sql_int(q, 1)};
	}
	sql_done(q);
	return rc < 0 ? -1 : 0;
}

/* Calls fn for the expunged UIDs below uid not yet given (*k on); 0, or -1 when fn stops. */
static int gone_before(const struct store_gone *gone, size_t ngone, size_t *k, uint32_t uid,
                       int (*fn)(void *, struct store_msg *), void *arg)
{
	for (; *k < ngone && gone[*k].uid < uid; (*k)++) {
		struct store_msg m = {.uid = gone[*k].uid, .modseq = UINT64_MAX};
		if (fn(arg, &m) < 0)
			return -1;
	}
	return 0;
}

int store_scan_before_locked(struct store *st, int64_t mailbox_id, uint32_t uidnext, uint64_t since,
                             int (*fn)(void *, struct store_msg *), void *arg, char *err, size_t errlen)
{
	struct store_gone *gone = NULL;
	size_t ngone = 0, k = 0;
	if (store_expunged_below(st, mailbox_id, uidnext, since, &gone, &ngone, err, errlen) < 0) {
		free(gone);
		return -1;
	}
	struct sql_stmt *q = sql_query(st->sql, "store.select_before",
	                               "SELECT uid, flags, modseq, keywords FROM messages"
	                               " WHERE mailbox_id = ?1 AND uid < ?2 ORDER BY uid",
	                               SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uidnext)), err, errlen);
	if (q == NULL) {
		free(gone);
		return -1;
	}
	char kw[STORE_KEYWORDS_MAX + 1];
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		struct store_msg m;
		if (scanned_msg(q, mailbox_id, kw, &m, err, errlen) < 0) {
			rc = -1;
			break;
		}
		if (gone_before(gone, ngone, &k, m.uid, fn, arg) < 0 || fn(arg, &m) < 0) {
			str_error(err, errlen, "mailbox %lld: reading stopped", (long long)mailbox_id);
			rc = -1;
			break;
		}
	}
	sql_done(q);
	if (rc == 0 && gone_before(gone, ngone, &k, UINT32_MAX, fn, arg) < 0) {
		str_error(err, errlen, "mailbox %lld: reading stopped", (long long)mailbox_id);
		rc = -1;
	}
	free(gone);
	return rc < 0 ? -1 : 0;
}

static int expunged_read(struct store *st, int64_t mailbox_id, uint64_t since, struct store_changes *out,
                         char *err, size_t errlen)
{
	/* ORDER BY +uid: the (mailbox_id, modseq) index finds the few changes and they are
	 * sorted after; without the "+" SQLite walks the whole mailbox in UID order to skip
	 * the sort (5 ms per command at 100,000 messages, issue 15) */
	struct sql_stmt *q =
	    sql_query(st->sql, "store.expunged",
	              "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY +uid",
	              SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(since)), err, errlen);
	if (q == NULL)
		return -1;
	size_t cap = 0;
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		if (out->nexpunged == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			out->expunged = xrealloc(out->expunged, cap * sizeof(*out->expunged));
		}
		out->expunged[out->nexpunged++] = (uint32_t)sql_int(q, 0);
	}
	sql_done(q);
	return rc < 0 ? -1 : 0;
}

static int changes_locked(struct store *st, int64_t mailbox_id, uint64_t since, struct store_changes *out,
                          char *err, size_t errlen)
{
	int rc = store_mailbox_row_id(st, mailbox_id, &out->mbox, NULL, err, errlen);
	if (rc != 1)
		return rc;
	if (store_mailbox_counts(st, &out->mbox, err, errlen) < 0)
		return -1;
	rc = msglist_read(sql_query(st->sql, "store.changes",
	                            "SELECT " MSG_COLS
	                            " FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY +uid",
	                            SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(since)), err, errlen),
	                  &out->changed, err, errlen);
	if (rc < 0 || expunged_read(st, mailbox_id, since, out, err, errlen) < 0)
		return -1;
	return 1;
}

int store_changes_since(struct store *st, int64_t mailbox_id, uint64_t since, struct store_changes *out,
                        char *err, size_t errlen)
{
	struct store_txn t;
	memset(out, 0, sizeof(*out));
	if (store_read_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = changes_locked(st, mailbox_id, since, out, err, errlen);
	store_read_end(st, &t);
	if (rc != 1)
		store_changes_free(out);
	return rc;
}

int store_changed_since(struct store *st, int64_t mailbox_id, uint64_t highestmodseq, uint32_t uidnext,
                        char *err, size_t errlen)
{
	struct sql_stmt *q = sql_query(st->sql, "store.changed_since",
	                               "SELECT highestmodseq, uidnext FROM mailboxes WHERE id = ?1",
	                               SQL_ARGS(SQL_INT(mailbox_id)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	bool same = rc == 1 && (uint64_t)sql_int(q, 0) == highestmodseq && (uint32_t)sql_int(q, 1) == uidnext;
	sql_done(q);
	if (rc < 0)
		return -1;
	return same ? 0 : 1;
}

int store_expunged_since(struct store *st, int64_t mailbox_id, uint64_t since, uint32_t **uids, size_t *n,
                         char *err, size_t errlen)
{
	struct store_changes c;
	struct store_txn t;
	memset(&c, 0, sizeof(c));
	*uids = NULL;
	*n = 0;
	if (store_read_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = expunged_read(st, mailbox_id, since, &c, err, errlen);
	store_read_end(st, &t);
	if (rc < 0) {
		store_changes_free(&c);
		return -1;
	}
	*uids = c.expunged;
	*n = c.nexpunged;
	return 0;
}

void store_changes_free(struct store_changes *c)
{
	store_msglist_free(&c->changed);
	free(c->expunged);
	c->expunged = NULL;
	c->nexpunged = 0;
}

static char *column_dup(struct sql_stmt *q, int col)
{
	const char *s = sql_text(q, col);
	return xstrdup(s != NULL ? s : "NIL");
}

#define META_WANTS (STORE_WANT_ENVELOPE | STORE_WANT_BODYSTRUCTURE | STORE_WANT_BODY | STORE_WANT_REFS)

/* A row not yet sealed by mssctl migrate (store_meta_migrate.c). */
static void plain_meta(struct sql_stmt *q, unsigned want, struct store_message *out)
{
	if (want & STORE_WANT_ENVELOPE)
		out->envelope = column_dup(q, 8);
	if (want & STORE_WANT_BODYSTRUCTURE)
		out->bodystructure = column_dup(q, 9);
	if (want & STORE_WANT_BODY)
		out->body = column_dup(q, 10);
	if ((want & STORE_WANT_REFS) && !sql_is_null(q, 12))
		out->refs = xstrdup(sql_text(q, 12));
}

/* The sealed record (store_meta.c), opened with the message's key (its blob's). */
static int sealed_meta(struct store *st, struct sql_stmt *q, unsigned want, struct store_message *out,
                       char *err, size_t errlen)
{
	struct store_meta_text t;
	struct store_keyref k;
	unsigned char key[CRYPTO_KEY_LEN];
	size_t n = 0;
	const void *p = sql_blob(q, 14, &n);
	if (store_keyref_read(q, 15, 16, 17, &k, err, errlen) < 0 ||
	    store_content_key(st, &k, key, err, errlen) < 0)
		return -1;
	int rc = store_meta_open(key, p, n, &t, err, errlen);
	sodium_memzero(key, sizeof key);
	if (rc < 0)
		return -1;
	if (want & STORE_WANT_ENVELOPE) {
		out->envelope = t.envelope;
		t.envelope = NULL;
	}
	if (want & STORE_WANT_BODYSTRUCTURE) {
		out->bodystructure = t.bodystructure;
		t.bodystructure = NULL;
	}
	if (want & STORE_WANT_BODY) {
		out->body = t.body;
		t.body = NULL;
	}
	if (want & STORE_WANT_REFS) {
		out->refs = t.refs;
		t.refs = NULL;
	}
	store_meta_text_free(&t);
	return 0;
}

static int message_row(struct store *st, int64_t mailbox_id, uint32_t uid, unsigned want,
                       struct store_message *out, bool *complete, char *err, size_t errlen)
{
#define MESSAGE_COLS                                                                                         \
	"SELECT " MSG_COLS ", sent_date, header_size, envelope, bodystructure, body, sent_local, refs,"      \
	" parts IS NOT NULL, meta, (SELECT user_id FROM blobs WHERE id = blob_id),"                          \
	" (SELECT sealed_key FROM blobs WHERE id = blob_id), blob_id"
	/* an expunged message kept for sessions not yet told (store_view.c) reads the same */
	const char *sql = (want & STORE_WANT_LIVE)
	                      ? MESSAGE_COLS " FROM messages WHERE mailbox_id = ?1 AND uid = ?2"
	                      : MESSAGE_COLS " FROM messages WHERE mailbox_id = ?1 AND uid = ?2"
	                                     " UNION ALL " MESSAGE_COLS
	                                     " FROM retained WHERE mailbox_id = ?1 AND uid = ?2";
	struct sql_stmt *q = sql_query(st->sql, "store.message", sql,
	                               SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uid)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1) {
		msg_from_row(q, &out->msg);
		out->sent_date = sql_int(q, 6);
		out->header_size = (uint64_t)sql_int(q, 7);
		out->sent_local = sql_int(q, 11);
		*complete = sql_int(q, 13) != 0;
		if (*complete && sql_is_null(q, 14))
			plain_meta(q, want, out); /* written before migration 6, not yet sealed */
		else if (*complete && (want & META_WANTS) && sealed_meta(st, q, want, out, err, errlen) < 0)
			rc = -1;
	}
	sql_done(q);
	return rc;
}

int store_message_get(struct store *st, int64_t mailbox_id, uint32_t uid, unsigned want,
                      struct store_message *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	bool complete = true;
	int rc = message_row(st, mailbox_id, uid, want, out, &complete, err, errlen);
	if (rc != 1 || complete)
		return rc;
	/* stored before migration 4: analysed once now, then read again */
	store_message_free(out);
	rc = store_message_complete(st, mailbox_id, uid, err, errlen);
	if (rc != 1)
		return rc;
	return message_row(st, mailbox_id, uid, want, out, &complete, err, errlen);
}

void store_message_free(struct store_message *m)
{
	free(m->msg.keywords);
	free(m->envelope);
	free(m->bodystructure);
	free(m->body);
	free(m->refs);
	memset(m, 0, sizeof(*m));
}
