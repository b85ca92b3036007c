/* vault_forget.c: what the vault keeps about an account that is deleted (mssctl
 * account delete, retention). The audit log is kept: it is the record of what was
 * done, and it holds no content. */
#include "vault/vault.h"

#include <string.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"

/* As patient: everything. As professional: grants and "vault opened" notices, so that
 * an account made again at that address inherits no access; a patient's block of that
 * address stays (it is the patient's decision, and protects them). */
static const struct {
	const char *what, *sql;
} forget_steps[] = {
    {"vault.forget_documents", "DELETE FROM vault_document WHERE patient = ?1"},
    {"vault.forget_grants", "DELETE FROM vault_grant WHERE patient = ?1 OR professional = ?1"},
    {"vault.forget_notices", "DELETE FROM vault_notice WHERE patient = ?1 OR professional = ?1"},
    {"vault.forget_history", "DELETE FROM vault_history_sync WHERE patient = ?1"},
    {"vault.forget_blocks", "DELETE FROM patient_blocks WHERE patient = ?1"},
    {"vault.forget_settings", "DELETE FROM vault_settings WHERE patient = ?1"},
    {"vault.forget_book_mark", "DELETE FROM vault_vacc_stale WHERE patient = ?1"},
};

int vault_forget_account(struct store *st, const char *address, char *err, size_t errlen)
{
	char key[256];
	if (str_copy(key, sizeof key, address) != 0) {
		str_error(err, errlen, "address too long");
		return -1;
	}
	str_lower(key);
	for (size_t i = 0; i < sizeof forget_steps / sizeof forget_steps[0]; i++)
		if (sql_exec(store_sql(st), forget_steps[i].what, forget_steps[i].sql,
		             SQL_ARGS(SQL_TEXT(key)), err, errlen) < 0)
			return -1;
	return 0;
}

/* The professionals' copies of the patient's INVISIBLE_PATIENT documents: mailboxes
 * "<patient>/..." of the service user. Each deletion is its own transaction. */
int vault_forget_hidden_documents(struct store *st, const char *patient, char *err, size_t errlen)
{
	char ps[256], prefix[300];
	struct store_mailbox_list l;
	if (vault_ps_user(store_config(st), ps, sizeof ps) != 0 ||
	    str_format(prefix, sizeof prefix, "%s/", patient) != 0) {
		str_error(err, errlen, "address too long");
		return -1;
	}
	if (store_user_exists(st, ps) != 1)
		return 0;
	if (store_mailbox_list(st, ps, &l, err, errlen) < 0)
		return -1;
	int rc = 0;
	for (size_t i = l.n; i-- > 0 && rc == 0;) /* children (later in name order) first */
		if (str_iprefix(l.v[i].name, prefix) &&
		    store_mailbox_delete(st, ps, l.v[i].name, err, errlen) < 0)
			rc = -1;
	store_mailbox_list_free(&l);
	return rc;
}
