/* vault_access.c: grants, blocks and the read decision (see vault_access.h). */
#include "vault/vault_access.h"

#include <string.h>

#include "directory/account.h"
#include "lib/db.h"
#include "lib/log.h"
#include "lib/str.h"
#include "audit/audit.h"

#define ADDR_MAX 256

enum access_op { OP_GRANT, OP_REVOKE, OP_BLOCK, OP_UNBLOCK };

static const char *const op_action[] = {"access.grant", "access.revoke", "access.block", "access.unblock"};

int vault_audit(sqlite3 *db, const struct vault_actor *who, const char *action, const char *patient,
                const char *target, const char *detail, const char *result)
{
	char err[256];
	struct audit_event ev = {.actor = who->actor,
	                         .auth = who->auth,
	                         .action = action,
	                         .target = target,
	                         .detail = detail,
	                         .result = result,
	                         .peer = who->peer ? who->peer : "",
	                         .patient = patient};
	if (audit_append(db, &ev, err, sizeof err) != 0) {
		log_err("audit_failed", "action=%s error=\"%s\"", action, err);
		return -1;
	}
	return 0;
}

static int lower_copy(char *out, const char *in)
{
	if (str_copy(out, ADDR_MAX, in) != 0 || !str_is_address(out))
		return -1;
	str_lower(out);
	return 0;
}

static int refuse(char *err, size_t errlen, const char *why)
{
	str_copy(err, errlen, why);
	return 1;
}

/* Both parties as the operation needs them. Returns 0, or 1 with err. */
static int check_parties(sqlite3 *db, enum access_op op, const char *patient, const char *pro, char *err,
                         size_t errlen)
{
	struct account a;
	int r = account_get(db, patient, &a);
	if (r < 0)
		return -1;
	if (r == 0 || a.role != ROLE_PATIENT)
		return refuse(err, errlen, "not a patient account here");
	if (op != OP_GRANT)
		return 0;
	r = account_get(db, pro, &a);
	if (r < 0)
		return -1;
	if (r == 0 || (a.role != ROLE_PROFESSIONAL && a.role != ROLE_ORGANISATION))
		return refuse(err, errlen, "not a professional or organisation account here");
	if (a.disabled)
		return refuse(err, errlen, "the professional's account is disabled");
	r = vault_is_blocked(db, patient, pro);
	if (r != 0)
		return r < 0
		           ? -1
		           : refuse(err, errlen, "the professional is blocked by the patient: unblock first");
	return 0;
}

static const char *const op_sql[] = {
    ("INSERT OR IGNORE INTO vault_grant (patient, professional, rights, created, created_by)"
     " VALUES (?1, ?2, 'lr', strftime('%s','now'), ?3)"),
    "DELETE FROM vault_grant WHERE patient = ?1 AND professional = ?2",
    "INSERT OR IGNORE INTO patient_blocks (patient, professional) VALUES (?1, ?2)",
    "DELETE FROM patient_blocks WHERE patient = ?1 AND professional = ?2",
};

/* Runs the statement; returns rows changed, or -1. */
static int apply(sqlite3 *db, enum access_op op, const char *patient, const char *pro, const char *actor,
                 char *err, size_t errlen)
{
	sqlite3_stmt *st = db_prepare(db, op_sql[op], err, errlen);
	if (!st)
		return -1;
	db_bind_text(st, 1, patient);
	db_bind_text(st, 2, pro);
	if (sqlite3_bind_parameter_count(st) >= 3)
		db_bind_text(st, 3, actor);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(db, op_action[op], err, errlen);
		return -1;
	}
	return sqlite3_changes(db);
}

/* Decides and applies inside one write transaction. 0 done, 1 refused, -1. */
static int run_locked(sqlite3 *db, const struct vault_actor *who, enum access_op op, const char *patient,
                      const char *pro, char *err, size_t errlen)
{
	int r = check_parties(db, op, patient, pro, err, errlen);
	if (r != 0)
		return r;
	int changed = apply(db, op, patient, pro, who->actor, err, errlen);
	if (changed < 0)
		return -1;
	if (changed == 0 && op == OP_REVOKE)
		return refuse(err, errlen, "no such grant");
	if (changed == 0 && op == OP_UNBLOCK)
		return refuse(err, errlen, "no such block");
	struct audit_event ev = {.actor = who->actor,
	                         .auth = who->auth,
	                         .action = op_action[op],
	                         .target = pro,
	                         .detail = changed ? NULL : "already in place",
	                         .result = "ok",
	                         .peer = who->peer ? who->peer : "",
	                         .patient = patient};
	return audit_append_locked(db, &ev, err, errlen) == 0 ? 0 : -1;
}

static int run(sqlite3 *db, const struct vault_actor *who, enum access_op op, const char *patient_in,
               const char *pro_in, char *err, size_t errlen)
{
	char patient[ADDR_MAX], pro[ADDR_MAX], result[300];
	if (lower_copy(patient, patient_in) != 0 || lower_copy(pro, pro_in) != 0)
		return refuse(err, errlen, "not a valid address");
	if (db_begin_write(db, err, errlen) != 0)
		return -1;
	int r = run_locked(db, who, op, patient, pro, err, errlen);
	if (r == 0)
		return db_commit(db, err, errlen) == 0 ? 0 : -1;
	db_rollback(db);
	str_format(result, sizeof result, "%s: %s", r > 0 ? "refused" : "error", err);
	vault_audit(db, who, op_action[op], patient, pro, NULL, result);
	return r;
}

int vault_access_grant(sqlite3 *db, const struct vault_actor *who, const char *patient, const char *pro,
                       char *err, size_t errlen)
{
	return run(db, who, OP_GRANT, patient, pro, err, errlen);
}

int vault_access_revoke(sqlite3 *db, const struct vault_actor *who, const char *patient, const char *pro,
                        char *err, size_t errlen)
{
	return run(db, who, OP_REVOKE, patient, pro, err, errlen);
}

int vault_access_block(sqlite3 *db, const struct vault_actor *who, const char *patient, const char *pro,
                       char *err, size_t errlen)
{
	return run(db, who, OP_BLOCK, patient, pro, err, errlen);
}

int vault_access_unblock(sqlite3 *db, const struct vault_actor *who, const char *patient, const char *pro,
                         char *err, size_t errlen)
{
	return run(db, who, OP_UNBLOCK, patient, pro, err, errlen);
}

/* Runs a one-row existence query with two address parameters: 1, 0 or -1. */
static int exists2(sqlite3 *db, const char *sql, const char *a, const char *b)
{
	char err[256], la[ADDR_MAX], lb[ADDR_MAX];
	if (lower_copy(la, a) != 0 || lower_copy(lb, b) != 0)
		return 0;
	sqlite3_stmt *st = db_prepare(db, sql, err, sizeof err);
	if (!st)
		return -1;
	db_bind_text(st, 1, la);
	db_bind_text(st, 2, lb);
	int rc = db_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int vault_is_blocked(sqlite3 *db, const char *patient, const char *pro)
{
	return exists2(db, "SELECT 1 FROM patient_blocks WHERE patient = ?1 AND professional = ?2", patient,
	               pro);
}

int vault_may_read(sqlite3 *db, const char *pro, const char *patient)
{
	return exists2(db,
	               "SELECT 1 FROM vault_grant g"
	               " JOIN accounts p ON p.address = g.patient AND p.role = 'patient' AND p.disabled = 0"
	               " JOIN accounts r ON r.address = g.professional AND r.disabled = 0"
	               "  AND r.role IN ('professional', 'organisation')"
	               " WHERE g.patient = ?2 AND g.professional = ?1"
	               " AND NOT EXISTS (SELECT 1 FROM patient_blocks b"
	               "  WHERE b.patient = g.patient AND b.professional = g.professional)",
	               pro, patient);
}

int vault_access_list(sqlite3 *db, const char *patient,
                      int (*fn)(const struct vault_access_entry *e, void *arg), void *arg)
{
	char err[256], p[ADDR_MAX];
	if (lower_copy(p, patient) != 0)
		return 0;
	sqlite3_stmt *st =
	    db_prepare(db,
	               "SELECT pro, max(rights), max(granted), max(blocked), max(since) FROM ("
	               " SELECT professional AS pro, rights, created AS granted, 0 AS blocked, 0 AS since"
	               "  FROM vault_grant WHERE patient = ?1"
	               " UNION ALL"
	               " SELECT professional, '', 0, 1, created FROM patient_blocks WHERE patient = ?1)"
	               " GROUP BY pro ORDER BY pro",
	               err, sizeof err);
	if (!st)
		return -1;
	db_bind_text(st, 1, p);
	int rc;
	while ((rc = db_step(st)) == SQLITE_ROW) {
		struct vault_access_entry e;
		memset(&e, 0, sizeof e);
		db_column_copy(st, 0, e.professional, sizeof e.professional);
		db_column_copy(st, 1, e.rights, sizeof e.rights);
		e.granted = sqlite3_column_int64(st, 2);
		e.blocked = sqlite3_column_int(st, 3) != 0;
		e.blocked_since = sqlite3_column_int64(st, 4);
		if (fn(&e, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int vault_patients_readable_by(sqlite3 *db, const char *pro, int (*fn)(const char *patient, void *arg),
                               void *arg)
{
	char err[256], p[ADDR_MAX], patient[ADDR_MAX];
	if (lower_copy(p, pro) != 0)
		return 0;
	sqlite3_stmt *st =
	    db_prepare(db,
	               "SELECT g.patient FROM vault_grant g"
	               " JOIN accounts a ON a.address = g.patient AND a.role = 'patient' AND a.disabled = 0"
	               " WHERE g.professional = ?1 AND NOT EXISTS (SELECT 1 FROM patient_blocks b"
	               "  WHERE b.patient = g.patient AND b.professional = g.professional)"
	               " ORDER BY g.patient",
	               err, sizeof err);
	if (!st)
		return -1;
	db_bind_text(st, 1, p);
	int rc;
	while ((rc = db_step(st)) == SQLITE_ROW) {
		db_column_copy(st, 0, patient, sizeof patient);
		if (fn(patient, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
