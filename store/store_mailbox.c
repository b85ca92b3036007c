/* store_mailbox.c: mailbox rows: names, UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ, create,
 * delete, rename, subscribe, list, status. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

#define MAILBOX_COLS                                                                                         \
	"id, name, uidvalidity, uidnext, highestmodseq, special_use,"                                        \
	" CASE WHEN EXISTS(SELECT 1 FROM subscriptions s WHERE s.user_id = mailboxes.user_id"                \
	" AND s.name = mailboxes.name) THEN 1 ELSE 0 END, user_id, first_recent_uid"

/* Refuses names IMAP cannot carry safely: controls, LIST wildcards, empty levels. */
int store_name_normalise(const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);
	while (n > 0 && name[n - 1] == '/')
		n--;
	if (n == 0 || n >= outlen || n >= STORE_MAILBOX_MAX || name[0] == '/' || !str_is_utf8(name, n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '*' || c == '%' || (c == '/' && name[i + 1] == '/'))
			return -1;
	}
	memcpy(out, name, n);
	out[n] = '\0';
	/* INBOX is case-insensitive, also as the first level of a hierarchy. */
	if (str_ieqn(out, "INBOX", 5) && (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return 0;
}

/* Names are bounded by store_name_normalise on the way in. */
static int mailbox_from_row(struct sql_stmt *q, struct store_mailbox *out, int64_t *owner)
{
	memset(out, 0, sizeof(*out));
	out->id = sql_int(q, 0);
	out->uidvalidity = (uint32_t)sql_int(q, 2);
	out->uidnext = (uint32_t)sql_int(q, 3);
	out->highestmodseq = (uint64_t)sql_int(q, 4);
	out->special_use = (unsigned)sql_int(q, 5);
	out->subscribed = sql_int(q, 6) != 0;
	if (owner != NULL)
		*owner = sql_int(q, 7);
	out->first_recent_uid = (uint32_t)sql_int(q, 8);
	return sql_text_copy(q, 1, out->name, sizeof(out->name));
}

/* One mailbox row from q (then done): 1, 0 none, -1. */
static int mailbox_query(struct sql_stmt *q, struct store_mailbox *out, int64_t *owner, char *err,
                         size_t errlen)
{
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1 && mailbox_from_row(q, out, owner) != 0) {
		str_error(err, errlen, "mailbox %lld: name too long", (long long)out->id);
		rc = -1;
	}
	sql_done(q);
	return rc;
}

int store_mailbox_row(struct store *st, int64_t user_id, const char *name, struct store_mailbox *out,
                      int64_t *owner, char *err, size_t errlen)
{
	return mailbox_query(sql_query(st->sql, "store.mailbox",
	                               "SELECT " MAILBOX_COLS
	                               " FROM mailboxes WHERE user_id = ?1 AND name = ?2",
	                               SQL_ARGS(SQL_INT(user_id), SQL_TEXT(name)), err, errlen),
	                     out, owner, err, errlen);
}

int store_mailbox_row_id(struct store *st, int64_t mailbox_id, struct store_mailbox *out, int64_t *owner,
                         char *err, size_t errlen)
{
	return mailbox_query(sql_query(st->sql, "store.mailbox_id",
	                               "SELECT " MAILBOX_COLS " FROM mailboxes WHERE id = ?1",
	                               SQL_ARGS(SQL_INT(mailbox_id)), err, errlen),
	                     out, owner, err, errlen);
}

int store_mailbox_counts(struct store *st, struct store_mailbox *mb, char *err, size_t errlen)
{
	/* the counters kept by the messages triggers (store_schema.c, 12); \Recent from the
	 * (mailbox_id, uid) index: the messages from first_recent_uid on, few once selected */
	struct sql_stmt *q =
	    sql_query(st->sql, "store.mailbox_counts",
	              "SELECT n_messages, n_unseen, n_deleted, total_size,"
	              " (SELECT count(*) FROM messages WHERE mailbox_id = ?1 AND uid >= ?2), deleted_size"
	              " FROM mailboxes WHERE id = ?1",
	              SQL_ARGS(SQL_INT(mb->id), SQL_INT(mb->first_recent_uid)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1) {
		mb->messages = (uint32_t)sql_int(q, 0);
		mb->unseen = (uint32_t)sql_int(q, 1);
		mb->deleted = (uint32_t)sql_int(q, 2);
		mb->total_size = (uint64_t)sql_int(q, 3);
		mb->recent = (uint32_t)sql_int(q, 4);
		mb->deleted_size = (uint64_t)sql_int(q, 5);
	}
	sql_done(q);
	if (rc == 0)
		str_error(err, errlen, "mailbox %lld: no such mailbox", (long long)mb->id);
	return rc == 1 ? 0 : -1;
}

/* Resolves user and normalised name; returns 1 ok, 0 refused (err set), -1. */
static int resolve(struct store *st, const char *user, const char *name, int64_t *user_id, char *norm,
                   char *err, size_t errlen)
{
	int rc = store_user_id(st, user, user_id, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "no such account");
		return rc;
	}
	if (store_name_normalise(name, norm, STORE_MAILBOX_MAX) < 0) {
		str_error(err, errlen, "invalid mailbox name");
		return 0;
	}
	return 1;
}

int store_mailbox_get(struct store *st, const char *user, const char *name, struct store_mailbox *out,
                      char *err, size_t errlen)
{
	int64_t user_id;
	char norm[STORE_MAILBOX_MAX];
	int rc = resolve(st, user, name, &user_id, norm, err, errlen);
	if (rc <= 0)
		return rc;
	return store_mailbox_row(st, user_id, norm, out, NULL, err, errlen);
}

int store_mailbox_get_id(struct store *st, int64_t mailbox_id, struct store_mailbox *out, char *err,
                         size_t errlen)
{
	return store_mailbox_row_id(st, mailbox_id, out, NULL, err, errlen);
}

int store_mailbox_owned_by(struct store *st, int64_t mailbox_id, const char *user, char *err, size_t errlen)
{
	struct store_mailbox mb;
	int64_t owner = 0, uid = 0;
	int rc = store_mailbox_row_id(st, mailbox_id, &mb, &owner, err, errlen);
	if (rc == 1)
		rc = store_user_id(st, user, &uid, err, errlen);
	return rc < 0 ? -1 : rc == 1 && uid == owner;
}

int store_mailbox_status(struct store *st, const char *user, const char *name, struct store_mailbox *out,
                         char *err, size_t errlen)
{
	struct store_txn t;
	if (store_read_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = store_mailbox_get(st, user, name, out, err, errlen);
	if (rc == 1 && store_mailbox_counts(st, out, err, errlen) < 0)
		rc = -1;
	store_read_end(st, &t);
	return rc;
}

/* Adds or removes (user_id, name) in the subscriptions. Returns the number of rows
 * changed (0 or 1), or -1. */
static int subscription_set(struct store *st, int64_t user_id, const char *name, bool on, char *err,
                            size_t errlen)
{
	int rc = sql_exec(st->sql, "subscription",
	                  on ? "INSERT INTO subscriptions(user_id, name) VALUES(?1, ?2)"
	                       " ON CONFLICT (user_id, name) DO NOTHING"
	                     : "DELETE FROM subscriptions WHERE user_id = ?1 AND name = ?2",
	                  SQL_ARGS(SQL_INT(user_id), SQL_TEXT(name)), err, errlen);
	return rc < 0 ? -1 : rc > 0;
}

static int mailbox_insert(struct store *st, int64_t user_id, const char *name, unsigned special_use,
                          bool subscribed, char *err, size_t errlen)
{
	uint32_t uidvalidity;
	if (store_next_uidvalidity(st, &uidvalidity, err, errlen) < 0)
		return -1;
	if (sql_exec(
	        st->sql, "store.mailbox_insert",
	        "INSERT INTO mailboxes (user_id, name, uidvalidity, special_use) VALUES (?1, ?2, ?3, ?4)",
	        SQL_ARGS(SQL_INT(user_id), SQL_TEXT(name), SQL_INT(uidvalidity), SQL_INT(special_use)), err,
	        errlen) != 1)
		return -1;
	return subscribed && subscription_set(st, user_id, name, true, err, errlen) < 0 ? -1 : 0;
}

/* Creates each missing parent of name ("a", "a/b" for "a/b/c"). */
static int create_parents(struct store *st, int64_t user_id, const char *name, char *err, size_t errlen)
{
	char parent[STORE_MAILBOX_MAX];
	struct store_mailbox mb;
	for (const char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		size_t n = (size_t)(p - name);
		memcpy(parent, name, n);
		parent[n] = '\0';
		int rc = store_mailbox_row(st, user_id, parent, &mb, NULL, err, errlen);
		if (rc < 0)
			return -1;
		if (rc == 0 && mailbox_insert(st, user_id, parent, 0, false, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int store_mailbox_create_locked(struct store *st, int64_t user_id, const char *name, unsigned special_use,
                                bool subscribed, char *err, size_t errlen)
{
	struct store_mailbox mb;
	int rc = store_mailbox_row(st, user_id, name, &mb, NULL, err, errlen);
	if (rc != 0) {
		if (rc == 1)
			str_error(err, errlen, "mailbox already exists");
		return rc;
	}
	if (create_parents(st, user_id, name, err, errlen) < 0)
		return -1;
	return mailbox_insert(st, user_id, name, special_use, subscribed, err, errlen);
}

int store_mailbox_create(struct store *st, const char *user, const char *name, unsigned special_use,
                         char *err, size_t errlen)
{
	int64_t user_id;
	char norm[STORE_MAILBOX_MAX];
	struct store_txn t;
	int rc = resolve(st, user, name, &user_id, norm, err, errlen);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	rc = store_mailbox_create_locked(st, user_id, norm, special_use, false, err, errlen);
	rc = store_txn_end(st, &t, rc, err, errlen);
	struct store_mailbox mb;
	char nerr[256];
	if (rc == 0 && store_mailbox_row(st, user_id, norm, &mb, NULL, nerr, sizeof(nerr)) == 1)
		store_notify(st, mb.id); /* a new name for NOTIFY's MailboxName (RFC 5465 5.4) */
	return rc;
}

/* The counters a bump returned (uidnext, highestmodseq, id): 1 with the first of
 * the nuids UIDs, 0 when no row matched, -1. */
static int bump_answer(struct sql_stmt *q, uint32_t nuids, uint32_t *first_uid, uint64_t *modseq,
                       int64_t *mailbox_id, char *err, size_t errlen)
{
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	int64_t uidnext = 0;
	if (rc == 1) {
		uidnext = sql_int(q, 0);
		*modseq = (uint64_t)sql_int(q, 1);
		if (mailbox_id != NULL)
			*mailbox_id = sql_int(q, 2);
		rc = sql_next(q, err, errlen) < 0 ? -1 : 1;
	}
	sql_done(q);
	/* UIDs are 32-bit, nonzero (RFC 9051 2.3.1.1): refusing beats wrapping. */
	if (rc == 1 && uidnext > (int64_t)UINT32_MAX) {
		str_error(err, errlen, "mailbox UIDs exhausted");
		return -1;
	}
	if (rc == 1 && first_uid != NULL)
		*first_uid = (uint32_t)(uidnext - nuids);
	return rc;
}

int store_mailbox_bump(struct store *st, int64_t mailbox_id, uint32_t nuids, uint32_t *first_uid,
                       uint64_t *modseq, char *err, size_t errlen)
{
	/* One statement that reads and writes the counters: the row lock it takes (and
	 * SQLite's single writer) makes two deliveries never share a UID or a MODSEQ. */
	int rc = bump_answer(
	    sql_query(st->sql, "store.mailbox_bump",
	              "UPDATE mailboxes SET uidnext = uidnext + ?1, highestmodseq = highestmodseq + 1"
	              " WHERE id = ?2 RETURNING uidnext, highestmodseq, id",
	              SQL_ARGS(SQL_INT(nuids), SQL_INT(mailbox_id)), err, errlen),
	    nuids, first_uid, modseq, NULL, err, errlen);
	if (rc == 0)
		str_error(err, errlen, "mailbox no longer exists");
	return rc == 1 ? 0 : -1;
}

int store_mailbox_bump_name(struct store *st, int64_t user_id, const char *name, uint32_t nuids,
                            uint32_t *first_uid, uint64_t *modseq, int64_t *mailbox_id, char *err,
                            size_t errlen)
{
	/* the (user_id, name) unique index finds the row: no SELECT of it before */
	return bump_answer(
	    sql_query(st->sql, "store.mailbox_bump_name",
	              "UPDATE mailboxes SET uidnext = uidnext + ?1, highestmodseq = highestmodseq + 1"
	              " WHERE user_id = ?2 AND name = ?3 RETURNING uidnext, highestmodseq, id",
	              SQL_ARGS(SQL_INT(nuids), SQL_INT(user_id), SQL_TEXT(name)), err, errlen),
	    nuids, first_uid, modseq, mailbox_id, err, errlen);
}

/* The subscribed names without a mailbox (deleted since, RFC 9051 6.3.7). */
static int subscriptions_orphan(struct store *st, int64_t user_id, struct store_mailbox_list *out, char *err,
                                size_t errlen)
{
	struct sql_stmt *q = sql_query(st->sql, "subscriptions",
	                               "SELECT name FROM subscriptions s WHERE user_id = ?1 AND NOT EXISTS"
	                               " (SELECT 1 FROM mailboxes m WHERE m.user_id = ?1 AND m.name = s.name)"
	                               " ORDER BY name",
	                               SQL_ARGS(SQL_INT(user_id)), err, errlen);
	if (q == NULL)
		return -1;
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		out->subscribed_only = xrealloc(out->subscribed_only,
		                                (out->nsubscribed_only + 1) * sizeof(*out->subscribed_only));
		out->subscribed_only[out->nsubscribed_only++] = xstrdup(sql_text(q, 0));
	}
	sql_done(q);
	return rc < 0 ? -1 : 0;
}

int store_mailbox_list(struct store *st, const char *user, struct store_mailbox_list *out, char *err,
                       size_t errlen)
{
	int64_t user_id;
	memset(out, 0, sizeof(*out));
	int rc = store_user_id(st, user, &user_id, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "no such account");
		return -1;
	}
	struct sql_stmt *q = sql_query(st->sql, "store.mailbox_list",
	                               "SELECT " MAILBOX_COLS " FROM mailboxes WHERE user_id = ?1"
	                               " ORDER BY name <> 'INBOX', name",
	                               SQL_ARGS(SQL_INT(user_id)), err, errlen);
	if (q == NULL)
		return -1;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
		if (mailbox_from_row(q, &out->v[out->n], NULL) == 0)
			out->n++;
	}
	sql_done(q);
	if (rc < 0 || subscriptions_orphan(st, user_id, out, err, errlen) < 0) {
		store_mailbox_list_free(out);
		return -1;
	}
	return 0;
}

void store_mailbox_list_free(struct store_mailbox_list *l)
{
	free(l->v);
	for (size_t i = 0; i < l->nsubscribed_only; i++)
		free(l->subscribed_only[i]);
	free(l->subscribed_only);
	memset(l, 0, sizeof(*l));
}

int store_mailbox_subscribe(struct store *st, const char *user, const char *name, bool subscribed, char *err,
                            size_t errlen)
{
	int64_t user_id;
	char norm[STORE_MAILBOX_MAX];
	struct store_mailbox mb;
	int rc = resolve(st, user, name, &user_id, norm, err, errlen);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	/* Subscribing needs the mailbox; unsubscribing works on a name whose mailbox is gone. */
	rc = store_mailbox_row(st, user_id, norm, &mb, NULL, err, errlen);
	if (rc < 0)
		return -1;
	if (rc == 0 && subscribed) {
		str_error(err, errlen, "no such mailbox");
		return 1;
	}
	int changed = subscription_set(st, user_id, norm, subscribed, err, errlen);
	if (changed < 0)
		return -1;
	if (rc == 0 && changed == 0) {
		str_error(err, errlen, "no such mailbox");
		return 1;
	}
	if (rc == 1 && changed > 0)
		store_notify(st, mb.id); /* NOTIFY's SubscriptionChange (RFC 5465 5.5) */
	return 0;
}

static int recent_claim_txn(struct store *st, int64_t mailbox_id, uint32_t upto, uint32_t *first_recent,
                            char *err, size_t errlen)
{
	struct store_mailbox mb;
	int rc = store_mailbox_row_id(st, mailbox_id, &mb, NULL, err, errlen);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	*first_recent = mb.first_recent_uid;
	if (upto <= mb.first_recent_uid)
		return 0;
	return sql_exec(st->sql, "recent", "UPDATE mailboxes SET first_recent_uid = ?1 WHERE id = ?2",
	                SQL_ARGS(SQL_INT(upto), SQL_INT(mailbox_id)), err, errlen) < 0
	           ? -1
	           : 0;
}

int store_recent_claim(struct store *st, int64_t mailbox_id, uint32_t upto, uint32_t *first_recent, char *err,
                       size_t errlen)
{
	struct store_txn t;
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	int rc = recent_claim_txn(st, mailbox_id, upto, first_recent, err, errlen);
	return store_txn_end(st, &t, rc, err, errlen);
}
