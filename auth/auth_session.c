/* auth_session.c: web sessions in the store (see auth_session.h). */
#include "auth/auth_session.h"

#include <sodium.h>
#include <string.h>

#include "auth/auth_store.h"
#include "lib/str.h"
#include "store/store_sql.h"

/* Lowercase hex of n random bytes (n * 2 + 1 bytes of out). */
static void random_hex(char *out, size_t n)
{
	unsigned char b[32];

	randombytes_buf(b, n);
	sodium_bin2hex(out, n * 2 + 1, b, n);
	sodium_memzero(b, sizeof(b));
}

/* The key the table holds for a token: its SHA-256 in hex. */
static void token_key(const char *token, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(out, 65, h, sizeof(h));
}

static bool token_well_formed(const char *t)
{
	size_t n = strlen(t);

	return n == AUTH_SESSION_TOKEN_LEN && strspn(t, "0123456789abcdef") == n;
}

int auth_session_create(struct store *st, const char *account, const char *peer, time_t now, unsigned idle,
                        struct auth_session *out, char *err, size_t errlen)
{
	struct sql *db = store_sql(st);
	char key[65];

	memset(out, 0, sizeof(*out));
	if (str_copy(out->account, sizeof(out->account), account) < 0) {
		str_error(err, errlen, "%s", "account name too long");
		return -1;
	}
	random_hex(out->token, AUTH_SESSION_TOKEN_LEN / 2);
	random_hex(out->csrf, AUTH_SESSION_TOKEN_LEN / 2);
	token_key(out->token, key);
	if (sql_exec(db, "prune web sessions", "DELETE FROM web_sessions WHERE last_seen < ?1",
	             SQL_ARGS(SQL_INT((int64_t)now - idle)), err, errlen) < 0)
		return -1;
	if (sql_exec(db, "open web session",
	             "INSERT INTO web_sessions(token_sha256, account, csrf, peer, created, last_seen) "
	             "VALUES(?1, ?2, ?3, ?4, ?5, ?5)",
	             SQL_ARGS(SQL_TEXT(key), SQL_TEXT(out->account), SQL_TEXT(out->csrf), SQL_TEXT(peer),
	                      SQL_INT((int64_t)now)),
	             err, errlen) < 0)
		return -1;
	return 0;
}

int auth_session_find(struct store *st, const char *token, time_t now, unsigned idle,
                      struct auth_session *out)
{
	struct sql *db = store_sql(st);
	char key[65], err[256];
	struct sql_stmt *q;
	int rc, found = 0;
	bool gone = false;
	int64_t last = 0;

	memset(out, 0, sizeof(*out));
	if (!token_well_formed(token))
		return 0;
	token_key(token, key);
	/* the account as it is now: one disabled or deleted since the login (mssctl) ends
	 * its sessions at their next request, as it sends nothing more (auth/identity.h) */
	q = sql_query(db, "read web session",
	              "SELECT s.account, s.csrf, s.last_seen, COALESCE(a.disabled, 1) FROM web_sessions s"
	              " LEFT JOIN accounts a ON a.address = s.account WHERE s.token_sha256 = ?1",
	              SQL_ARGS(SQL_TEXT(key)), err, sizeof(err));
	if (q == NULL)
		return -1;
	rc = sql_next(q, err, sizeof(err));
	if (rc == 1) {
		found = sql_text_copy(q, 0, out->account, sizeof(out->account)) == 0 &&
		        sql_text_copy(q, 1, out->csrf, sizeof(out->csrf)) == 0;
		last = sql_int(q, 2);
		gone = sql_int(q, 3) != 0;
	}
	sql_done(q);
	if (rc < 0)
		return -1;
	if (!found)
		return 0;
	if (gone || last < (int64_t)now - idle) { /* over, whatever the browser says */
		memset(out, 0, sizeof(*out));
		return auth_session_end(st, token) < 0 ? -1 : 0;
	}
	str_assert(str_copy(out->token, sizeof(out->token), token), "a well-formed token fits");
	if (sql_exec(db, "touch web session",
	             "UPDATE web_sessions SET last_seen = ?2 WHERE token_sha256 = ?1",
	             SQL_ARGS(SQL_TEXT(key), SQL_INT((int64_t)now)), err, sizeof(err)) < 0)
		return -1;
	return 1;
}

int auth_session_end(struct store *st, const char *token)
{
	char key[65], err[256];

	if (!token_well_formed(token))
		return 0;
	token_key(token, key);
	return sql_exec(store_sql(st), "end web session", "DELETE FROM web_sessions WHERE token_sha256 = ?1",
	                SQL_ARGS(SQL_TEXT(key)), err, sizeof(err)) < 0
	           ? -1
	           : 0;
}

int auth_session_end_others(struct store *st, const char *account, const char *keep_token, char *err,
                            size_t errlen)
{
	char key[65] = "";

	if (keep_token != NULL && token_well_formed(keep_token))
		token_key(keep_token, key);
	return sql_exec(store_sql(st), "end other web sessions",
	                "DELETE FROM web_sessions WHERE account = ?1 AND token_sha256 <> ?2",
	                SQL_ARGS(SQL_TEXT(account), SQL_TEXT(key)), err, errlen) < 0
	           ? -1
	           : 0;
}

bool auth_session_csrf_ok(const struct auth_session *s, const char *given)
{
	if (given == NULL || strlen(given) != AUTH_SESSION_TOKEN_LEN ||
	    strlen(s->csrf) != AUTH_SESSION_TOKEN_LEN)
		return false;
	return sodium_memcmp(s->csrf, given, AUTH_SESSION_TOKEN_LEN) == 0;
}
