/* trust.c: the trust list in the database (see trust.h). */

#include <errno.h>
#include <string.h>

#include "directory/dn.h"
#include "directory/trust.h"
#include "lib/log.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"

struct stager {
	struct sql *db;
	char *err;
	size_t errlen;
};

static int stage_entry(const struct trust_entry *e, void *arg)
{
	struct stager *sg = arg;
	char key[DN_KEY_MAX], why[96];
	if (dn_canonical(e->dn, false, key, sizeof(key), why, sizeof(why)) < 0)
		return -1;
	/* A domain listed twice with the same DN (in any spelling) counts once. */
	return sql_exec(sg->db, "trust.stage",
	                "INSERT INTO trust_stage VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (domain, dn_key) DO "
	                "NOTHING",
	                SQL_ARGS(SQL_TEXT(e->domain), SQL_TEXT(key), SQL_TEXT(e->dn),
	                         SQL_TEXT(e->description), SQL_TEXT(e->updated)),
	                sg->err, sg->errlen) < 0
	           ? -1
	           : 0;
}

static int count_of(struct sql *db, const char *sql, uint64_t *out, char *err, size_t errlen)
{
	int64_t n = 0;
	int rc = sql_one(db, "trust.diff", sql, SQL_NOARGS, &n, err, errlen);
	*out = (uint64_t)n;
	return rc == 1 ? 0 : -1;
}

static int apply(struct sql *db, struct trust_import_result *r, char *err, size_t errlen)
{
	if (count_of(db, "SELECT count(*) FROM trust_stage", &r->entries, err, errlen) < 0 ||
	    count_of(db, "SELECT count(DISTINCT domain) FROM trust_stage", &r->domains, err, errlen) < 0 ||
	    count_of(db,
	             "SELECT count(*) FROM (SELECT domain, dn_key FROM trust_stage EXCEPT "
	             "SELECT domain, dn_key FROM trust_domain) AS added",
	             &r->added, err, errlen) < 0 ||
	    count_of(db,
	             "SELECT count(*) FROM (SELECT domain, dn_key FROM trust_domain EXCEPT "
	             "SELECT domain, dn_key FROM trust_stage) AS removed",
	             &r->removed, err, errlen) < 0)
		return -1;
	return sql_script(db, "trust.apply",
	                  "DELETE FROM trust_domain;"
	                  "INSERT INTO trust_domain (domain, dn_key, dn, description, updated)"
	                  " SELECT domain, dn_key, dn, description, updated FROM trust_stage;",
	                  err, errlen);
}

/* Parses into the staging table then applies; the caller's transaction is open. The
 * staging table is a temporary one (per connection, dropped afterwards). */
static int import_in_tx(struct sql *db, FILE *f, struct trust_import_result *r, char *err, size_t errlen)
{
	if (sql_script(db, "trust.stage",
	               "DROP TABLE IF EXISTS trust_stage;"
	               "CREATE TEMP TABLE trust_stage (domain TEXT NOT NULL, dn_key TEXT NOT NULL,"
	               " dn TEXT NOT NULL, description TEXT NOT NULL, updated TEXT NOT NULL,"
	               " PRIMARY KEY (domain, dn_key));",
	               err, errlen) < 0)
		return -1;
	struct stager sg = {.db = db, .err = err, .errlen = errlen};
	err[0] = '\0';
	int rc = trust_xml_parse_file(f, stage_entry, &sg, err, errlen) < 0 ? 1 : 0;
	if (rc == 0)
		rc = apply(db, r, err, errlen);
	return rc;
}

int trust_import(struct store *st, const char *path, struct trust_import_result *r, char *err, size_t errlen)
{
	struct sql *db = store_sql(st);
	memset(r, 0, sizeof(*r));
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		str_error(err, errlen, "%s: %s", path, strerror(errno));
		return 1;
	}
	int rc = sql_begin_write(db, err, errlen);
	if (rc == 0)
		rc = import_in_tx(db, f, r, err, errlen);
	if (rc == 0)
		rc = sql_commit(db, err, errlen);
	else
		sql_rollback(db);
	char ignored[64];
	if (sql_script(db, "trust.unstage", "DROP TABLE IF EXISTS trust_stage", ignored, sizeof(ignored)) !=
	    0)
		log_warn("trust_import", "error=\"%s\"", ignored);
	fclose(f);
	return rc;
}

static int exists(struct store *st, const char *what, const char *sql, const struct sql_value *args, size_t n)
{
	char err[256];
	int64_t one;
	int rc = sql_one(store_sql(st), what, sql, args, n, &one, err, sizeof(err));
	if (rc < 0)
		log_err("trust_read", "error=\"%s\"", err);
	return rc;
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

int trust_is_listed(struct store *st, const char *domain, const char *dn)
{
	char k1[DN_KEY_MAX], k2[DN_KEY_MAX], dom[256];
	if (dn_keys(dn, k1, k2) < 0 || str_copy(dom, sizeof(dom), domain) < 0)
		return 0;
	str_lower(dom);
	/* Two lookups of the key, not "dn_key IN (?2, ?3)": for an IN list of parameters
	 * SQLite builds, fills and frees a temporary b-tree at every MX MAIL command (a third
	 * of this statement's cost, 2 % of the MX session process's CPU). */
	return exists(st, "trust.listed",
	              "SELECT 1 FROM trust_domain WHERE domain = ?1 AND dn_key = ?2"
	              " UNION ALL SELECT 1 FROM trust_domain WHERE domain = ?1 AND dn_key = ?3",
	              SQL_ARGS(SQL_TEXT(dom), SQL_TEXT(k1), SQL_TEXT(k2)));
}

int trust_dn_known(struct store *st, const char *dn)
{
	char k1[DN_KEY_MAX], k2[DN_KEY_MAX];
	if (dn_keys(dn, k1, k2) < 0)
		return 0;
	return exists(st, "trust.dn_known", "SELECT 1 FROM trust_domain WHERE dn_key IN (?1, ?2)",
	              SQL_ARGS(SQL_TEXT(k1), SQL_TEXT(k2)));
}

int trust_domain_known(struct store *st, const char *domain)
{
	char dom[256];
	if (str_copy(dom, sizeof(dom), domain) < 0)
		return 0;
	str_lower(dom);
	return exists(st, "trust.domain_known", "SELECT 1 FROM trust_domain WHERE domain = ?1",
	              SQL_ARGS(SQL_TEXT(dom)));
}

struct walk {
	int (*fn)(const struct trust_entry *e, void *arg);
	void *arg;
	int n;
};

static int trust_row(void *arg, struct sql_stmt *q)
{
	struct walk *w = arg;
	struct trust_entry e;
	if ((sql_text_copy(q, 0, e.domain, sizeof(e.domain)) | sql_text_copy(q, 1, e.dn, sizeof(e.dn)) |
	     sql_text_copy(q, 2, e.description, sizeof(e.description)) |
	     sql_text_copy(q, 3, e.updated, sizeof(e.updated))) != 0)
		return 0; /* longer than the import accepts: left out */
	w->n++;
	return w->fn(&e, w->arg) != 0 ? 1 : 0;
}

int trust_foreach(struct store *st, const char *pattern, int (*fn)(const struct trust_entry *e, void *arg),
                  void *arg)
{
	char like[300], err[256];
	struct walk w = {fn, arg, 0};
	size_t o = 0;
	/* the pattern matched anywhere in the domain, as typed: its own % _ \ escaped */
	like[o++] = '%';
	for (const char *p = pattern ? pattern : ""; *p; p++) {
		if (o + 3 >= sizeof(like))
			return 0;
		if (*p == '%' || *p == '_' || *p == '\\')
			like[o++] = '\\';
		like[o++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p + 32) : *p;
	}
	like[o++] = '%';
	like[o] = '\0';
	int rc = sql_foreach(
	    store_sql(st), "trust.list",
	    "SELECT domain, dn, description, updated FROM trust_domain WHERE domain LIKE ?1 ESCAPE '\\'"
	    " ORDER BY domain, dn_key",
	    SQL_ARGS(SQL_TEXT(like)), trust_row, &w, err, sizeof(err));
	if (rc < 0) {
		log_err("trust_read", "error=\"%s\"", err);
		return -1;
	}
	return w.n;
}
