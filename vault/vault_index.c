/* vault_index.c: the table vault_document (see vault_index.h), through lib/sql. */
#include "vault/vault_index.h"

#include <string.h>
#include <time.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"

int vault_index_add(struct store *st, const struct vault_index_row *r, int64_t *id, char *err, size_t errlen)
{
	int rc = sql_one(
	    store_sql(st), "vault.document_add",
	    "INSERT INTO vault_document (patient, class, type_code, mime, author, created, filed,"
	    " source_message_id, sender, unique_id, masked_ps, invisible_patient, store_user, mailbox,"
	    " uid, size, sha256, entry_uuid, set_id, version, created_time)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
	    " ?19, ?20, ?21) RETURNING id",
	    SQL_ARGS(SQL_TEXT(r->patient), SQL_TEXT(r->class_name), SQL_TEXT(r->type_code), SQL_TEXT(r->mime),
	             SQL_TEXT(r->author), SQL_TEXT(r->created), SQL_INT(time(NULL)),
	             SQL_TEXT(r->source_message_id), SQL_TEXT(r->sender), SQL_TEXT(r->unique_id),
	             SQL_INT(r->masked_ps), SQL_INT(r->invisible_patient), SQL_TEXT(r->store_user),
	             SQL_TEXT(r->mailbox), SQL_INT(r->uid), SQL_INT(r->size), SQL_TEXT(r->sha256),
	             SQL_TEXT(r->entry_uuid), SQL_TEXT(r->set_id), SQL_INT(r->version),
	             SQL_INT(r->created_time)),
	    id, err, errlen);
	if (rc == 0)
		str_error(err, errlen, "vault.document_add: no id returned");
	return rc == 1 ? 0 : -1;
}

static int version_row(void *arg, struct sql_stmt *q)
{
	struct vault_version *out = arg;
	out->id = sql_int(q, 0);
	if (sql_text_copy(q, 1, out->sender, sizeof out->sender) != 0 ||
	    sql_text_copy(q, 2, out->store_user, sizeof out->store_user) != 0 ||
	    sql_text_copy(q, 3, out->mailbox, sizeof out->mailbox) != 0)
		return 2; /* a field longer than ours: never a row we wrote */
	out->uid = (uint32_t)sql_int(q, 4);
	out->version = (int)sql_int(q, 5);
	out->created_time = sql_int(q, 6);
	out->filed = sql_int(q, 7);
	return 1; /* the first row is the one */
}

/* One lookup of the chain: 1 found, 0 not, -1. */
static int find(struct store *st, const char *what, const char *sql, const struct sql_value *args,
                size_t nargs, struct vault_version *out, char *err, size_t errlen)
{
	int rc = sql_foreach(store_sql(st), what, sql, args, nargs, version_row, out, err, errlen);
	if (rc == 2)
		str_error(err, errlen, "%s: a stored field is too long", what);
	return rc == 2 ? -1 : rc;
}

#define VERSION_COLUMNS                                                                                      \
	"SELECT id, sender, store_user, mailbox, uid, version, created_time, filed FROM vault_document"

int vault_index_replaced(struct store *st, const char *patient, const char *replaces, const char *unique_id,
                         const char *set_id, int version, struct vault_version *out, char *err, size_t errlen)
{
	int r = 0;
	if (replaces && replaces[0])
		r = find(st, "vault.replaced_entry",
		         VERSION_COLUMNS " WHERE patient = ?1 AND entry_uuid = ?2 AND superseded_by IS NULL"
		                         " ORDER BY id DESC LIMIT 1",
		         SQL_ARGS(SQL_TEXT(patient), SQL_TEXT(replaces)), out, err, errlen);
	if (r == 0 && unique_id && unique_id[0])
		r = find(st, "vault.replaced_unique_id",
		         VERSION_COLUMNS " WHERE patient = ?1 AND unique_id = ?2 AND superseded_by IS NULL"
		                         " ORDER BY id DESC LIMIT 1",
		         SQL_ARGS(SQL_TEXT(patient), SQL_TEXT(unique_id)), out, err, errlen);
	if (r == 0 && set_id && set_id[0])
		r = find(st, "vault.replaced_set",
		         VERSION_COLUMNS
		         " WHERE patient = ?1 AND set_id = ?2 AND version < ?3 AND superseded_by IS NULL"
		         " ORDER BY version DESC, id DESC LIMIT 1",
		         SQL_ARGS(SQL_TEXT(patient), SQL_TEXT(set_id), SQL_INT(version)), out, err, errlen);
	return r;
}

int vault_index_supersede(struct store *st, int64_t old_id, int64_t new_id, char *err, size_t errlen)
{
	return sql_exec(store_sql(st), "vault.supersede",
	                "UPDATE vault_document SET superseded_by = ?2 WHERE id = ?1",
	                SQL_ARGS(SQL_INT(old_id), SQL_INT(new_id)), err, errlen) < 0
	           ? -1
	           : 0;
}
