/* account.c: local accounts (see account.h). */
#include "directory/account.h"

#include <string.h>
#include <time.h>

#include "lib/crypto.h"
#include "lib/db.h"
#include "lib/str.h"

static const char *const role_names[] = {
    [ROLE_PATIENT] = "patient", [ROLE_PROFESSIONAL] = "professional", [ROLE_ORGANISATION] = "organisation"};

enum account_role account_role_parse(const char *s)
{
	for (int r = ROLE_PATIENT; r <= ROLE_ORGANISATION; r++)
		if (strcmp(s, role_names[r]) == 0)
			return (enum account_role)r;
	return 0;
}

const char *account_role_name(enum account_role r)
{
	return (r >= ROLE_PATIENT && r <= ROLE_ORGANISATION) ? role_names[r] : "unknown";
}

static bool is_sha256_hex(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
			return false;
	return true;
}

/* Certificate fingerprints are accepted as plain hex or colon-separated (openssl's form). */
static int normalise_fingerprint(const char *in, char out[65])
{
	size_t o = 0;
	for (const char *p = in; *p; p++) {
		if (*p == ':')
			continue;
		if (o >= 64)
			return -1;
		out[o++] = (char)((*p >= 'A' && *p <= 'F') ? *p + 32 : *p);
	}
	out[o] = '\0';
	return is_sha256_hex(out) ? 0 : -1;
}

static int validate(const struct account *a, const char *cert, char fp[65], char *err, size_t errlen)
{
	if (!str_is_address(a->address)) {
		str_format(err, errlen, "\"%s\" is not a valid mail address", a->address);
		return 1;
	}
	if (a->role < ROLE_PATIENT || a->role > ROLE_ORGANISATION) {
		str_format(err, errlen, "bad role (patient, professional or organisation)");
		return 1;
	}
	fp[0] = '\0';
	if (cert && normalise_fingerprint(cert, fp) < 0) {
		str_format(err, errlen, "bad certificate fingerprint: 64 hex digits expected (SHA-256)");
		return 1;
	}
	return 0;
}

static int insert_account(sqlite3 *db, const struct account *a, const char *hash, char *err, size_t errlen)
{
	sqlite3_stmt *st =
	    db_prepare(db,
	               "INSERT INTO accounts(address, role, name, rpps, finess, password_hash, created) "
	               "VALUES(lower(?), ?, ?, ?, ?, ?, ?)",
	               err, errlen);
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, a->address);
	db_bind_text(st, 2, account_role_name(a->role));
	db_bind_text(st, 3, a->name);
	db_bind_text(st, 4, a->rpps);
	db_bind_text(st, 5, a->finess);
	db_bind_text(st, 6, hash);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		str_format(err, errlen, "account %s already exists", a->address);
		return 1;
	}
	if (rc != SQLITE_DONE) {
		db_error(db, "add account", err, errlen);
		return -1;
	}
	return 0;
}

static int insert_cert(sqlite3 *db, int64_t id, const char *fp, char *err, size_t errlen)
{
	sqlite3_stmt *st =
	    db_prepare(db, "INSERT INTO account_certs(sha256, account_id) VALUES(?, ?)", err, errlen);
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, fp);
	sqlite3_bind_int64(st, 2, id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		str_format(err, errlen, "certificate %s is already registered to another account", fp);
		return 1;
	}
	if (rc != SQLITE_DONE) {
		db_error(db, "add certificate", err, errlen);
		return -1;
	}
	return 0;
}

int account_add(sqlite3 *db, const struct account *a, const char *password, const char *cert_sha256,
                char *err, size_t errlen)
{
	char fp[65];
	int r = validate(a, cert_sha256, fp, err, errlen);
	if (r != 0)
		return r;
	char hash[CRYPTO_HASH_STR_LEN];
	if (password && crypto_password_hash(password, hash) < 0) {
		str_format(err, errlen, "cannot hash the password (out of memory?)");
		return -1;
	}
	r = insert_account(db, a, password ? hash : NULL, err, errlen);
	sodium_memzero(hash, sizeof hash);
	if (r == 0 && fp[0])
		r = insert_cert(db, sqlite3_last_insert_rowid(db), fp, err, errlen);
	return r;
}

#define ACCOUNT_COLUMNS "id, address, role, name, rpps, finess, password_hash IS NOT NULL, disabled, created"

static void read_row(sqlite3_stmt *st, struct account *out)
{
	memset(out, 0, sizeof *out);
	out->id = sqlite3_column_int64(st, 0);
	db_column_copy(st, 1, out->address, sizeof out->address);
	out->role = account_role_parse((const char *)sqlite3_column_text(st, 2));
	db_column_copy(st, 3, out->name, sizeof out->name);
	db_column_copy(st, 4, out->rpps, sizeof out->rpps);
	db_column_copy(st, 5, out->finess, sizeof out->finess);
	out->has_password = sqlite3_column_int(st, 6) != 0;
	out->disabled = sqlite3_column_int(st, 7) != 0;
	out->created = sqlite3_column_int64(st, 8);
}

/* Runs a one-parameter query expected to return at most one account. */
static int query_one(sqlite3 *db, const char *sql, const char *param, struct account *out)
{
	char err[256];
	sqlite3_stmt *st = db_prepare(db, sql, err, sizeof err);
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, param);
	int rc = db_step(st);
	int found = rc == SQLITE_ROW;
	if (found)
		read_row(st, out);
	sqlite3_finalize(st);
	return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? found : -1;
}

int account_get(sqlite3 *db, const char *address, struct account *out)
{
	return query_one(db, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE address = ?", address, out);
}

int account_by_cert(sqlite3 *db, const char *sha256, const char *email, struct account *out)
{
	if (sha256 && sha256[0]) {
		int r = query_one(db,
		                  "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE id = "
		                  "(SELECT account_id FROM account_certs WHERE sha256 = lower(?))",
		                  sha256, out);
		if (r != 0)
			return r;
	}
	if (email && email[0])
		return account_get(db, email, out);
	return 0;
}

int account_check_password(sqlite3 *db, const char *address, const char *password, struct account *out)
{
	char err[256];
	sqlite3_stmt *st = db_prepare(
	    db, "SELECT " ACCOUNT_COLUMNS ", password_hash FROM accounts WHERE address = ?", err, sizeof err);
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, address);
	int rc = db_step(st);
	int ok = 0;
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 9) == SQLITE_TEXT) {
		read_row(st, out);
		ok = crypto_password_verify((const char *)sqlite3_column_text(st, 9), password) &&
		     !out->disabled;
	} else {
		/* Same work for unknown accounts: timing must not reveal which exist. */
		crypto_password_verify_dummy(password);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	return ok;
}

int account_foreach(sqlite3 *db, int (*fn)(const struct account *a, void *arg), void *arg)
{
	char err[256];
	sqlite3_stmt *st =
	    db_prepare(db, "SELECT " ACCOUNT_COLUMNS " FROM accounts ORDER BY address", err, sizeof err);
	if (st == NULL)
		return -1;
	int rc;
	while ((rc = db_step(st)) == SQLITE_ROW) {
		struct account a;
		read_row(st, &a);
		if (fn(&a, arg) < 0)
			break;
	}
	sqlite3_finalize(st);
	return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : -1;
}

int account_disable(sqlite3 *db, const char *address, char *err, size_t errlen)
{
	sqlite3_stmt *st = db_prepare(db, "UPDATE accounts SET disabled = 1 WHERE address = ?", err, errlen);
	if (st == NULL)
		return -1;
	db_bind_text(st, 1, address);
	int rc = db_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(db, "disable account", err, errlen);
		return -1;
	}
	if (sqlite3_changes(db) == 0) {
		str_format(err, errlen, "no account %s", address);
		return 1;
	}
	return 0;
}

int account_cert_list(sqlite3 *db, int64_t account_id, char *out, size_t outlen)
{
	char err[256];
	out[0] = '\0';
	sqlite3_stmt *st = db_prepare(
	    db, "SELECT sha256 FROM account_certs WHERE account_id = ? ORDER BY sha256", err, sizeof err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, account_id);
	size_t used = 0;
	while (db_step(st) == SQLITE_ROW) {
		const char *fp = (const char *)sqlite3_column_text(st, 0);
		size_t n = strlen(fp);
		if (used + n + 2 > outlen)
			break;
		if (used)
			out[used++] = ' ';
		memcpy(out + used, fp, n + 1);
		used += n;
	}
	sqlite3_finalize(st);
	return 0;
}
