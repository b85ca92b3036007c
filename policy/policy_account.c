/* policy_account.c: disabling an account, and deleting it across every part that keeps
 * data about it (mssctl account disable|delete, retention). A deletion's rows go in
 * one transaction, so a failure leaves the account whole; blob files go after the
 * commit. */
#include <string.h>

#include "directory/account.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "policy/policy.h"
#include "store/store_sql.h"
#include "vault/vault.h"
#include "vault/vault_access.h"

/* Authorised contacts of the patient, and those naming the address as contact. */
static int forget_contacts(struct store *st, const char *address, char *err, size_t errlen)
{
	return sql_exec(store_sql(st), "policy.forget_contacts",
	                "DELETE FROM policy_contacts WHERE patient = ?1 OR contact = ?1",
	                SQL_ARGS(SQL_TEXT(address)), err, errlen) < 0
	           ? -1
	           : 0;
}

static int delete_rows(struct store *st, const struct account *a, struct store_paths *gone, char *err,
                       size_t errlen)
{
	int rc = account_remove(st, a->address, err, errlen);
	if (rc == 0) {
		rc = store_user_delete(st, a->address, gone, err, errlen);
		if (rc == 1) /* an account without mailboxes (damaged): the rest still goes */
			rc = 0;
	}
	if (rc == 0)
		rc = vault_forget_account(st, a->address, err, errlen);
	if (rc == 0)
		rc = forget_contacts(st, a->address, err, errlen);
	return rc;
}

int policy_account_delete(struct store *st, const char *address, struct account *deleted, char *err,
                          size_t errlen)
{
	struct sql *db = store_sql(st);
	struct store_paths gone = {0};
	memset(deleted, 0, sizeof *deleted);
	if (sql_begin_write(db, err, errlen) < 0)
		return -1;
	int rc = account_get(st, address, deleted);
	if (rc == 1)
		rc = delete_rows(st, deleted, &gone, err, errlen);
	else if (rc == 0) {
		str_error(err, errlen, "no account %s", address);
		rc = 1;
	}
	if (rc != 0 || sql_commit(db, err, errlen) != 0) {
		sql_rollback(db);
		store_paths_free(&gone);
		return rc != 0 ? rc : -1;
	}
	store_notify_flush(st);
	store_paths_unlink(&gone);
	if (deleted->role == ROLE_PATIENT &&
	    vault_forget_hidden_documents(st, deleted->address, err, errlen) < 0)
		return 2;
	return 0;
}

int policy_account_disable(struct store *st, const char *address, char *err, size_t errlen)
{
	struct account a;
	int rc = account_get(st, address, &a);
	if (rc < 0) {
		str_error(err, errlen, "cannot read account %s", address);
		return -1;
	}
	rc = account_disable(st, address, err, errlen);
	if (rc == 0 && a.role == ROLE_PATIENT)
		vault_wake_readers(st, a.address); /* after account_disable's commit: they find it */
	return rc;
}
