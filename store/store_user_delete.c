/* store_user_delete.c: removing the store side of an account (mssctl account delete,
 * retention). Rows go in the caller's transaction (the blobs kept in their rows with
 * them); blob files after its commit. */
#include "store/store.h"

#include <string.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

struct blob_names {
	struct store *st;
	struct store_paths *gone;
};

static int add_blob(void *arg, struct sql_stmt *q)
{
	struct blob_names *b = arg;
	char name[STORE_BLOB_NAME_LEN + 8], path[CONFIG_PATH_MAX + 64];
	if (sql_text_copy(q, 0, name, sizeof name) != 0 ||
	    store_blob_path(b->st, name, path, sizeof path) != 0)
		return 0; /* a damaged name: its row goes, the file stays unreadable (no key) */
	store_paths_add(b->gone, path);
	return 0;
}

static int wake_mailbox(void *arg, struct sql_stmt *q)
{
	store_notify(arg, sql_int(q, 0));
	return 0;
}

/* Children first: messages and expunged entries, then mailboxes and blobs, then the
 * user and its key. */
static const struct {
	const char *what, *sql;
} delete_steps[] = {
    {"store.user_delete_expunged",
     "DELETE FROM expunged WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = ?1)"},
    {"store.user_delete_messages",
     "DELETE FROM messages WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = ?1)"},
    {"store.user_delete_mailboxes", "DELETE FROM mailboxes WHERE user_id = ?1"},
    {"store.user_delete_subscriptions", "DELETE FROM subscriptions WHERE user_id = ?1"},
    {"store.user_delete_blobs", "DELETE FROM blobs WHERE user_id = ?1"},
    {"store.user_delete", "DELETE FROM store_users WHERE id = ?1"},
};

int store_user_delete(struct store *st, const char *address, struct store_paths *gone, char *err,
                      size_t errlen)
{
	int64_t user_id;
	int rc = store_user_id(st, address, &user_id, err, errlen);
	if (rc <= 0) {
		if (rc == 0)
			str_error(err, errlen, "%s has no mailboxes", address);
		return rc < 0 ? -1 : 1;
	}
	struct blob_names b = {st, gone};
	if (sql_foreach(st->sql, "store.user_blobs",
	                "SELECT name FROM blobs WHERE user_id = ?1 AND data IS NULL",
	                SQL_ARGS(SQL_INT(user_id)), add_blob, &b, err, errlen) < 0 ||
	    sql_foreach(st->sql, "store.user_mailboxes", "SELECT id FROM mailboxes WHERE user_id = ?1",
	                SQL_ARGS(SQL_INT(user_id)), wake_mailbox, st, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < sizeof delete_steps / sizeof delete_steps[0]; i++)
		if (sql_exec(st->sql, delete_steps[i].what, delete_steps[i].sql, SQL_ARGS(SQL_INT(user_id)),
		             err, errlen) < 0)
			return -1;
	for (size_t i = 0; i < st->nkeys; i++) /* a key cached by this process goes too */
		if (st->keys[i].user_id == user_id)
			crypto_key_wipe(st->keys[i].key);
	return 0;
}
