/* directory_entry.c: reading the national directory (see directory_entry.h). */

#include <string.h>

#include "directory/directory_entry.h"
#include "lib/db.h"
#include "lib/str.h"

#define ENTRY_SELECT                                                                                         \
	"SELECT address, bal_type, id_type, id_value, national_id, civility, last_name, first_name, "        \
	"profession_code, profession_label, speciality_code, speciality_label, active FROM directory_entry "

static void entry_from_row(sqlite3_stmt *st, struct dir_entry *e)
{
	memset(e, 0, sizeof(*e));
	db_column_copy(st, 0, e->address, sizeof(e->address));
	db_column_copy(st, 1, e->bal_type, sizeof(e->bal_type));
	db_column_copy(st, 2, e->id_type, sizeof(e->id_type));
	db_column_copy(st, 3, e->id_value, sizeof(e->id_value));
	db_column_copy(st, 4, e->national_id, sizeof(e->national_id));
	db_column_copy(st, 5, e->civility, sizeof(e->civility));
	db_column_copy(st, 6, e->last_name, sizeof(e->last_name));
	db_column_copy(st, 7, e->first_name, sizeof(e->first_name));
	db_column_copy(st, 8, e->profession_code, sizeof(e->profession_code));
	db_column_copy(st, 9, e->profession_label, sizeof(e->profession_label));
	db_column_copy(st, 10, e->speciality_code, sizeof(e->speciality_code));
	db_column_copy(st, 11, e->speciality_label, sizeof(e->speciality_label));
	e->active = sqlite3_column_int(st, 12) != 0;
}

/* Lowercases address into out; returns -1 when it does not fit (no such entry then). */
static int key_of(const char *address, char *out, size_t outlen)
{
	if (str_copy(out, outlen, address) < 0)
		return -1;
	str_lower(out);
	return 0;
}

int dir_entry_get(sqlite3 *db, const char *address, struct dir_entry *out)
{
	char key[DIR_ADDRESS_MAX];
	if (key_of(address, key, sizeof(key)) < 0)
		return 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, ENTRY_SELECT "WHERE address = ?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = db_step(st);
	int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
	if (ret == 1)
		entry_from_row(st, out);
	sqlite3_finalize(st);
	return ret;
}

int dir_structure_foreach(sqlite3 *db, const char *address,
                          int (*fn)(const struct dir_structure *s, void *arg), void *arg)
{
	char key[DIR_ADDRESS_MAX];
	if (key_of(address, key, sizeof(key)) < 0)
		return 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
	                       "SELECT id_type, id_value, name, service, postcode FROM directory_structure "
	                       "WHERE address = ? ORDER BY id_type, id_value, name, service, postcode",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int n = 0, rc;
	while ((rc = db_step(st)) == SQLITE_ROW) {
		struct dir_structure s;
		db_column_copy(st, 0, s.id_type, sizeof(s.id_type));
		db_column_copy(st, 1, s.id_value, sizeof(s.id_value));
		db_column_copy(st, 2, s.name, sizeof(s.name));
		db_column_copy(st, 3, s.service, sizeof(s.service));
		db_column_copy(st, 4, s.postcode, sizeof(s.postcode));
		n++;
		if (fn(&s, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : -1;
}

int dir_entry_search(sqlite3 *db, const char *text, unsigned limit,
                     int (*fn)(const struct dir_entry *e, void *arg), void *arg)
{
	/* instr() rather than LIKE: the administrator's text may hold % or _. */
	static const char sql[] =
	    ENTRY_SELECT "WHERE instr(lower(address || '|' || last_name || '|' || first_name || '|' || "
	                 "id_value || '|' || national_id || '|' || profession_label || '|' || "
	                 "speciality_label), lower(?1)) > 0 OR address IN (SELECT address FROM "
	                 "directory_structure WHERE instr(lower(name || '|' || id_value || '|' || postcode), "
	                 "lower(?1)) > 0) ORDER BY address LIMIT ?2";
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit);
	int n = 0, rc;
	while ((rc = db_step(st)) == SQLITE_ROW) {
		struct dir_entry e;
		entry_from_row(st, &e);
		n++;
		if (fn(&e, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : -1;
}

int dir_entry_set_active(sqlite3 *db, const char *address, bool active)
{
	char key[DIR_ADDRESS_MAX];
	if (key_of(address, key, sizeof(key)) < 0)
		return 1;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "UPDATE directory_entry SET active = ? WHERE address = ?", -1, &st,
	                       NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int(st, 1, active ? 1 : 0);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	int rc = db_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	return sqlite3_changes(db) > 0 ? 0 : 1;
}

int dir_entry_is_pharmacy(sqlite3 *db, const char *address, const char *codes)
{
	struct dir_entry e;
	int rc = dir_entry_get(db, address, &e);
	if (rc <= 0)
		return rc;
	return e.active && strcmp(e.bal_type, "ORG") == 0 && e.profession_code[0] != '\0' &&
	       str_list_contains(codes, e.profession_code);
}

int64_t dir_entry_count(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM directory_entry", -1, &st, NULL) != SQLITE_OK)
		return -1;
	int64_t n = db_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return n;
}
