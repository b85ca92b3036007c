/* vault_settings.c: the patient's notification settings (vault_settings.h). */
#include "vault/vault_settings.h"

#include <string.h>

#include "audit/audit.h"
#include "directory/account.h"
#include "lib/log.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_sql.h"

/* The column notify holds one bit per kind, so that one integer reads them all. */
#define BIT_DOCUMENTS 1
#define BIT_ACCESS 2

static int lower_copy(char *out, size_t outlen, const char *in)
{
	if (in == NULL || str_copy(out, outlen, in) < 0)
		return -1;
	str_lower(out);
	return 0;
}

int vault_settings_get(struct store *st, const char *patient, struct vault_settings *out)
{
	char p[256], err[256];
	int64_t bits = BIT_DOCUMENTS | BIT_ACCESS;
	int rc = 0;

	if (lower_copy(p, sizeof p, patient) == 0)
		rc = sql_one(store_sql(st), "vault.settings",
		             "SELECT notify FROM vault_settings WHERE patient = ?1", SQL_ARGS(SQL_TEXT(p)),
		             &bits, err, sizeof err);
	if (rc < 0) {
		log_err("vault.settings", "error=\"%s\"", err);
		bits = BIT_DOCUMENTS | BIT_ACCESS;
	}
	out->notify_documents = (bits & BIT_DOCUMENTS) != 0;
	out->notify_access = (bits & BIT_ACCESS) != 0;
	return rc < 0 ? -1 : 0;
}

static int set_locked(struct store *st, const struct vault_actor *who, const char *patient,
                      const struct vault_settings *s, char *err, size_t errlen)
{
	int64_t bits = (s->notify_documents ? BIT_DOCUMENTS : 0) | (s->notify_access ? BIT_ACCESS : 0);
	char detail[64];
	struct account a;
	int r = account_get(st, patient, &a);

	if (r < 0)
		return -1;
	if (r == 0 || a.role != ROLE_PATIENT) {
		str_error(err, errlen, "not a patient account here");
		return 1;
	}
	if (sql_exec(store_sql(st), "vault.settings_set",
	             "INSERT INTO vault_settings (patient, notify) VALUES (?1, ?2)"
	             " ON CONFLICT (patient) DO UPDATE SET notify = excluded.notify",
	             SQL_ARGS(SQL_TEXT(patient), SQL_INT(bits)), err, errlen) < 0)
		return -1;
	if (str_format(detail, sizeof detail, "documents=%s access=%s", s->notify_documents ? "on" : "off",
	               s->notify_access ? "on" : "off") < 0)
		return -1;
	struct audit_event ev = {.actor = who->actor,
	                         .auth = who->auth,
	                         .action = "settings.notify",
	                         .target = patient,
	                         .detail = detail,
	                         .result = "ok",
	                         .peer = who->peer ? who->peer : "",
	                         .patient = patient};
	return audit_append(st, &ev, err, errlen) == 0 ? 0 : -1;
}

int vault_settings_set(struct store *st, const struct vault_actor *who, const char *patient_in,
                       const struct vault_settings *s, char *err, size_t errlen)
{
	struct sql *db = store_sql(st);
	char patient[256];
	int r;

	if (lower_copy(patient, sizeof patient, patient_in) < 0) {
		str_error(err, errlen, "not a valid address");
		return 1;
	}
	if (sql_begin_write(db, err, errlen) != 0)
		return -1;
	r = set_locked(st, who, patient, s, err, errlen);
	if (r == 0)
		return sql_commit(db, err, errlen) == 0 ? 0 : -1;
	sql_rollback(db);
	return r;
}
