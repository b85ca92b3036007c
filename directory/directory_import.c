/* directory_import.c: streams the public directory file into the database.
 *
 * Memory stays bounded: the file is read through a fixed buffer, a line never grows
 * past DIR_MAX_LINE, and the staging tables are temporary tables of the database (with
 * SQLite on disk, with a bounded page cache), never in our heap. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "directory/directory_import.h"
#include "directory/directory_line.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "lib/strset.h"
#include "store/store_sql.h"

/* Lines are appended in file order to a plain rowid table: sequential writes, fast
 * whatever the file's order. directory_merge.c then reads them back sorted by address
 * (SQLite's external sorter: bounded memory); random-order inserts into a keyed table
 * would thrash the page cache on a national-size file. */
static const char stage_sql[] =
    "DROP TABLE IF EXISTS stage_line;"
    "CREATE TEMP TABLE stage_line (lineno INTEGER NOT NULL, address TEXT NOT NULL, bal_type TEXT,"
    " id_type TEXT, id_value TEXT, national_id TEXT, civility TEXT, last_name TEXT, first_name TEXT,"
    " profession_code TEXT, profession_label TEXT, speciality_code TEXT, speciality_label TEXT,"
    " s_id_type TEXT, s_id_value TEXT, s_name TEXT, s_service TEXT, s_postcode TEXT);";

static const char ins_line_sql[] = "INSERT INTO stage_line VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                   "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

struct importer {
	struct sql *db;
	struct dir_header hdr;
	struct dir_import_result *r;
	char *err;
	size_t errlen;
};

static void note_bad(struct dir_import_result *r, uint64_t lineno, const char *why)
{
	r->bad++;
	if (r->nbad_kept < DIR_IMPORT_BAD_KEPT) {
		r->bad_lines[r->nbad_kept].line = lineno;
		str_error(r->bad_lines[r->nbad_kept].why, sizeof(r->bad_lines[0].why), "%s", why);
		r->nbad_kept++;
	}
}

static int stage_line(struct importer *im, uint64_t lineno, const struct dir_entry *e,
                      const struct dir_structure *s)
{
	return sql_exec(im->db, "directory.stage", ins_line_sql,
	                SQL_ARGS(SQL_INT(lineno), SQL_TEXT(e->address), SQL_TEXT(e->bal_type),
	                         SQL_TEXT(e->id_type), SQL_TEXT(e->id_value), SQL_TEXT(e->national_id),
	                         SQL_TEXT(e->civility), SQL_TEXT(e->last_name), SQL_TEXT(e->first_name),
	                         SQL_TEXT(e->profession_code), SQL_TEXT(e->profession_label),
	                         SQL_TEXT(e->speciality_code), SQL_TEXT(e->speciality_label),
	                         SQL_TEXT(s->id_type), SQL_TEXT(s->id_value), SQL_TEXT(s->name),
	                         SQL_TEXT(s->service), SQL_TEXT(s->postcode)),
	                im->err, im->errlen) == 1
	           ? 0
	           : -1;
}

/* Handles one line (lineno 1 is the header). Returns 0, 1 refused, -1 db error. */
static int handle_line(struct importer *im, uint64_t lineno, const char *line, size_t len)
{
	if (lineno == 1)
		return dir_header_parse(line, len, &im->hdr, im->err, im->errlen) < 0 ? 1 : 0;
	im->r->lines++;
	struct dir_entry e;
	struct dir_structure s;
	char why[128];
	int rc = dir_line_parse(&im->hdr, line, len, &e, &s, why, sizeof(why));
	if (rc == 1) {
		im->r->empty++;
		return 0;
	}
	if (rc < 0) {
		note_bad(im->r, lineno, why);
		return 0;
	}
	im->r->imported++;
	return stage_line(im, lineno, &e, &s);
}

/* Reads the file line by line through a fixed buffer. An over-long line is counted
 * bad and skipped to its end. Returns 0, 1 refused, -1 db error. */
static int read_lines(struct importer *im, FILE *f)
{
	static char chunk[1 << 16];
	struct buf line;
	buf_init(&line, DIR_MAX_LINE);
	uint64_t lineno = 1;
	int too_long = 0, rc = 0;
	size_t n;
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		const char *p = chunk, *end = chunk + n;
		while (rc == 0 && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t take = (size_t)((nl ? nl : end) - p);
			if (!too_long && buf_append(&line, p, take) < 0)
				too_long = 1;
			p += take;
			if (nl == NULL)
				break;
			p++;
			if (too_long) {
				if (lineno == 1) {
					str_error(im->err, im->errlen, "%s", "header line too long");
					rc = 1;
				} else {
					im->r->lines++;
					note_bad(im->r, lineno, "line too long");
				}
			} else {
				rc = handle_line(im, lineno, line.data, line.len);
			}
			buf_reset(&line);
			too_long = 0;
			lineno++;
		}
	}
	if (rc == 0 && ferror(f)) {
		str_error(im->err, im->errlen, "read error: %s", strerror(errno));
		rc = 1;
	}
	if (rc == 0 && too_long) { /* last line, without newline */
		im->r->lines++;
		note_bad(im->r, lineno, "line too long");
	} else if (rc == 0 && line.len > 0) {
		rc = handle_line(im, lineno, line.data, line.len);
	}
	if (rc == 0 && lineno == 1 && line.len == 0) {
		str_error(im->err, im->errlen, "%s", "empty file: no header line");
		rc = 1;
	}
	buf_free(&line);
	return rc;
}

static int diff_and_apply(struct sql *db, struct dir_import_result *r, struct strset *struck, char *err,
                          size_t errlen)
{
	int64_t n = 0;
	if (dir_merge_staged(db, r, struck, err, errlen) < 0 ||
	    sql_one(db, "directory.count", "SELECT count(*) FROM directory_entry", SQL_NOARGS, &n, err,
	            errlen) != 1)
		return -1;
	r->addresses = (uint64_t)n;
	return 0;
}

/* Reads the whole file into the staging table, in a read transaction: the staging
 * table is temporary (SQLite keeps it in its separate temporary database; PostgreSQL
 * lets a read-only transaction write temporary tables), so the directory's write lock
 * is not held while the file is parsed: deliveries and audit records go on meanwhile.
 * Returns 0, 1 refused, -1 error. */
static int stage_file(struct importer *im, FILE *f, bool strict)
{
	if (sql_script(im->db, "directory.stage", stage_sql, im->err, im->errlen) < 0 ||
	    sql_begin_read(im->db, im->err, im->errlen) < 0)
		return -1;
	int rc = read_lines(im, f);
	if (rc == 0 && strict && im->r->bad > 0) {
		str_error(im->err, im->errlen, "%llu unreadable line(s) and --strict: nothing imported",
		          (unsigned long long)im->r->bad);
		rc = 1;
	}
	if (rc != 0) {
		sql_rollback(im->db);
		return rc;
	}
	if (sql_commit(im->db, im->err, im->errlen) < 0)
		return -1;
	/* DDL, so outside the read transaction */
	return sql_script(im->db, "directory.stage", "CREATE INDEX stage_line_address ON stage_line(address)",
	                  im->err, im->errlen);
}

/* Staging, then the comparison and every change to the directory in one write
 * transaction: a refused or failed import leaves the directory as it was. */
int directory_import(struct store *st, const char *path, bool strict, struct dir_import_result *r, char *err,
                     size_t errlen)
{
	struct sql *db = store_sql(st);
	memset(r, 0, sizeof(*r));
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		str_error(err, errlen, "%s: %s", path, strerror(errno));
		return 1;
	}
	struct importer im = {.db = db, .r = r, .err = err, .errlen = errlen};
	/* A bounded page cache, fixed whatever the file size. */
	if (sql_engine(db) == SQL_SQLITE &&
	    sql_script(
	        db, "directory.cache",
	        "PRAGMA temp_store = FILE; PRAGMA main.cache_size = -16384; PRAGMA temp.cache_size = -16384",
	        err, errlen) < 0)
		log_warn("directory_import", "error=\"%s\"", err);
	struct strset struck = {0};
	int rc = stage_file(&im, f, strict);
	if (rc == 0)
		rc = sql_begin_write(db, err, errlen);
	if (rc == 0) {
		rc = diff_and_apply(db, r, &struck, err, errlen);
		if (rc == 0)
			rc = sql_commit(db, err, errlen);
		else
			sql_rollback(db);
	}
	/* after the commit, as account_disable: their sessions find the entry inactive */
	for (size_t i = 0; rc == 0 && i < struck.cap; i++)
		if (struck.slot[i] != NULL)
			store_account_wake(st, struck.slot[i]);
	strset_free(&struck);
	char ignored[64];
	if (sql_script(db, "directory.unstage", "DROP TABLE IF EXISTS stage_line", ignored, sizeof(ignored)) <
	    0)
		log_warn("directory_import", "error=\"%s\"", ignored);
	fclose(f);
	return rc;
}
