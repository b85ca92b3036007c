/* account.c: local accounts (see account.h). */
#include "directory/account.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/slots.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"

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

int account_fingerprint(const char *in, char out[65])
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
		str_error(err, errlen, "\"%s\" is not a valid mail address", a->address);
		return 1;
	}
	if (a->role < ROLE_PATIENT || a->role > ROLE_ORGANISATION) {
		str_error(err, errlen, "bad role (patient, professional or organisation)");
		return 1;
	}
	fp[0] = '\0';
	if (cert && account_fingerprint(cert, fp) < 0) {
		str_error(err, errlen, "bad certificate fingerprint: 64 hex digits expected (SHA-256)");
		return 1;
	}
	return 0;
}

static int failed(const char *what, const char *why, char *err, size_t errlen)
{
	if (err != NULL && err[0] == '\0')
		str_error(err, errlen, "%s: %s", what, why);
	return -1;
}

/* 1 when the query finds a row, 0 when not, -1 (err) on error. */
static int exists(struct sql *db, const char *what, const char *sql, const char *param, char *err,
                  size_t errlen)
{
	int64_t one;
	return sql_one(db, what, sql, SQL_ARGS(SQL_TEXT(param)), &one, err, errlen);
}

/* Inside the write transaction. Duplicates are looked for first: with PostgreSQL a
 * violated constraint would abort the whole transaction. */
static int insert_account(struct sql *db, const struct account *a, const char *hash, int64_t *id, char *err,
                          size_t errlen)
{
	char addr[sizeof a->address];
	if (str_copy(addr, sizeof addr, a->address) != 0)
		return failed("account.add", "address too long", err, errlen);
	str_lower(addr);
	int r = exists(db, "account.exists", "SELECT 1 FROM accounts WHERE address = ?1", addr, err, errlen);
	if (r != 0) {
		if (r > 0)
			str_error(err, errlen, "account %s already exists", a->address);
		return r;
	}
	r = sql_one(db, "account.add",
	            "INSERT INTO accounts (address, role, name, rpps, finess, password_hash, created)"
	            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
	            SQL_ARGS(SQL_TEXT(addr), SQL_TEXT(account_role_name(a->role)), SQL_TEXT(a->name),
	                     SQL_TEXT(a->rpps), SQL_TEXT(a->finess), SQL_TEXT(hash), SQL_INT(time(NULL))),
	            id, err, errlen);
	return r == 1 ? 0 : -1;
}

static int insert_cert(struct sql *db, int64_t id, const char *fp, char *err, size_t errlen)
{
	int r = exists(db, "account.cert_exists", "SELECT 1 FROM account_certs WHERE sha256 = ?1", fp, err,
	               errlen);
	if (r != 0) {
		if (r > 0)
			str_error(err, errlen, "certificate %s is already registered to another account", fp);
		return r;
	}
	return sql_exec(db, "account.add_cert",
	                "INSERT INTO account_certs (sha256, account_id) VALUES (?1, ?2)",
	                SQL_ARGS(SQL_TEXT(fp), SQL_INT(id)), err, errlen) == 1
	           ? 0
	           : -1;
}

/* The account row, its certificate and its store side (key, mailboxes). */
static int add_locked(struct store *st, const struct account *a, const char *hash, const char *fp, char *err,
                      size_t errlen)
{
	int64_t id = 0;
	int r = insert_account(store_sql(st), a, hash, &id, err, errlen);
	if (r == 0 && fp[0])
		r = insert_cert(store_sql(st), id, fp, err, errlen);
	if (r == 0 && store_user_create(st, a->address, err, errlen) < 0)
		r = -1;
	return r;
}

int account_add(struct store *st, const struct account *a, const char *password, const char *cert_sha256,
                char *err, size_t errlen)
{
	char fp[65], hash[CRYPTO_HASH_STR_LEN];
	struct sql *db = store_sql(st);
	err[0] = '\0';
	int r = validate(a, cert_sha256, fp, err, errlen);
	if (r != 0)
		return r;
	if (password && crypto_password_hash(password, hash) < 0) {
		str_error(err, errlen, "cannot hash the password (out of memory?)");
		return -1;
	}
	bool own = !sql_in_transaction(db);
	if (own ? sql_begin_write(db, err, errlen) : sql_savepoint(db, "account_add", err, errlen))
		r = -1;
	else
		r = add_locked(st, a, password ? hash : NULL, fp, err, errlen);
	sodium_memzero(hash, sizeof hash);
	if (own && r == 0)
		return sql_commit(db, err, errlen) == 0 ? 0 : -1;
	if (own) {
		sql_rollback(db);
		return r;
	}
	char why[256];
	if (sql_release(db, "account_add", r == 0, why, sizeof why) != 0 && r == 0) {
		str_error(err, errlen, "%s", why);
		r = -1;
	}
	return r;
}

#define ACCOUNT_COLUMNS                                                                                      \
	"id, address, role, name, rpps, finess, password_hash IS NOT NULL, disabled, created, last_login, "  \
	"retention_warned, password_hash, " ACCOUNT_CERTS_TEXT

/* Fields are bounded by what account_add accepts; a longer stored one is damage,
 * reported as an error rather than cut. */
static int read_row(struct sql_stmt *q, struct account *out)
{
	memset(out, 0, sizeof *out);
	out->id = sql_int(q, 0);
	const char *role = sql_text(q, 2);
	out->role = role != NULL ? account_role_parse(role) : 0;
	out->has_password = sql_int(q, 6) != 0;
	out->disabled = sql_int(q, 7) != 0;
	out->created = sql_int(q, 8);
	out->last_login = sql_int(q, 9);
	out->retention_warned = sql_int(q, 10);
	account_password_stamp(sql_text(q, 11), out->password_stamp);
	account_password_stamp(sql_text(q, 12), out->cert_stamp);
	return sql_text_copy(q, 1, out->address, sizeof out->address) |
	       sql_text_copy(q, 3, out->name, sizeof out->name) |
	       sql_text_copy(q, 4, out->rpps, sizeof out->rpps) |
	       sql_text_copy(q, 5, out->finess, sizeof out->finess);
}

/* Runs a query of args expected to return at most one account. */
static int query_row(struct store *st, const char *what, const char *sql, const struct sql_value *args,
                     size_t nargs, struct account *out)
{
	char err[256];
	struct sql_stmt *q = sql_query(store_sql(st), what, sql, args, nargs, err, sizeof err);
	if (q == NULL) {
		log_err("account_read", "error=\"%s\"", err);
		return -1;
	}
	int rc = sql_next(q, err, sizeof err);
	if (rc == 1 && read_row(q, out) != 0) {
		str_error(err, sizeof err, "%s: stored field too long", what);
		rc = -1;
	}
	sql_done(q);
	if (rc < 0)
		log_err("account_read", "error=\"%s\"", err);
	return rc;
}

static int query_one(struct store *st, const char *what, const char *sql, const char *param,
                     struct account *out)
{
	return query_row(st, what, sql, SQL_ARGS(SQL_TEXT(param)), out);
}

/* Addresses are stored lowercase: looking them up lowercase keeps the comparison
 * plain (and engine-neutral) and the index usable. */
static int lower_key(const char *in, char out[256])
{
	if (str_copy(out, 256, in) != 0)
		return -1;
	str_lower(out);
	return 0;
}

int account_get(struct store *st, const char *address, struct account *out)
{
	char key[256];
	if (lower_key(address, key) != 0)
		return 0;
	return query_one(st, "account.get", "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE address = ?1",
	                 key, out);
}

int account_by_cert(struct store *st, const char *sha256, const char *email, struct account *out)
{
	char fp[256] = "", address[256] = "";
	if (sha256 && sha256[0] && lower_key(sha256, fp) != 0)
		fp[0] = '\0';
	if (email && email[0] && lower_key(email, address) != 0)
		address[0] = '\0'; /* longer than any address: none has it */
	if (fp[0] == '\0' && address[0] == '\0')
		return 0;
	/* One statement, where the fingerprint's and then the address's were two (a
	 * submission connection maps its certificate twice: issue 15). "" matches no
	 * fingerprint and no address. */
	return query_row(st, "account.by_cert",
	                 "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE id = coalesce("
	                 "(SELECT account_id FROM account_certs WHERE sha256 = ?1), "
	                 "(SELECT id FROM accounts WHERE address = ?2))",
	                 SQL_ARGS(SQL_TEXT(fp), SQL_TEXT(address)), out);
}

int account_check_password(struct store *st, const char *address, const char *password, struct account *out)
{
	char err[256], key[256];
	int rc = 0, ok = 0;
	struct sql_stmt *q = NULL;
	/* At most auth_hash_concurrency Argon2id checks at once per daemon (64 MiB each):
	 * the others wait their turn up to auth_hash_wait, then fail as temporary. */
	int slot = slots_take();
	if (slot < 0) {
		log_warn("auth.hash_busy", "error=\"no password hashing slot came free in time\"");
		return -1;
	}
	if (lower_key(address, key) == 0) {
		q = sql_query(store_sql(st), "account.password",
		              "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE address = ?1",
		              SQL_ARGS(SQL_TEXT(key)), err, sizeof err);
		rc = q != NULL ? sql_next(q, err, sizeof err) : -1;
	}
	const char *hash = rc == 1 ? sql_text(q, 11) : NULL;
	if (hash != NULL && read_row(q, out) == 0) {
		ok = crypto_password_verify(hash, password) && !out->disabled;
	} else {
		/* Same work for unknown accounts: timing must not reveal which exist. */
		crypto_password_verify_dummy(password);
	}
	sql_done(q);
	slots_give(slot);
	if (rc < 0) {
		log_err("account_read", "error=\"%s\"", err);
		return -1;
	}
	return ok;
}

struct each {
	int (*fn)(const struct account *a, void *arg);
	void *arg;
};

static int each_row(void *arg, struct sql_stmt *q)
{
	struct each *e = arg;
	struct account a;
	if (read_row(q, &a) != 0)
		return 0; /* a damaged row is left out of the listing */
	return e->fn(&a, e->arg) < 0 ? 1 : 0;
}

int account_foreach(struct store *st, int (*fn)(const struct account *a, void *arg), void *arg)
{
	char err[256];
	struct each e = {fn, arg};
	int rc = sql_foreach(store_sql(st), "account.list",
	                     "SELECT " ACCOUNT_COLUMNS " FROM accounts ORDER BY address", SQL_NOARGS,
	                     each_row, &e, err, sizeof err);
	if (rc < 0)
		log_err("account_read", "error=\"%s\"", err);
	return rc < 0 ? -1 : 0;
}

int account_disable(struct store *st, const char *address, char *err, size_t errlen)
{
	char key[256];
	if (lower_key(address, key) != 0) {
		str_error(err, errlen, "no account %s", address);
		return 1;
	}
	int n =
	    sql_exec(store_sql(st), "account.disable", "UPDATE accounts SET disabled = 1 WHERE address = ?1",
	             SQL_ARGS(SQL_TEXT(key)), err, errlen);
	if (n < 0)
		return -1;
	if (n == 0) {
		str_error(err, errlen, "no account %s", address);
		return 1;
	}
	store_account_wake(st, key); /* its open sessions end (imapd: imap_kick.c) */
	return 0;
}

struct cert_list {
	char *out;
	size_t outlen, used;
};

static int cert_row(void *arg, struct sql_stmt *q)
{
	struct cert_list *c = arg;
	const char *fp = sql_text(q, 0);
	size_t n = fp != NULL ? strlen(fp) : 0;
	if (n == 0 || c->used + n + 2 > c->outlen)
		return 1;
	if (c->used)
		c->out[c->used++] = ' ';
	memcpy(c->out + c->used, fp, n + 1);
	c->used += n;
	return 0;
}

int account_cert_list(struct store *st, int64_t account_id, char *out, size_t outlen)
{
	char err[256];
	struct cert_list c = {out, outlen, 0};
	out[0] = '\0';
	int rc = sql_foreach(store_sql(st), "account.certs",
	                     "SELECT sha256 FROM account_certs WHERE account_id = ?1 ORDER BY sha256",
	                     SQL_ARGS(SQL_INT(account_id)), cert_row, &c, err, sizeof err);
	if (rc < 0)
		log_err("account_read", "error=\"%s\"", err);
	return rc < 0 ? -1 : 0;
}
