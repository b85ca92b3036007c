/* directory_import.c: streams the public directory file into the database.
 *
 * Memory stays bounded: the file is read through a fixed buffer, a line never grows
 * past DIR_MAX_LINE, and the staging tables live in SQLite's temporary database (on
 * disk, with a bounded page cache), never in our heap. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "directory/directory_import.h"
#include "directory/directory_line.h"
#include "lib/buf.h"
#include "lib/db.h"
#include "lib/str.h"

/* Lines are appended in file order to a plain rowid table: sequential writes, fast
 * whatever the file's order. directory_merge.c then reads them back sorted by address
 * (SQLite's external sorter: bounded memory); random-order inserts into a keyed table
 * would thrash the page cache on a national-size file. */
static const char stage_sql[] =
    "DROP TABLE IF EXISTS temp.stage_line;"
    "CREATE TEMP TABLE stage_line (lineno INTEGER NOT NULL, address TEXT NOT NULL, bal_type TEXT,"
    " id_type TEXT, id_value TEXT, national_id TEXT, civility TEXT, last_name TEXT, first_name TEXT,"
    " profession_code TEXT, profession_label TEXT, speciality_code TEXT, speciality_label TEXT,"
    " s_id_type TEXT, s_id_value TEXT, s_name TEXT, s_service TEXT, s_postcode TEXT);";

static const char ins_line_sql[] = "INSERT INTO temp.stage_line VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

struct importer {
	sqlite3 *db;
	sqlite3_stmt *ins_line;
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
		str_copy(r->bad_lines[r->nbad_kept].why, sizeof(r->bad_lines[0].why), why);
		r->nbad_kept++;
	}
}

static int stage_line(struct importer *im, uint64_t lineno, const struct dir_entry *e,
                      const struct dir_structure *s)
{
	const char *v[] = {
	    e->address,         e->bal_type,         e->id_type,    e->id_value,        e->national_id,
	    e->civility,        e->last_name,        e->first_name, e->profession_code, e->profession_label,
	    e->speciality_code, e->speciality_label, s->id_type,    s->id_value,        s->name,
	    s->service,         s->postcode};
	sqlite3_bind_int64(im->ins_line, 1, (sqlite3_int64)lineno);
	for (int i = 0; i < (int)(sizeof(v) / sizeof(v[0])); i++)
		sqlite3_bind_text(im->ins_line, i + 2, v[i], -1, SQLITE_STATIC);
	int rc = sqlite3_step(im->ins_line);
	sqlite3_reset(im->ins_line);
	if (rc != SQLITE_DONE) {
		db_error(im->db, "staging", im->err, im->errlen);
		return -1;
	}
	return 0;
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
					str_copy(im->err, im->errlen, "header line too long");
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
		str_format(im->err, im->errlen, "read error: %s", strerror(errno));
		rc = 1;
	}
	if (rc == 0 && too_long) { /* last line, without newline */
		im->r->lines++;
		note_bad(im->r, lineno, "line too long");
	} else if (rc == 0 && line.len > 0) {
		rc = handle_line(im, lineno, line.data, line.len);
	}
	if (rc == 0 && lineno == 1 && line.len == 0) {
		str_copy(im->err, im->errlen, "empty file: no header line");
		rc = 1;
	}
	buf_free(&line);
	return rc;
}

static int count_query(sqlite3 *db, const char *sql, uint64_t *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_error(db, "count", err, errlen);
		return -1;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	else
		db_error(db, "count", err, errlen);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int diff_and_apply(sqlite3 *db, struct dir_import_result *r, char *err, size_t errlen)
{
	if (dir_merge_staged(db, r, err, errlen) < 0)
		return -1;
	return count_query(db, "SELECT count(*) FROM main.directory_entry", &r->addresses, err, errlen);
}

static int prepare(struct importer *im)
{
	if (db_exec(im->db, stage_sql, im->err, im->errlen) < 0)
		return -1;
	im->ins_line = db_prepare(im->db, ins_line_sql, im->err, im->errlen);
	return im->ins_line ? 0 : -1;
}

/* Reads the whole file into the staging table. Only SQLite's temporary database is
 * written, so the main database's write lock is not held while the file is parsed:
 * deliveries and audit records go on meanwhile. Returns 0, 1 refused, -1 error. */
static int stage_file(struct importer *im, FILE *f, bool strict)
{
	if (db_exec(im->db, "BEGIN", im->err, im->errlen) < 0)
		return -1;
	int rc = prepare(im);
	if (rc == 0)
		rc = read_lines(im, f);
	sqlite3_finalize(im->ins_line);
	im->ins_line = NULL;
	if (rc == 0 && strict && im->r->bad > 0) {
		str_format(im->err, im->errlen, "%llu unreadable line(s) and --strict: nothing imported",
		           (unsigned long long)im->r->bad);
		rc = 1;
	}
	if (rc == 0 && db_exec(im->db, "CREATE INDEX temp.stage_line_address ON stage_line(address)", im->err,
	                       im->errlen) < 0)
		rc = -1;
	if (rc == 0)
		return db_exec(im->db, "COMMIT", im->err, im->errlen);
	db_rollback(im->db);
	return rc;
}

/* Staging, then the comparison and every change to the directory in one write
 * transaction: a refused or failed import leaves the directory as it was. */
int directory_import(sqlite3 *db, const char *path, bool strict, struct dir_import_result *r, char *err,
                     size_t errlen)
{
	memset(r, 0, sizeof(*r));
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		str_format(err, errlen, "%s: %s", path, strerror(errno));
		return 1;
	}
	struct importer im = {.db = db, .r = r, .err = err, .errlen = errlen};
	/* A bounded page cache, fixed whatever the file size. */
	db_exec(db,
	        "PRAGMA temp_store = FILE; PRAGMA main.cache_size = -16384; PRAGMA temp.cache_size = -16384",
	        err, errlen);
	int rc = stage_file(&im, f, strict);
	if (rc == 0)
		rc = db_begin_write(db, err, errlen);
	if (rc == 0) {
		rc = diff_and_apply(db, r, err, errlen);
		if (rc == 0)
			rc = db_commit(db, err, errlen);
		else
			db_rollback(db);
	}
	char ignored[64];
	db_exec(db, "DROP TABLE IF EXISTS temp.stage_line", ignored, sizeof(ignored));
	fclose(f);
	return rc;
}
