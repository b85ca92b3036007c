/* directory_merge.c: applies staged directory lines to the directory tables.
 *
 * The staged lines are read once, sorted by address (SQLite's external sorter: bounded
 * memory). Each address's lines make one entry (the first line's person fields) and
 * the set of its structures; a BLAKE2b digest of both is compared with the stored one,
 * so an unchanged entry costs one indexed read and no write, and every write goes to
 * the tables in key order. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "directory/directory_import.h"
#include "directory/directory_line.h"
#include "lib/buf.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "lib/strset.h"

/* Far above any real address (a few structures each); caps memory on hostile input. */
#define MAX_STRUCTURES 1000
#define DIGEST_LEN 16
/* The digest of an entry struck off by an import (all zero: no BLAKE2b of a real one),
 * so that only its return, not the administrator's own disable, makes it active. */
static const unsigned char STRUCK_DIGEST[DIGEST_LEN];

/* The staged lines in address order, each address's lines in file order: SQLite's
 * external sorter (the index on address is dropped before, so that the scan does not
 * become a random walk through it). */
static const char scan_sql[] =
    "SELECT lineno, address, bal_type, id_type, id_value, national_id, civility, last_name,"
    " first_name, profession_code, profession_label, speciality_code, speciality_label,"
    " s_id_type, s_id_value, s_name, s_service, s_postcode FROM stage_line ORDER BY address, lineno";
static const char insert_sql[] =
    "INSERT INTO directory_entry (address, bal_type, id_type, id_value, national_id, civility, last_name,"
    " first_name, profession_code, profession_label, speciality_code, speciality_label, digest, updated, "
    "active)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 1)";
/* An entry's fields from the file (write_entry's arguments), for update_sql and return_sql. */
#define SET_FIELDS                                                                                           \
	"UPDATE directory_entry SET bal_type = ?2, id_type = ?3, id_value = ?4, national_id = ?5,"           \
	" civility = ?6, last_name = ?7, first_name = ?8, profession_code = ?9, profession_label = ?10,"     \
	" speciality_code = ?11, speciality_label = ?12, digest = ?13, updated = ?14"
static const char update_sql[] = SET_FIELDS " WHERE address = ?1";

/* Entries whose address the new file lacks: their structures first, then themselves
 * (stage_line_address, built while staging, makes each test an index probe), except a
 * local professional's or organisation's: struck off (retired, suspended), that one is
 * kept inactive, so that it neither writes to patients nor reads the vaults shared with
 * it (policy.md; without an entry a local account counts as approved), and listed
 * again it is active again (STRUCK_DIGEST). Driven by the local accounts (a few
 * thousand at most), not by the national directory. */
static const char remove_sql[] =
    "DELETE FROM directory_structure WHERE address IN (SELECT address FROM directory_entry d"
    " WHERE NOT EXISTS (SELECT 1 FROM stage_line s WHERE s.address = d.address))";
static const char remove_entries_sql[] =
    "DELETE FROM directory_entry WHERE NOT EXISTS"
    " (SELECT 1 FROM stage_line s WHERE s.address = directory_entry.address)"
    " AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.address = directory_entry.address"
    "  AND a.role IN ('professional', 'organisation'))";
static const char struck_sql[] =
    "SELECT d.address FROM accounts a JOIN directory_entry d ON d.address = a.address"
    " WHERE a.role IN ('professional', 'organisation') AND d.active = 1"
    " AND NOT EXISTS (SELECT 1 FROM stage_line s WHERE s.address = d.address)";
static const char strike_sql[] =
    "UPDATE directory_entry SET active = 0, digest = ?2, updated = ?3 WHERE address = ?1";
/* A struck-off entry listed again: its fields, and active once more. */
static const char return_sql[] = SET_FIELDS ", active = 1 WHERE address = ?1";

struct group {
	bool open;
	struct dir_entry e;
	struct dir_structure *st;
	size_t n;
};

struct merger {
	struct sql *db;
	struct dir_import_result *r;
	struct group g;
	int64_t now;
	struct strset *struck; /* addresses struck off by this import, woken after it */
	char *err;
	size_t errlen;
};

/* Staged fields were bounded by the line parser: copies fit. */
static int row_entry(struct sql_stmt *q, struct dir_entry *e)
{
	memset(e, 0, sizeof(*e));
	return sql_text_copy(q, 1, e->address, sizeof(e->address)) |
	       sql_text_copy(q, 2, e->bal_type, sizeof(e->bal_type)) |
	       sql_text_copy(q, 3, e->id_type, sizeof(e->id_type)) |
	       sql_text_copy(q, 4, e->id_value, sizeof(e->id_value)) |
	       sql_text_copy(q, 5, e->national_id, sizeof(e->national_id)) |
	       sql_text_copy(q, 6, e->civility, sizeof(e->civility)) |
	       sql_text_copy(q, 7, e->last_name, sizeof(e->last_name)) |
	       sql_text_copy(q, 8, e->first_name, sizeof(e->first_name)) |
	       sql_text_copy(q, 9, e->profession_code, sizeof(e->profession_code)) |
	       sql_text_copy(q, 10, e->profession_label, sizeof(e->profession_label)) |
	       sql_text_copy(q, 11, e->speciality_code, sizeof(e->speciality_code)) |
	       sql_text_copy(q, 12, e->speciality_label, sizeof(e->speciality_label));
}

static int row_structure(struct sql_stmt *q, struct dir_structure *s)
{
	return sql_text_copy(q, 13, s->id_type, sizeof(s->id_type)) |
	       sql_text_copy(q, 14, s->id_value, sizeof(s->id_value)) |
	       sql_text_copy(q, 15, s->name, sizeof(s->name)) |
	       sql_text_copy(q, 16, s->service, sizeof(s->service)) |
	       sql_text_copy(q, 17, s->postcode, sizeof(s->postcode));
}

static int cmp_structure(const void *a, const void *b)
{
	const struct dir_structure *x = a, *y = b;
	int c = strcmp(x->id_type, y->id_type);
	if (c == 0)
		c = strcmp(x->id_value, y->id_value);
	if (c == 0)
		c = strcmp(x->name, y->name);
	if (c == 0)
		c = strcmp(x->service, y->service);
	if (c == 0)
		c = strcmp(x->postcode, y->postcode);
	return c;
}

/* Sorts and removes repeated structures (an address listed twice for the same one). */
static void dedupe(struct group *g)
{
	qsort(g->st, g->n, sizeof(g->st[0]), cmp_structure);
	size_t k = 0;
	for (size_t i = 0; i < g->n; i++)
		if (k == 0 || cmp_structure(&g->st[k - 1], &g->st[i]) != 0)
			g->st[k++] = g->st[i];
	g->n = k;
}

static void hash_field(crypto_generichash_state *h, const char *s)
{
	size_t n = strlen(s);
	unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
	                        (unsigned char)n};
	crypto_generichash_update(h, len, sizeof(len));
	crypto_generichash_update(h, (const unsigned char *)s, n);
}

static void digest_of(const struct group *g, unsigned char out[DIGEST_LEN])
{
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, DIGEST_LEN);
	const struct dir_entry *e = &g->e;
	const char *f[] = {e->bal_type,         e->id_type,         e->id_value,        e->national_id,
	                   e->civility,         e->last_name,       e->first_name,      e->profession_code,
	                   e->profession_label, e->speciality_code, e->speciality_label};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		hash_field(&h, f[i]);
	for (size_t i = 0; i < g->n; i++) {
		const struct dir_structure *s = &g->st[i];
		hash_field(&h, "|");
		hash_field(&h, s->id_type);
		hash_field(&h, s->id_value);
		hash_field(&h, s->name);
		hash_field(&h, s->service);
		hash_field(&h, s->postcode);
	}
	crypto_generichash_final(&h, out, DIGEST_LEN);
}

static int write_entry(struct merger *m, const char *sql, const unsigned char digest[DIGEST_LEN])
{
	const struct dir_entry *e = &m->g.e;
	return sql_exec(m->db, "directory.write", sql,
	                SQL_ARGS(SQL_TEXT(e->address), SQL_TEXT(e->bal_type), SQL_TEXT(e->id_type),
	                         SQL_TEXT(e->id_value), SQL_TEXT(e->national_id), SQL_TEXT(e->civility),
	                         SQL_TEXT(e->last_name), SQL_TEXT(e->first_name),
	                         SQL_TEXT(e->profession_code), SQL_TEXT(e->profession_label),
	                         SQL_TEXT(e->speciality_code), SQL_TEXT(e->speciality_label),
	                         SQL_BLOB(digest, DIGEST_LEN), SQL_INT(m->now)),
	                m->err, m->errlen) == 1
	           ? 0
	           : -1;
}

static int write_structures(struct merger *m)
{
	for (size_t i = 0; i < m->g.n; i++) {
		const struct dir_structure *s = &m->g.st[i];
		if (sql_exec(m->db, "directory.write_structure",
		             "INSERT INTO directory_structure (address, id_type, id_value, name, service, "
		             "postcode)"
		             " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		             " ON CONFLICT (address, id_type, id_value, name, service, postcode) DO NOTHING",
		             SQL_ARGS(SQL_TEXT(m->g.e.address), SQL_TEXT(s->id_type), SQL_TEXT(s->id_value),
		                      SQL_TEXT(s->name), SQL_TEXT(s->service), SQL_TEXT(s->postcode)),
		             m->err, m->errlen) < 0)
			return -1;
	}
	return 0;
}

/* The stored digest of the group's address: 1 same as digest, 0 differs, 2 no entry,
 * 3 struck off (STRUCK_DIGEST), -1 error. */
static int stored_digest(struct merger *m, const unsigned char digest[DIGEST_LEN])
{
	struct sql_stmt *q =
	    sql_query(m->db, "directory.digest", "SELECT digest FROM directory_entry WHERE address = ?1",
	              SQL_ARGS(SQL_TEXT(m->g.e.address)), m->err, m->errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, m->err, m->errlen);
	size_t len = 0;
	const void *p = rc == 1 ? sql_blob(q, 0, &len) : NULL;
	int r = rc < 0 ? -1 : rc == 0 ? 2 : (len == DIGEST_LEN && memcmp(p, digest, DIGEST_LEN) == 0);
	if (r == 0 && len == DIGEST_LEN && memcmp(p, STRUCK_DIGEST, DIGEST_LEN) == 0)
		r = 3;
	sql_done(q);
	return r;
}

/* Compares the finished group with the stored entry and writes only what changed. */
static int flush_group(struct merger *m)
{
	if (!m->g.open)
		return 0;
	m->g.open = false;
	dedupe(&m->g);
	unsigned char digest[DIGEST_LEN];
	digest_of(&m->g, digest);
	int r = stored_digest(m, digest);
	if (r < 0)
		return -1;
	if (r == 1)
		return 0;
	if (r == 0 || r == 3) {
		m->r->changed++;
		if (sql_exec(m->db, "directory.clear_structures",
		             "DELETE FROM directory_structure WHERE address = ?1",
		             SQL_ARGS(SQL_TEXT(m->g.e.address)), m->err, m->errlen) < 0 ||
		    write_entry(m, r == 3 ? return_sql : update_sql, digest) < 0)
			return -1;
	} else {
		m->r->added++;
		if (write_entry(m, insert_sql, digest) < 0)
			return -1;
	}
	return write_structures(m);
}

static void note_bad(struct merger *m, uint64_t lineno, const char *why)
{
	struct dir_import_result *r = m->r;
	r->bad++;
	r->imported--;
	if (r->nbad_kept < DIR_IMPORT_BAD_KEPT) {
		r->bad_lines[r->nbad_kept].line = lineno;
		if (str_copy(r->bad_lines[r->nbad_kept].why, sizeof(r->bad_lines[0].why), why) != 0)
			r->bad_lines[r->nbad_kept].why[0] = '\0';
		r->nbad_kept++;
	}
}

/* Adds one staged line to the current group, flushing it when the address changes. */
static int add_row(struct merger *m, struct sql_stmt *scan)
{
	const char *addr = sql_text(scan, 1);
	if (addr == NULL)
		return 0;
	if (!m->g.open || strcmp(addr, m->g.e.address) != 0) {
		if (flush_group(m) < 0)
			return -1;
		if (row_entry(scan, &m->g.e) != 0) {
			note_bad(m, (uint64_t)sql_int(scan, 0), "field too long");
			return 0;
		}
		m->g.n = 0;
		m->g.open = true;
	}
	if (m->g.n == MAX_STRUCTURES) {
		note_bad(m, (uint64_t)sql_int(scan, 0), "too many structures for one address");
		return 0;
	}
	memset(&m->g.st[m->g.n], 0, sizeof(m->g.st[0]));
	if (row_structure(scan, &m->g.st[m->g.n]) != 0) {
		note_bad(m, (uint64_t)sql_int(scan, 0), "field too long");
		return 0;
	}
	m->g.n++;
	return 0;
}

static int merge_scan(struct merger *m)
{
	struct sql_stmt *scan = sql_query(m->db, "directory.scan", scan_sql, SQL_NOARGS, m->err, m->errlen);
	if (scan == NULL)
		return -1;
	int rc;
	while ((rc = sql_next(scan, m->err, m->errlen)) == 1)
		if (add_row(m, scan) < 0) {
			rc = -1;
			break;
		}
	sql_done(scan);
	return rc < 0 ? -1 : flush_group(m);
}

static int struck_row(void *arg, struct sql_stmt *q)
{
	struct merger *m = arg;
	const char *address = sql_text(q, 0);
	if (address != NULL)
		strset_add(m->struck, address);
	return 0;
}

/* Local accounts' entries missing from the file: kept, inactive, noted for the wake. */
static int strike_off(struct merger *m)
{
	if (sql_foreach(m->db, "directory.struck", struck_sql, SQL_NOARGS, struck_row, m, m->err, m->errlen) <
	    0)
		return -1;
	for (size_t i = 0; i < m->struck->cap; i++) {
		const char *address = m->struck->slot[i];
		if (address == NULL)
			continue;
		if (sql_exec(
		        m->db, "directory.strike", strike_sql,
		        SQL_ARGS(SQL_TEXT(address), SQL_BLOB(STRUCK_DIGEST, DIGEST_LEN), SQL_INT(m->now)),
		        m->err, m->errlen) < 0)
			return -1;
	}
	m->r->removed += m->struck->n;
	return 0;
}

static int remove_missing(struct merger *m)
{
	int n;
	if (strike_off(m) < 0 ||
	    sql_exec(m->db, "directory.remove", remove_sql, SQL_NOARGS, m->err, m->errlen) < 0 ||
	    (n = sql_exec(m->db, "directory.remove", remove_entries_sql, SQL_NOARGS, m->err, m->errlen)) < 0)
		return -1;
	m->r->removed += (uint64_t)n;
	/* the scan below sorts instead of walking the index (see scan_sql) */
	return sql_script(m->db, "directory.merge", "DROP INDEX stage_line_address", m->err, m->errlen);
}

int dir_merge_staged(struct sql *db, struct dir_import_result *r, struct strset *struck, char *err,
                     size_t errlen)
{
	struct merger m = {
	    .db = db, .r = r, .struck = struck, .err = err, .errlen = errlen, .now = (int64_t)time(NULL)};
	m.g.st = xcalloc(MAX_STRUCTURES, sizeof(m.g.st[0]));
	int rc = remove_missing(&m);
	if (rc == 0)
		rc = merge_scan(&m);
	free(m.g.st);
	return rc;
}
