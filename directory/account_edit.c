/* account_edit.c: changing and removing accounts, and the rules a new account or
 * password must meet (see account.h). */
#include "directory/account.h"

#include <sodium.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"

static int lower_key(const char *in, char out[256])
{
	if (str_copy(out, 256, in) != 0)
		return -1;
	str_lower(out);
	return 0;
}

/* One UPDATE or DELETE keyed by address: 0 done, 1 no such account, -1. */
static int by_address(struct store *st, const char *what, const char *sql, const char *address,
                      const char *text, char *err, size_t errlen)
{
	char key[256];
	int n = -1;
	if (lower_key(address, key) == 0)
		n = text ? sql_exec(store_sql(st), what, sql, SQL_ARGS(SQL_TEXT(key), SQL_TEXT(text)), err,
		                    errlen)
		         : sql_exec(store_sql(st), what, sql, SQL_ARGS(SQL_TEXT(key)), err, errlen);
	else
		n = 0;
	if (n < 0)
		return -1;
	if (n == 0) {
		str_error(err, errlen, "no account %s", address);
		return 1;
	}
	return 0;
}

int account_enable(struct store *st, const char *address, char *err, size_t errlen)
{
	return by_address(st, "account.enable", "UPDATE accounts SET disabled = 0 WHERE address = ?1",
	                  address, NULL, err, errlen);
}

int account_set_password(struct store *st, const char *address, const char *password, char *err,
                         size_t errlen)
{
	char hash[CRYPTO_HASH_STR_LEN];
	if (crypto_password_hash(password, hash) < 0) {
		str_error(err, errlen, "cannot hash the password (out of memory?)");
		return -1;
	}
	int rc = by_address(st, "account.passwd", "UPDATE accounts SET password_hash = ?2 WHERE address = ?1",
	                    address, hash, err, errlen);
	sodium_memzero(hash, sizeof hash);
	if (rc == 0)
		store_account_wake(st, address); /* a reset after a theft: the thief's sessions end */
	return rc;
}

/* Inside the write transaction: the fingerprint must not belong to another account
 * (looked for first: with PostgreSQL a violated constraint aborts the transaction). */
static int replace_certs(struct sql *db, int64_t id, const char *fp, char *err, size_t errlen)
{
	int64_t owner = 0;
	int r = sql_one(db, "account.cert_owner", "SELECT account_id FROM account_certs WHERE sha256 = ?1",
	                SQL_ARGS(SQL_TEXT(fp)), &owner, err, errlen);
	if (r < 0)
		return -1;
	if (r == 1 && owner != id) {
		str_error(err, errlen, "certificate %s is already registered to another account", fp);
		return 1;
	}
	if (sql_exec(db, "account.cert_clear", "DELETE FROM account_certs WHERE account_id = ?1",
	             SQL_ARGS(SQL_INT(id)), err, errlen) < 0 ||
	    sql_exec(db, "account.add_cert", "INSERT INTO account_certs (sha256, account_id) VALUES (?1, ?2)",
	             SQL_ARGS(SQL_TEXT(fp), SQL_INT(id)), err, errlen) != 1)
		return -1;
	return 0;
}

int account_set_cert(struct store *st, const char *address, const char *cert_sha256, char *err, size_t errlen)
{
	char fp[65];
	struct account a;
	if (account_fingerprint(cert_sha256, fp) < 0) {
		str_error(err, errlen, "bad certificate fingerprint: 64 hex digits expected (SHA-256)");
		return 1;
	}
	struct sql *db = store_sql(st);
	if (sql_begin_write(db, err, errlen) < 0)
		return -1;
	int r = account_get(st, address, &a);
	if (r == 0) {
		str_error(err, errlen, "no account %s", address);
		r = 1;
	} else if (r == 1) {
		r = replace_certs(db, a.id, fp, err, errlen);
	} else {
		str_error(err, errlen, "cannot read accounts");
	}
	if (r != 0) {
		sql_rollback(db);
		return r;
	}
	if (sql_commit(db, err, errlen) != 0)
		return -1;
	/* the sessions that logged in with a certificate end (imapd: imap_kick.c; submission
	 * refuses their next MAIL): the old one may be the stolen one being replaced */
	store_account_wake(st, a.address);
	return 0;
}

int account_remove(struct store *st, const char *address, char *err, size_t errlen)
{
	/* account_certs rows go with it (ON DELETE CASCADE). */
	int rc = by_address(st, "account.delete", "DELETE FROM accounts WHERE address = ?1", address, NULL,
	                    err, errlen);
	if (rc == 0)
		store_account_wake(st, address); /* at the caller's store_notify_flush */
	return rc;
}

int account_touch_login(struct store *st, int64_t account_id, int64_t now, char *err, size_t errlen)
{
	return sql_exec(store_sql(st), "account.login",
	                "UPDATE accounts SET last_login = ?2 WHERE id = ?1 AND last_login <= ?2 - ?3",
	                SQL_ARGS(SQL_INT(account_id), SQL_INT(now), SQL_INT(ACCOUNT_LOGIN_RESOLUTION)), err,
	                errlen) < 0
	           ? -1
	           : 0;
}

int account_set_warned(struct store *st, int64_t account_id, int64_t when, char *err, size_t errlen)
{
	return sql_exec(store_sql(st), "account.warned",
	                "UPDATE accounts SET retention_warned = ?2 WHERE id = ?1",
	                SQL_ARGS(SQL_INT(account_id), SQL_INT(when)), err, errlen) < 0
	           ? -1
	           : 0;
}

/* UTF-8 characters, not bytes: a password of accented letters is as long as it reads. */
static size_t utf8_length(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

int account_password_allowed(const struct mss_config *cfg, const char *password, char *err, size_t errlen)
{
	if (utf8_length(password) >= cfg->password_min_length)
		return 0;
	str_error(err, errlen, "password too short: at least %u characters (password_min_length)",
	          cfg->password_min_length);
	return 1;
}

int account_address_allowed(const struct mss_config *cfg, const char *address, enum account_role role,
                            char *err, size_t errlen)
{
	const char *domain = str_address_domain(address);
	if (role == ROLE_PATIENT)
		return 0;
	if (cfg->patient_domain[0] && str_ieq(domain, cfg->patient_domain)) {
		str_error(err, errlen, "%s is in the patient domain %s: a %s lives in domains (%s)", address,
		          cfg->patient_domain, account_role_name(role), cfg->domains);
		return 1;
	}
	if (!str_list_contains(cfg->domains, domain)) {
		str_error(err, errlen, "%s is not in a domain served here: a %s must be in domains (%s)",
		          address, account_role_name(role), cfg->domains);
		return 1;
	}
	return 0;
}
