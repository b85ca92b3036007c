/* auth_password.c: a patient's own password change (auth_password.h). */
#include "auth/auth_password.h"

#include <string.h>

#include "audit/audit.h"
#include "auth/auth_session.h"
#include "directory/account.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"

static int change_locked(struct store *st, const char *account, const char *peer, const char *keep_token,
                         const char *password, char *err, size_t errlen)
{
	struct account a;
	int r = account_get(st, account, &a);

	if (r < 0)
		return -1;
	if (r == 0) {
		str_error(err, errlen, "no account %s", account);
		return -1;
	}
	if (account_set_password(st, a.address, password, err, errlen) != 0)
		return -1;
	if (auth_session_end_others(st, a.address, keep_token, err, errlen) < 0)
		return -1;
	struct audit_event ev = {.actor = a.address,
	                         .auth = "password",
	                         .action = "account.password",
	                         .target = a.address,
	                         .detail = "web",
	                         .result = "ok",
	                         .peer = peer ? peer : "",
	                         .patient = a.role == ROLE_PATIENT ? a.address : ""};
	return audit_append(st, &ev, err, errlen) == 0 ? 0 : -1;
}

int auth_password_change(struct store *st, const struct mss_config *cfg, const char *account,
                         const char *peer, const char *keep_token, const char *password, char *err,
                         size_t errlen)
{
	struct sql *db = store_sql(st);
	int r = account_password_allowed(cfg, password, err, errlen);

	if (r != 0)
		return r;
	if (sql_begin_write(db, err, errlen) != 0)
		return -1;
	r = change_locked(st, account, peer, keep_token, password, err, errlen);
	if (r == 0 && sql_commit(db, err, errlen) != 0)
		return -1;
	if (r == 0) {
		store_notify_flush(st); /* the account's IMAP sessions (account_set_password) */
		return 0;
	}
	sql_rollback(db);
	return r;
}
