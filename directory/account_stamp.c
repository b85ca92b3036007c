/* account_stamp.c: what a logged-in session compares when its account is woken
 * (account.h account_stamp, imapd's imap_kick.c). */
#include "directory/account.h"

#include <sodium.h>
#include <string.h>

#include "lib/log.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"

void account_password_stamp(const char *hash, unsigned char out[ACCOUNT_STAMP_SIZE])
{
	memset(out, 0, ACCOUNT_STAMP_SIZE);
	if (hash != NULL)
		crypto_generichash(out, ACCOUNT_STAMP_SIZE, (const unsigned char *)hash, strlen(hash), NULL,
		                   0);
}

int account_stamp(struct store *st, const char *address, struct account_stamp *out)
{
	char key[256], err[256];
	memset(out, 0, sizeof *out);
	if (str_copy(key, sizeof key, address) != 0)
		return 0;
	str_lower(key);
	struct sql_stmt *q = sql_query(store_sql(st), "account.stamp",
	                               "SELECT id, disabled, password_hash, " ACCOUNT_CERTS_TEXT
	                               " FROM accounts WHERE address = ?1",
	                               SQL_ARGS(SQL_TEXT(key)), err, sizeof err);
	int rc = q != NULL ? sql_next(q, err, sizeof err) : -1;
	if (rc == 1) {
		out->id = sql_int(q, 0);
		out->disabled = sql_int(q, 1) != 0;
		account_password_stamp(sql_text(q, 2), out->password);
		account_password_stamp(sql_text(q, 3), out->certs);
	}
	sql_done(q);
	if (rc < 0)
		log_err("account_read", "error=\"%s\"", err);
	return rc;
}
