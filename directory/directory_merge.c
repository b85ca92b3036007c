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
#include "lib/db.h"
#include "lib/str.h"

/* Far above any real address (a few structures each); caps memory on hostile input. */
#define MAX_STRUCTURES 1000
#define DIGEST_LEN 16

enum stmt { S_SCAN, S_GET, S_INSERT, S_UPDATE, S_DEL_STRUCT, S_INS_STRUCT, S_COUNT };

static const char *const stmt_sql[S_COUNT] = {
    [S_SCAN] = "SELECT lineno, address, bal_type, id_type, id_value, national_id, civility, last_name,"
               " first_name, profession_code, profession_label, speciality_code, speciality_label,"
               " s_id_type, s_id_value, s_name, s_service, s_postcode FROM temp.stage_line NOT INDEXED"
               " ORDER BY address, rowid",
    [S_GET] = "SELECT digest FROM main.directory_entry WHERE address = ?",
    [S_INSERT] =
        ("INSERT INTO main.directory_entry (address, bal_type, id_type, id_value, national_id, civility,"
         " last_name, first_name, profession_code, profession_label, speciality_code, speciality_label,"
         " digest, updated, active) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)"),
    [S_UPDATE] =
        ("UPDATE main.directory_entry SET bal_type = ?2, id_type = ?3, id_value = ?4, national_id = ?5,"
         " civility = ?6, last_name = ?7, first_name = ?8, profession_code = ?9, profession_label = ?10,"
         " speciality_code = ?11, speciality_label = ?12, digest = ?13, updated = ?14 WHERE address = ?1"),
    [S_DEL_STRUCT] = "DELETE FROM main.directory_structure WHERE address = ?",
    [S_INS_STRUCT] =
        ("INSERT OR IGNORE INTO main.directory_structure (address, id_type, id_value, name, service,"
         " postcode) VALUES (?,?,?,?,?,?)"),
};

/* Entries whose address the new file lacks: their structures first, then themselves
 * (temp.stage_line_address, built while staging, makes each test an index probe). */
static const char remove_sql[] =
    "DELETE FROM main.directory_structure WHERE address IN (SELECT address FROM main.directory_entry d"
    " WHERE NOT EXISTS (SELECT 1 FROM temp.stage_line s WHERE s.address = d.address));";
static const char remove_entries_sql[] =
    "DELETE FROM main.directory_entry WHERE NOT EXISTS"
    " (SELECT 1 FROM temp.stage_line s WHERE s.address = directory_entry.address)";

struct group {
	bool open;
	struct dir_entry e;
	struct dir_structure *st;
	size_t n;
};

struct merger {
	sqlite3 *db;
	sqlite3_stmt *s[S_COUNT];
	struct dir_import_result *r;
	struct group g;
	int64_t now;
	char *err;
	size_t errlen;
};

static void col(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	db_column_copy(st, i, out, outlen);
}

static void row_entry(sqlite3_stmt *st, struct dir_entry *e)
{
	memset(e, 0, sizeof(*e));
	col(st, 1, e->address, sizeof(e->address));
	col(st, 2, e->bal_type, sizeof(e->bal_type));
	col(st, 3, e->id_type, sizeof(e->id_type));
	col(st, 4, e->id_value, sizeof(e->id_value));
	col(st, 5, e->national_id, sizeof(e->national_id));
	col(st, 6, e->civility, sizeof(e->civility));
	col(st, 7, e->last_name, sizeof(e->last_name));
	col(st, 8, e->first_name, sizeof(e->first_name));
	col(st, 9, e->profession_code, sizeof(e->profession_code));
	col(st, 10, e->profession_label, sizeof(e->profession_label));
	col(st, 11, e->speciality_code, sizeof(e->speciality_code));
	col(st, 12, e->speciality_label, sizeof(e->speciality_label));
}

static void row_structure(sqlite3_stmt *st, struct dir_structure *s)
{
	col(st, 13, s->id_type, sizeof(s->id_type));
	col(st, 14, s->id_value, sizeof(s->id_value));
	col(st, 15, s->name, sizeof(s->name));
	col(st, 16, s->service, sizeof(s->service));
	col(st, 17, s->postcode, sizeof(s->postcode));
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

static int step_done(struct merger *m, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_error(m->db, "directory update", m->err, m->errlen);
		return -1;
	}
	return 0;
}

static int write_entry(struct merger *m, enum stmt which, const unsigned char digest[DIGEST_LEN])
{
	sqlite3_stmt *st = m->s[which];
	const struct dir_entry *e = &m->g.e;
	const char *f[] = {e->address,         e->bal_type,         e->id_type,         e->id_value,
	                   e->national_id,     e->civility,         e->last_name,       e->first_name,
	                   e->profession_code, e->profession_label, e->speciality_code, e->speciality_label};
	for (int i = 0; i < 12; i++)
		sqlite3_bind_text(st, i + 1, f[i], -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 13, digest, DIGEST_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 14, m->now);
	return step_done(m, st);
}

static int write_structures(struct merger *m)
{
	sqlite3_stmt *st = m->s[S_INS_STRUCT];
	for (size_t i = 0; i < m->g.n; i++) {
		const struct dir_structure *s = &m->g.st[i];
		const char *f[] = {m->g.e.address, s->id_type, s->id_value, s->name, s->service, s->postcode};
		for (int k = 0; k < 6; k++)
			sqlite3_bind_text(st, k + 1, f[k], -1, SQLITE_STATIC);
		if (step_done(m, st) < 0)
			return -1;
	}
	return 0;
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
	sqlite3_stmt *get = m->s[S_GET];
	sqlite3_bind_text(get, 1, m->g.e.address, -1, SQLITE_STATIC);
	int rc = sqlite3_step(get);
	bool found = rc == SQLITE_ROW;
	bool same = found && sqlite3_column_bytes(get, 0) == DIGEST_LEN &&
	            memcmp(sqlite3_column_blob(get, 0), digest, DIGEST_LEN) == 0;
	sqlite3_reset(get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_error(m->db, "directory read", m->err, m->errlen);
		return -1;
	}
	if (same)
		return 0;
	if (found) {
		m->r->changed++;
		sqlite3_bind_text(m->s[S_DEL_STRUCT], 1, m->g.e.address, -1, SQLITE_STATIC);
		if (step_done(m, m->s[S_DEL_STRUCT]) < 0 || write_entry(m, S_UPDATE, digest) < 0)
			return -1;
	} else {
		m->r->added++;
		if (write_entry(m, S_INSERT, digest) < 0)
			return -1;
	}
	return write_structures(m);
}

static void note_too_many(struct merger *m, sqlite3_stmt *scan)
{
	struct dir_import_result *r = m->r;
	r->bad++;
	r->imported--;
	if (r->nbad_kept < DIR_IMPORT_BAD_KEPT) {
		r->bad_lines[r->nbad_kept].line = (uint64_t)sqlite3_column_int64(scan, 0);
		str_copy(r->bad_lines[r->nbad_kept].why, sizeof(r->bad_lines[0].why),
		         "too many structures for one address");
		r->nbad_kept++;
	}
}

/* Adds one staged line to the current group, flushing it when the address changes. */
static int add_row(struct merger *m, sqlite3_stmt *scan)
{
	const unsigned char *addr = sqlite3_column_text(scan, 1);
	if (addr == NULL)
		return 0;
	if (!m->g.open || strcmp((const char *)addr, m->g.e.address) != 0) {
		if (flush_group(m) < 0)
			return -1;
		row_entry(scan, &m->g.e);
		m->g.n = 0;
		m->g.open = true;
	}
	if (m->g.n == MAX_STRUCTURES) {
		note_too_many(m, scan);
		return 0;
	}
	memset(&m->g.st[m->g.n], 0, sizeof(m->g.st[0]));
	row_structure(scan, &m->g.st[m->g.n++]);
	return 0;
}

static int merge_scan(struct merger *m)
{
	int rc;
	while ((rc = sqlite3_step(m->s[S_SCAN])) == SQLITE_ROW)
		if (add_row(m, m->s[S_SCAN]) < 0)
			return -1;
	if (rc != SQLITE_DONE) {
		db_error(m->db, "directory staging scan", m->err, m->errlen);
		return -1;
	}
	return flush_group(m);
}

static int remove_missing(struct merger *m)
{
	if (db_exec(m->db, remove_sql, m->err, m->errlen) < 0 ||
	    db_exec(m->db, remove_entries_sql, m->err, m->errlen) < 0)
		return -1;
	m->r->removed = (uint64_t)sqlite3_changes(m->db);
	return 0;
}

int dir_merge_staged(sqlite3 *db, struct dir_import_result *r, char *err, size_t errlen)
{
	struct merger m = {.db = db, .r = r, .err = err, .errlen = errlen, .now = (int64_t)time(NULL)};
	m.g.st = xcalloc(MAX_STRUCTURES, sizeof(m.g.st[0]));
	int rc = remove_missing(&m);
	for (int i = 0; i < S_COUNT && rc == 0; i++)
		if ((m.s[i] = db_prepare(db, stmt_sql[i], err, errlen)) == NULL)
			rc = -1;
	if (rc == 0)
		rc = merge_scan(&m);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(m.s[i]);
	free(m.g.st);
	return rc;
}
