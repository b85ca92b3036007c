/* directory_entry.c: reading the national directory (see directory_entry.h). */

#include <string.h>

#include "directory/directory_entry.h"
#include "lib/log.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"

#define ENTRY_SELECT                                                                                         \
	"SELECT address, bal_type, id_type, id_value, national_id, civility, last_name, first_name, "        \
	"profession_code, profession_label, speciality_code, speciality_label, active FROM directory_entry "

/* Fields are bounded by what the import accepts; a longer stored one is damage,
 * reported rather than cut. */
static int entry_from_row(struct sql_stmt *q, struct dir_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->active = sql_int(q, 12) != 0;
	return sql_text_copy(q, 0, e->address, sizeof(e->address)) |
	       sql_text_copy(q, 1, e->bal_type, sizeof(e->bal_type)) |
	       sql_text_copy(q, 2, e->id_type, sizeof(e->id_type)) |
	       sql_text_copy(q, 3, e->id_value, sizeof(e->id_value)) |
	       sql_text_copy(q, 4, e->national_id, sizeof(e->national_id)) |
	       sql_text_copy(q, 5, e->civility, sizeof(e->civility)) |
	       sql_text_copy(q, 6, e->last_name, sizeof(e->last_name)) |
	       sql_text_copy(q, 7, e->first_name, sizeof(e->first_name)) |
	       sql_text_copy(q, 8, e->profession_code, sizeof(e->profession_code)) |
	       sql_text_copy(q, 9, e->profession_label, sizeof(e->profession_label)) |
	       sql_text_copy(q, 10, e->speciality_code, sizeof(e->speciality_code)) |
	       sql_text_copy(q, 11, e->speciality_label, sizeof(e->speciality_label));
}

/* Lowercases address into out; returns -1 when it does not fit (no such entry then). */
static int key_of(const char *address, char *out, size_t outlen)
{
	if (str_copy(out, outlen, address) < 0)
		return -1;
	str_lower(out);
	return 0;
}

static int failed(const char *err)
{
	log_err("directory_read", "error=\"%s\"", err);
	return -1;
}

int dir_entry_get(struct store *st, const char *address, struct dir_entry *out)
{
	char key[DIR_ADDRESS_MAX], err[256];
	if (key_of(address, key, sizeof(key)) < 0)
		return 0;
	struct sql_stmt *q = sql_query(store_sql(st), "directory.entry", ENTRY_SELECT "WHERE address = ?1",
	                               SQL_ARGS(SQL_TEXT(key)), err, sizeof(err));
	if (q == NULL)
		return failed(err);
	int rc = sql_next(q, err, sizeof(err));
	if (rc == 1 && entry_from_row(q, out) != 0) {
		str_error(err, sizeof(err), "directory.entry: stored field too long for %s", key);
		rc = -1;
	}
	sql_done(q);
	return rc < 0 ? failed(err) : rc;
}

struct walk {
	int (*entry)(const struct dir_entry *e, void *arg);
	int (*structure)(const struct dir_structure *s, void *arg);
	void *arg;
	int n;
};

static int structure_row(void *arg, struct sql_stmt *q)
{
	struct walk *w = arg;
	struct dir_structure s;
	if ((sql_text_copy(q, 0, s.id_type, sizeof(s.id_type)) |
	     sql_text_copy(q, 1, s.id_value, sizeof(s.id_value)) |
	     sql_text_copy(q, 2, s.name, sizeof(s.name)) | sql_text_copy(q, 3, s.service, sizeof(s.service)) |
	     sql_text_copy(q, 4, s.postcode, sizeof(s.postcode))) != 0)
		return 0; /* a damaged row is left out */
	w->n++;
	return w->structure(&s, w->arg) != 0 ? 1 : 0;
}

int dir_structure_foreach(struct store *st, const char *address,
                          int (*fn)(const struct dir_structure *s, void *arg), void *arg)
{
	char key[DIR_ADDRESS_MAX], err[256];
	struct walk w = {.structure = fn, .arg = arg};
	if (key_of(address, key, sizeof(key)) < 0)
		return 0;
	int rc = sql_foreach(store_sql(st), "directory.structures",
	                     "SELECT id_type, id_value, name, service, postcode FROM directory_structure "
	                     "WHERE address = ?1 ORDER BY id_type, id_value, name, service, postcode",
	                     SQL_ARGS(SQL_TEXT(key)), structure_row, &w, err, sizeof(err));
	return rc < 0 ? failed(err) : w.n;
}

static int entry_row(void *arg, struct sql_stmt *q)
{
	struct walk *w = arg;
	struct dir_entry e;
	if (entry_from_row(q, &e) != 0)
		return 0;
	w->n++;
	return w->entry(&e, w->arg) != 0 ? 1 : 0;
}

/* text as a LIKE pattern matching it anywhere, lowercased, with its own % _ and \
 * escaped: the administrator's text is matched as typed. */
static int like_pattern(const char *text, char *out, size_t outlen)
{
	size_t o = 0;
	out[o++] = '%';
	for (const char *p = text; *p; p++) {
		if (o + 3 >= outlen)
			return -1;
		if (*p == '%' || *p == '_' || *p == '\\')
			out[o++] = '\\';
		out[o++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p + 32) : *p;
	}
	out[o++] = '%';
	out[o] = '\0';
	return 0;
}

int dir_entry_search(struct store *st, const char *text, unsigned limit,
                     int (*fn)(const struct dir_entry *e, void *arg), void *arg)
{
	static const char sql[] = ENTRY_SELECT
	    "WHERE lower(address || '|' || last_name || '|' || first_name || '|' || id_value || '|' || "
	    "national_id || '|' || profession_label || '|' || speciality_label) LIKE ?1 ESCAPE '\\' "
	    "OR address IN (SELECT address FROM directory_structure WHERE "
	    "lower(name || '|' || id_value || '|' || postcode) LIKE ?1 ESCAPE '\\') "
	    "ORDER BY address LIMIT ?2";
	char pattern[1024], err[256];
	struct walk w = {.entry = fn, .arg = arg};
	if (like_pattern(text, pattern, sizeof pattern) != 0)
		return 0; /* longer than any field: nothing matches */
	int rc = sql_foreach(store_sql(st), "directory.search", sql,
	                     SQL_ARGS(SQL_TEXT(pattern), SQL_INT(limit)), entry_row, &w, err, sizeof(err));
	return rc < 0 ? failed(err) : w.n;
}

int dir_entry_set_active(struct store *st, const char *address, bool active)
{
	char key[DIR_ADDRESS_MAX], err[256];
	if (key_of(address, key, sizeof(key)) < 0)
		return 1;
	int n = sql_exec(store_sql(st), "directory.set_active",
	                 "UPDATE directory_entry SET active = ?1 WHERE address = ?2",
	                 SQL_ARGS(SQL_INT(active ? 1 : 0), SQL_TEXT(key)), err, sizeof(err));
	if (n < 0)
		return failed(err);
	if (n > 0 && !active)
		store_account_wake(st, key); /* imapd ends its views of patients' vaults */
	return n > 0 ? 0 : 1;
}

int dir_entry_is_pharmacy(struct store *st, const char *address, const char *codes)
{
	struct dir_entry e;
	int rc = dir_entry_get(st, address, &e);
	if (rc <= 0)
		return rc;
	return e.active && strcmp(e.bal_type, "ORG") == 0 && e.profession_code[0] != '\0' &&
	       str_list_contains(codes, e.profession_code);
}

int64_t dir_entry_count(struct store *st)
{
	char err[256];
	int64_t n = -1;
	if (sql_one(store_sql(st), "directory.count", "SELECT count(*) FROM directory_entry", SQL_NOARGS, &n,
	            err, sizeof(err)) < 0)
		return failed(err);
	return n;
}
