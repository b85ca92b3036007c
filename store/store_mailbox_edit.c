/* store_mailbox_edit.c: DELETE and RENAME of mailboxes. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

static int resolve2(struct store *st, const char *user, const char *name, int64_t *user_id, char *norm,
                    char *err, size_t errlen)
{
	int rc = store_user_id(st, user, user_id, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "no such account");
		return rc < 0 ? -1 : 1;
	}
	if (store_name_normalise(name, norm, STORE_MAILBOX_MAX) < 0) {
		str_error(err, errlen, "invalid mailbox name");
		return 1;
	}
	return 0;
}

static int all_uids(struct store *st, int64_t mailbox_id, uint32_t **out, size_t *n, char *err, size_t errlen)
{
	struct store_msglist l;
	struct store_mailbox mb;
	if (store_select_id(st, mailbox_id, &mb, &l, err, errlen) < 0)
		return -1;
	*out = xmalloc((l.n > 0 ? l.n : 1) * sizeof(**out));
	for (size_t i = 0; i < l.n; i++)
		(*out)[i] = l.v[i].uid;
	*n = l.n;
	store_msglist_free(&l);
	return 0;
}

static int exec_id(struct store *st, const char *what, const char *sql, int64_t id, char *err, size_t errlen)
{
	return sql_exec(st->sql, what, sql, SQL_ARGS(SQL_INT(id)), err, errlen) < 0 ? -1 : 0;
}

static int delete_txn(struct store *st, int64_t user_id, const char *name, int64_t *mailbox_id,
                      struct store_paths *unlinked, char *err, size_t errlen)
{
	struct store_mailbox mb;
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc = store_mailbox_row(st, user_id, name, &mb, NULL, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "no such mailbox");
		return rc < 0 ? -1 : 1;
	}
	*mailbox_id = mb.id;
	rc = all_uids(st, mb.id, &uids, &n, err, errlen);
	if (rc == 0)
		rc = store_expunge_locked(st, mb.id, uids, n, mb.highestmodseq + 1, false, unlinked, err,
		                          errlen);
	free(uids);
	if (rc == 0) /* the sessions that still had it selected are told it is gone */
		rc = store_retained_drop_locked(st, mb.id, UINT64_MAX, unlinked, err, errlen);
	if (rc == 0)
		rc = exec_id(st, "store.mailbox_delete", "DELETE FROM expunged WHERE mailbox_id = ?1", mb.id,
		             err, errlen);
	if (rc == 0)
		rc = exec_id(st, "store.mailbox_delete", "DELETE FROM mailboxes WHERE id = ?1", mb.id, err,
		             errlen);
	return rc;
}

int store_mailbox_delete(struct store *st, const char *user, const char *name, char *err, size_t errlen)
{
	int64_t user_id, mailbox_id = 0;
	char norm[STORE_MAILBOX_MAX];
	struct store_txn t;
	struct store_paths unlinked = {0};
	int rc = resolve2(st, user, name, &user_id, norm, err, errlen);
	if (rc != 0)
		return rc;
	if (strcmp(norm, "INBOX") == 0) {
		str_error(err, errlen, "INBOX cannot be deleted");
		return 1;
	}
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	rc = delete_txn(st, user_id, norm, &mailbox_id, &unlinked, err, errlen);
	rc = store_txn_end(st, &t, rc, err, errlen);
	if (rc == 0) {
		store_paths_unlink(&unlinked);
		store_notify_gone(st, mailbox_id);
	} else {
		store_paths_free(&unlinked);
	}
	return rc;
}

/* RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox. The messages
 * keep their blobs; they get the new mailbox's UIDs and leave INBOX expunged. */
static int rename_inbox(struct store *st, int64_t user_id, const char *to, int64_t *notify_id, char *err,
                        size_t errlen)
{
	struct store_mailbox inbox, dst;
	uint32_t *uids = NULL;
	size_t n = 0;
	struct store_copy_result res;
	if (store_mailbox_row(st, user_id, "INBOX", &inbox, NULL, err, errlen) != 1)
		return -1;
	int rc = store_mailbox_create_locked(st, user_id, to, 0, false, err, errlen);
	if (rc != 0)
		return rc;
	if (store_mailbox_row(st, user_id, to, &dst, NULL, err, errlen) != 1 ||
	    all_uids(st, inbox.id, &uids, &n, err, errlen) < 0) {
		free(uids);
		return -1;
	}
	*notify_id = inbox.id;
	char addr[256];
	struct sql_stmt *q =
	    sql_query(st->sql, "store.user_address", "SELECT address FROM store_users WHERE id = ?1",
	              SQL_ARGS(SQL_INT(user_id)), err, errlen);
	rc = q != NULL && sql_next(q, err, errlen) == 1 && sql_text_copy(q, 0, addr, sizeof(addr)) == 0 ? 0
	                                                                                                : -1;
	sql_done(q);
	if (rc == 0 && n > 0) {
		rc = store_copy(st, inbox.id, uids, n, addr, to, true, &res, err, errlen);
		store_copy_result_free(&res);
	}
	free(uids);
	return rc;
}

/* The subscriptions follow the renamed mailboxes (replacing any held under the new
 * names, whose mailboxes were deleted). */
static int rename_subscriptions(struct store *st, int64_t user_id, const char *from, const char *to,
                                char *err, size_t errlen)
{
	/* substr() and length() count characters in both engines, so UTF-8 names work */
	if (sql_exec(st->sql, "rename subscriptions",
	             "DELETE FROM subscriptions WHERE user_id = ?1"
	             " AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
	             SQL_ARGS(SQL_INT(user_id), SQL_TEXT(to)), err, errlen) < 0)
		return -1;
	return sql_exec(st->sql, "rename subscriptions",
	                "UPDATE subscriptions SET name = ?3 || substr(name, length(?2) + 1)"
	                " WHERE user_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
	                SQL_ARGS(SQL_INT(user_id), SQL_TEXT(from), SQL_TEXT(to)), err, errlen) < 0
	           ? -1
	           : 0;
}

static int rename_tree(struct store *st, int64_t user_id, const char *from, const char *to, char *err,
                       size_t errlen)
{
	struct store_mailbox mb;
	int rc = store_mailbox_row(st, user_id, from, &mb, NULL, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "no such mailbox");
		return rc < 0 ? -1 : 1;
	}
	rc = store_mailbox_row(st, user_id, to, &mb, NULL, err, errlen);
	if (rc != 0) {
		if (rc == 1)
			str_error(err, errlen, "mailbox already exists");
		return rc < 0 ? -1 : 1;
	}
	/* A child's new name may be taken: looked for first, since with PostgreSQL the
	 * violated constraint would abort the whole transaction. substr() and length()
	 * count characters on both sides, so UTF-8 names work. */
	int64_t one;
	rc = sql_one(
	    st->sql, "store.rename_check",
	    "SELECT 1 FROM mailboxes a JOIN mailboxes b ON b.user_id = a.user_id"
	    " AND b.name = ?3 || substr(a.name, length(?2) + 1)"
	    " WHERE a.user_id = ?1 AND (a.name = ?2 OR substr(a.name, 1, length(?2) + 1) = ?2 || '/')",
	    SQL_ARGS(SQL_INT(user_id), SQL_TEXT(from), SQL_TEXT(to)), &one, err, errlen);
	if (rc != 0) {
		if (rc == 1)
			str_error(err, errlen, "a mailbox with the new name already exists");
		return rc < 0 ? -1 : 1;
	}
	if (sql_exec(st->sql, "store.rename",
	             "UPDATE mailboxes SET name = ?3 || substr(name, length(?2) + 1)"
	             " WHERE user_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
	             SQL_ARGS(SQL_INT(user_id), SQL_TEXT(from), SQL_TEXT(to)), err, errlen) < 0) {
		if (sql_last_error(st->sql) != SQL_ERR_CONSTRAINT)
			return -1;
		str_error(err, errlen, "a mailbox with the new name already exists");
		return 1;
	}
	return rename_subscriptions(st, user_id, from, to, err, errlen);
}

static int rename_txn(struct store *st, int64_t user_id, const char *from, const char *to, int64_t *notify_id,
                      char *err, size_t errlen)
{
	if (strcmp(from, "INBOX") == 0)
		return rename_inbox(st, user_id, to, notify_id, err, errlen);
	struct store_mailbox mb;
	if (store_mailbox_row(st, user_id, from, &mb, NULL, err, errlen) == 1)
		*notify_id = mb.id; /* a new name, for NOTIFY's MailboxName (RFC 5465 5.4) */
	int rc = rename_tree(st, user_id, from, to, err, errlen);
	if (rc != 0)
		return rc;
	char parent[STORE_MAILBOX_MAX];
	const char *slash = strrchr(to, '/');
	if (slash == NULL)
		return 0;
	/* Missing parents of the new name: creating "to/x" would make them, but "to"
	 * itself exists now, so create its parent directly. */
	memcpy(parent, to, (size_t)(slash - to));
	parent[slash - to] = '\0';
	rc = store_mailbox_row(st, user_id, parent, &mb, NULL, err, errlen);
	if (rc == 0)
		rc = store_mailbox_create_locked(st, user_id, parent, 0, false, err, errlen);
	return rc < 0 ? -1 : 0;
}

int store_mailbox_rename(struct store *st, const char *user, const char *from, const char *to, char *err,
                         size_t errlen)
{
	int64_t user_id, notify_id = 0;
	char nfrom[STORE_MAILBOX_MAX], nto[STORE_MAILBOX_MAX];
	struct store_txn t;
	int rc = resolve2(st, user, from, &user_id, nfrom, err, errlen);
	if (rc == 0)
		rc = resolve2(st, user, to, &user_id, nto, err, errlen);
	if (rc != 0)
		return rc;
	size_t lf = strlen(nfrom);
	if (strcmp(nto, "INBOX") == 0 ||
	    (strncmp(nto, nfrom, lf) == 0 && (nto[lf] == '/' || nto[lf] == '\0'))) {
		str_error(err, errlen, "cannot rename a mailbox to itself, below itself or to INBOX");
		return 1;
	}
	if (store_txn_begin(st, &t, err, errlen) < 0)
		return -1;
	rc = rename_txn(st, user_id, nfrom, nto, &notify_id, err, errlen);
	rc = store_txn_end(st, &t, rc, err, errlen);
	if (rc == 0 && notify_id != 0)
		store_notify(st, notify_id);
	return rc;
}
