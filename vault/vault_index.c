/* vault_index.c: the table vault_document (see vault_index.h). */
#include "vault/vault_index.h"

#include <string.h>

#include "lib/db.h"
#include "lib/str.h"

int vault_index_add(sqlite3 *db, const struct vault_index_row *r, int64_t *id, char *err, size_t errlen)
{
	sqlite3_stmt *st = db_prepare(
	    db,
	    "INSERT INTO vault_document (patient, class, type_code, mime, author, created, filed,"
	    " source_message_id, sender, unique_id, masked_ps, invisible_patient, store_user, mailbox, uid,"
	    " size, sha256, entry_uuid, set_id, version, created_time)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, strftime('%s','now'), ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
	    "?15, ?16,"
	    " ?17, ?18, ?19, ?20) RETURNING id",
	    err, errlen);
	if (!st)
		return -1;
	const char *text[] = {r->patient, r->class_name,        r->type_code, r->mime,     r->author,
	                      r->created, r->source_message_id, r->sender,    r->unique_id};
	for (int i = 0; i < 9; i++)
		db_bind_text(st, i + 1, text[i] ? text[i] : "");
	sqlite3_bind_int(st, 10, r->masked_ps);
	sqlite3_bind_int(st, 11, r->invisible_patient);
	db_bind_text(st, 12, r->store_user);
	db_bind_text(st, 13, r->mailbox);
	sqlite3_bind_int64(st, 14, r->uid);
	sqlite3_bind_int64(st, 15, (int64_t)r->size);
	db_bind_text(st, 16, r->sha256);
	db_bind_text(st, 17, r->entry_uuid ? r->entry_uuid : "");
	db_bind_text(st, 18, r->set_id ? r->set_id : "");
	sqlite3_bind_int(st, 19, r->version);
	sqlite3_bind_int64(st, 20, r->created_time);
	int rc = db_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		db_error(db, "vault_document insert", err, errlen);
		return -1;
	}
	return 0;
}

/* One lookup of the chain: 1 found, 0 not, -1. */
static int find(sqlite3 *db, const char *sql, const char *patient, const char *key, int version,
                struct vault_version *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = db_prepare(db, sql, err, errlen);
	if (!st)
		return -1;
	db_bind_text(st, 1, patient);
	db_bind_text(st, 2, key);
	if (sqlite3_bind_parameter_count(st) >= 3)
		sqlite3_bind_int(st, 3, version);
	int rc = db_step(st);
	if (rc == SQLITE_ROW) {
		out->id = sqlite3_column_int64(st, 0);
		if (db_column_copy(st, 1, out->sender, sizeof out->sender) != 0 ||
		    db_column_copy(st, 2, out->store_user, sizeof out->store_user) != 0 ||
		    db_column_copy(st, 3, out->mailbox, sizeof out->mailbox) != 0)
			rc = SQLITE_ERROR;
		out->uid = (uint32_t)sqlite3_column_int64(st, 4);
		out->version = sqlite3_column_int(st, 5);
		out->created_time = sqlite3_column_int64(st, 6);
		out->filed = sqlite3_column_int64(st, 7);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		str_copy(err, errlen, "vault_document lookup failed");
		return -1;
	}
	return rc == SQLITE_ROW;
}

#define VERSION_COLUMNS                                                                                      \
	"SELECT id, sender, store_user, mailbox, uid, version, created_time, filed FROM vault_document"

int vault_index_replaced(sqlite3 *db, const char *patient, const char *replaces, const char *unique_id,
                         const char *set_id, int version, struct vault_version *out, char *err, size_t errlen)
{
	int r = 0;
	if (replaces && replaces[0])
		r = find(db,
		         VERSION_COLUMNS " WHERE patient = ?1 AND entry_uuid = ?2 AND superseded_by IS NULL"
		                         " ORDER BY id DESC LIMIT 1",
		         patient, replaces, 0, out, err, errlen);
	if (r == 0 && unique_id && unique_id[0])
		r = find(db,
		         VERSION_COLUMNS " WHERE patient = ?1 AND unique_id = ?2 AND superseded_by IS NULL"
		                         " ORDER BY id DESC LIMIT 1",
		         patient, unique_id, 0, out, err, errlen);
	if (r == 0 && set_id && set_id[0])
		r = find(db,
		         VERSION_COLUMNS " WHERE patient = ?1 AND set_id = ?2 AND version < ?3"
		                         " AND superseded_by IS NULL ORDER BY version DESC, id DESC LIMIT 1",
		         patient, set_id, version, out, err, errlen);
	return r;
}

int vault_index_supersede(sqlite3 *db, int64_t old_id, int64_t new_id, char *err, size_t errlen)
{
	sqlite3_stmt *st =
	    db_prepare(db, "UPDATE vault_document SET superseded_by = ?2 WHERE id = ?1", err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, old_id);
	sqlite3_bind_int64(st, 2, new_id);
	int rc = db_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(db, "vault_document supersede", err, errlen);
		return -1;
	}
	return 0;
}
