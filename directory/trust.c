/* trust.c: the trust list in the database (see trust.h). */

#include <errno.h>
#include <string.h>

#include "directory/dn.h"
#include "directory/trust.h"
#include "lib/db.h"
#include "lib/str.h"

struct stager {
	sqlite3_stmt *ins;
	char *err;
	size_t errlen;
};

static int stage_entry(const struct trust_entry *e, void *arg)
{
	struct stager *sg = arg;
	char key[DN_KEY_MAX], why[96];
	if (dn_canonical(e->dn, false, key, sizeof(key), why, sizeof(why)) < 0)
		return -1;
	const char *v[] = {e->domain, key, e->dn, e->description, e->updated};
	for (int i = 0; i < 5; i++)
		sqlite3_bind_text(sg->ins, i + 1, v[i], -1, SQLITE_STATIC);
	int rc = sqlite3_step(sg->ins);
	sqlite3_reset(sg->ins);
	if (rc != SQLITE_DONE) {
		db_error(sqlite3_db_handle(sg->ins), "trust staging", sg->err, sg->errlen);
		return -1;
	}
	return 0;
}

static int count_of(sqlite3 *db, const char *sql, uint64_t *out)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int apply(sqlite3 *db, struct trust_import_result *r, char *err, size_t errlen)
{
	if (count_of(db, "SELECT count(*) FROM temp.trust_stage", &r->entries) < 0 ||
	    count_of(db, "SELECT count(DISTINCT domain) FROM temp.trust_stage", &r->domains) < 0 ||
	    count_of(db,
	             "SELECT count(*) FROM (SELECT domain, dn_key FROM temp.trust_stage EXCEPT "
	             "SELECT domain, dn_key FROM main.trust_domain)",
	             &r->added) < 0 ||
	    count_of(db,
	             "SELECT count(*) FROM (SELECT domain, dn_key FROM main.trust_domain EXCEPT "
	             "SELECT domain, dn_key FROM temp.trust_stage)",
	             &r->removed) < 0) {
		db_error(db, "trust diff", err, errlen);
		return -1;
	}
	return db_exec(db,
	               "DELETE FROM main.trust_domain;"
	               "INSERT INTO main.trust_domain (domain, dn_key, dn, description, updated)"
	               " SELECT domain, dn_key, dn, description, updated FROM temp.trust_stage;",
	               err, errlen);
}

/* Parses into the staging table then applies; the caller's transaction is open. */
static int import_in_tx(sqlite3 *db, FILE *f, struct trust_import_result *r, char *err, size_t errlen)
{
	if (db_exec(db,
	            "DROP TABLE IF EXISTS temp.trust_stage;"
	            "CREATE TEMP TABLE trust_stage (domain TEXT NOT NULL, dn_key TEXT NOT NULL,"
	            " dn TEXT NOT NULL, description TEXT NOT NULL, updated TEXT NOT NULL,"
	            " PRIMARY KEY (domain, dn_key)) WITHOUT ROWID;",
	            err, errlen) < 0)
		return -1;
	struct stager sg = {.err = err, .errlen = errlen};
	/* A domain listed twice with the same DN (in any spelling) counts once. */
	sg.ins = db_prepare(db, "INSERT OR IGNORE INTO temp.trust_stage VALUES (?, ?, ?, ?, ?)", err, errlen);
	if (sg.ins == NULL)
		return -1;
	int rc = trust_xml_parse_file(f, stage_entry, &sg, err, errlen) < 0 ? 1 : 0;
	sqlite3_finalize(sg.ins);
	if (rc == 0)
		rc = apply(db, r, err, errlen);
	return rc;
}

int trust_import(sqlite3 *db, const char *path, struct trust_import_result *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		str_format(err, errlen, "%s: %s", path, strerror(errno));
		return 1;
	}
	int rc = db_begin_write(db, err, errlen);
	if (rc == 0)
		rc = import_in_tx(db, f, r, err, errlen);
	if (rc == 0)
		rc = db_commit(db, err, errlen);
	else
		db_rollback(db);
	char ignored[64];
	db_exec(db, "DROP TABLE IF EXISTS temp.trust_stage", ignored, sizeof(ignored));
	fclose(f);
	return rc;
}

static int exists(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	const char *v[] = {a, b, c};
	for (int i = 0; i < 3 && v[i] != NULL; i++)
		sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
	int rc = db_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Both RDN orders are tried: certificates print their subject most specific first
 * (RFC 4514) or least specific first (OpenSSL's default), and an operator must not be
 * refused for the order its DN was printed in. The RDN values must still all match. */
static int dn_keys(const char *dn, char *k1, char *k2)
{
	char why[96];
	if (dn_canonical(dn, false, k1, DN_KEY_MAX, why, sizeof(why)) < 0 ||
	    dn_canonical(dn, true, k2, DN_KEY_MAX, why, sizeof(why)) < 0)
		return -1;
	return 0;
}

int trust_is_listed(sqlite3 *db, const char *domain, const char *dn)
{
	char k1[DN_KEY_MAX], k2[DN_KEY_MAX], dom[256];
	if (dn_keys(dn, k1, k2) < 0 || str_copy(dom, sizeof(dom), domain) < 0)
		return 0;
	str_lower(dom);
	return exists(db, "SELECT 1 FROM trust_domain WHERE domain = ?1 AND dn_key IN (?2, ?3)", dom, k1, k2);
}

int trust_dn_known(sqlite3 *db, const char *dn)
{
	char k1[DN_KEY_MAX], k2[DN_KEY_MAX];
	if (dn_keys(dn, k1, k2) < 0)
		return 0;
	return exists(db, "SELECT 1 FROM trust_domain WHERE dn_key IN (?1, ?2)", k1, k2, NULL);
}

int trust_domain_known(sqlite3 *db, const char *domain)
{
	char dom[256];
	if (str_copy(dom, sizeof(dom), domain) < 0)
		return 0;
	str_lower(dom);
	return exists(db, "SELECT 1 FROM trust_domain WHERE domain = ?1", dom, NULL, NULL);
}

int trust_foreach(sqlite3 *db, const char *pattern, int (*fn)(const struct trust_entry *e, void *arg),
                  void *arg)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
	                       "SELECT domain, dn, description, updated FROM trust_domain "
	                       "WHERE ?1 IS NULL OR instr(domain, lower(?1)) > 0 ORDER BY domain, dn_key",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	db_bind_text(st, 1, pattern);
	int n = 0, rc;
	while ((rc = db_step(st)) == SQLITE_ROW) {
		struct trust_entry e;
		db_column_copy(st, 0, e.domain, sizeof(e.domain));
		db_column_copy(st, 1, e.dn, sizeof(e.dn));
		db_column_copy(st, 2, e.description, sizeof(e.description));
		db_column_copy(st, 3, e.updated, sizeof(e.updated));
		n++;
		if (fn(&e, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? n : -1;
}
