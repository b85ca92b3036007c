/* vault_access.c: grants, blocks and the read decision (see vault_access.h). */
#include "vault/vault_access.h"

#include <string.h>
#include <time.h>

#include "lib/mss_limits.h"
#include "directory/account.h"
#include "directory/directory_entry.h"
#include "lib/sql.h"
#include "lib/log.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "store/store_sql.h"
#include "vault/vault.h"

#define ADDR_MAX MSS_ADDRESS_SIZE

/* The professional in column col is a directory entry marked inactive (mssctl directory
 * disable, or struck off: a local account's entry the import no longer lists is kept
 * inactive, directory_merge.c). His grants stay: the access returns with the entry. A
 * local account the directory never listed reads, as it writes (policy.md). */
#define INACTIVE_IN_DIRECTORY(col)                                                                           \
	"EXISTS (SELECT 1 FROM directory_entry d WHERE d.address = " col " AND d.active = 0)"
#define GRANTEE_IN_DIRECTORY "NOT " INACTIVE_IN_DIRECTORY("g.professional")
#define PRO_INACTIVE INACTIVE_IN_DIRECTORY("pro") /* vault_access_list's */

enum access_op { OP_GRANT, OP_REVOKE, OP_BLOCK, OP_UNBLOCK };

static const char *const op_action[] = {"access.grant", "access.revoke", "access.block", "access.unblock"};

int vault_audit(struct store *st, const struct vault_actor *who, const char *action, const char *patient,
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
	if (audit_append(st, &ev, err, sizeof err) != 0) {
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
	str_error(err, errlen, "%s", why);
	return 1;
}

/* Both parties as the operation needs them. Returns 0, or 1 with err. */
static int check_parties(struct store *st, enum access_op op, const char *patient, const char *pro, char *err,
                         size_t errlen)
{
	struct account a;
	struct dir_entry e;
	int r = account_get(st, patient, &a);
	if (r < 0)
		return -1;
	if (r == 0 || a.role != ROLE_PATIENT)
		return refuse(err, errlen, "not a patient account here");
	if (op != OP_GRANT)
		return 0;
	r = account_get(st, pro, &a);
	if (r < 0)
		return -1;
	if (r == 0 || (a.role != ROLE_PROFESSIONAL && a.role != ROLE_ORGANISATION))
		return refuse(err, errlen, "not a professional or organisation account here");
	if (a.disabled)
		return refuse(err, errlen, "the professional's account is disabled");
	r = dir_entry_get(st, pro, &e);
	if (r < 0)
		return -1;
	if (r == 1 && !e.active)
		return refuse(err, errlen, "the professional is not active in the health directory");
	r = vault_is_blocked(st, patient, pro);
	if (r != 0)
		return r < 0
		           ? -1
		           : refuse(err, errlen, "the professional is blocked by the patient: unblock first");
	return 0;
}

static const char *const op_sql[] = {
    "INSERT INTO vault_grant (patient, professional, rights, created, created_by)"
    " VALUES (?1, ?2, 'lr', ?3, ?4) ON CONFLICT (patient, professional) DO NOTHING",
    "DELETE FROM vault_grant WHERE patient = ?1 AND professional = ?2",
    "INSERT INTO patient_blocks (patient, professional, created) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (patient, professional) DO NOTHING",
    "DELETE FROM patient_blocks WHERE patient = ?1 AND professional = ?2",
};

/* Runs the statement; returns rows changed, or -1. */
static int apply(struct sql *db, enum access_op op, const char *patient, const char *pro, const char *actor,
                 char *err, size_t errlen)
{
	int64_t now = (int64_t)time(NULL);
	switch (op) {
	case OP_GRANT:
		return sql_exec(db, op_action[op], op_sql[op],
		                SQL_ARGS(SQL_TEXT(patient), SQL_TEXT(pro), SQL_INT(now), SQL_TEXT(actor)),
		                err, errlen);
	case OP_BLOCK:
		return sql_exec(db, op_action[op], op_sql[op],
		                SQL_ARGS(SQL_TEXT(patient), SQL_TEXT(pro), SQL_INT(now)), err, errlen);
	default:
		return sql_exec(db, op_action[op], op_sql[op], SQL_ARGS(SQL_TEXT(patient), SQL_TEXT(pro)),
		                err, errlen);
	}
}

/* Decides and applies inside one write transaction. 0 done, 1 refused, -1. */
static int run_locked(struct store *st, const struct vault_actor *who, enum access_op op, const char *patient,
                      const char *pro, char *err, size_t errlen)
{
	int r = check_parties(st, op, patient, pro, err, errlen);
	if (r != 0)
		return r;
	int changed = apply(store_sql(st), op, patient, pro, who->actor, err, errlen);
	if (changed < 0)
		return -1;
	if (changed == 0 && op == OP_REVOKE)
		return refuse(err, errlen, "no such grant");
	if (changed == 0 && op == OP_UNBLOCK)
		return refuse(err, errlen, "no such block");
	/* the professional's keys to the documents follow the grant, in the same commit:
	 * a revocation or a block leaves no row to open them with (blob_keys, issue 12) */
	if (vault_readers_refresh(st, patient, err, errlen) < 0)
		return -1;
	struct audit_event ev = {.actor = who->actor,
	                         .auth = who->auth,
	                         .action = op_action[op],
	                         .target = pro,
	                         .detail = changed ? NULL : "already in place",
	                         .result = "ok",
	                         .peer = who->peer ? who->peer : "",
	                         .patient = patient};
	return audit_append(st, &ev, err, errlen) == 0 ? 0 : -1;
}

/* Wakes the sessions that have one of owner's folders named prefix + a shared folder
 * selected (store_wake, as a change of the folder would). */
static void wake_folders(struct store *st, const char *owner, const char *prefix)
{
	struct store_mailbox_list l;
	char err[256];
	if (store_user_exists(st, owner) != 1)
		return; /* no folder yet (the PS account is made at its first document) */
	if (store_mailbox_list(st, owner, &l, err, sizeof err) < 0) {
		log_warn("vault_access.wake", "owner=%s error=\"%s\"", owner, err);
		return;
	}
	size_t plen = strlen(prefix);
	for (size_t i = 0; i < l.n; i++)
		if (strncmp(l.v[i].name, prefix, plen) == 0 && vault_is_shared_mailbox(l.v[i].name + plen))
			store_wake(st, l.v[i].id);
	store_mailbox_list_free(&l);
}

void vault_wake_readers(struct store *st, const char *patient)
{
	char ps[ADDR_MAX], prefix[ADDR_MAX + 1];
	wake_folders(st, patient, "");
	if (vault_ps_user(store_config(st), ps, sizeof ps) == 0 &&
	    str_format(prefix, sizeof prefix, "%s/", patient) == 0)
		wake_folders(st, ps, prefix);
}

static int run(struct store *st, const struct vault_actor *who, enum access_op op, const char *patient_in,
               const char *pro_in, char *err, size_t errlen)
{
	char patient[ADDR_MAX], pro[ADDR_MAX], result[300];
	struct sql *db = store_sql(st);
	if (lower_copy(patient, patient_in) != 0 || lower_copy(pro, pro_in) != 0)
		return refuse(err, errlen, "not a valid address");
	if (sql_begin_write(db, err, errlen) != 0)
		return -1;
	int r = run_locked(st, who, op, patient, pro, err, errlen);
	if (r == 0 && sql_commit(db, err, errlen) != 0)
		return -1;
	if (r == 0 && (op == OP_REVOKE || op == OP_BLOCK))
		vault_wake_readers(st, patient);
	if (r == 0)
		return 0;
	sql_rollback(db);
	/* the reason may be cut in the record: the caller still gets it whole in err */
	if (str_format(result, sizeof result, "%s: %s", r > 0 ? "refused" : "error", err) != 0)
		log_warn("audit_detail_cut", "action=%s", op_action[op]);
	vault_audit(st, who, op_action[op], patient, pro, NULL, result);
	return r;
}

int vault_access_grant(struct store *st, const struct vault_actor *who, const char *patient, const char *pro,
                       char *err, size_t errlen)
{
	return run(st, who, OP_GRANT, patient, pro, err, errlen);
}

int vault_access_revoke(struct store *st, const struct vault_actor *who, const char *patient, const char *pro,
                        char *err, size_t errlen)
{
	return run(st, who, OP_REVOKE, patient, pro, err, errlen);
}

int vault_access_block(struct store *st, const struct vault_actor *who, const char *patient, const char *pro,
                       char *err, size_t errlen)
{
	return run(st, who, OP_BLOCK, patient, pro, err, errlen);
}

int vault_access_unblock(struct store *st, const struct vault_actor *who, const char *patient,
                         const char *pro, char *err, size_t errlen)
{
	return run(st, who, OP_UNBLOCK, patient, pro, err, errlen);
}

/* Runs a one-row existence query with two address parameters: 1, 0 or -1. */
static int exists2(struct store *st, const char *what, const char *sql, const char *a, const char *b)
{
	char err[256], la[ADDR_MAX], lb[ADDR_MAX];
	int64_t one;
	if (lower_copy(la, a) != 0 || lower_copy(lb, b) != 0)
		return 0;
	int rc =
	    sql_one(store_sql(st), what, sql, SQL_ARGS(SQL_TEXT(la), SQL_TEXT(lb)), &one, err, sizeof err);
	if (rc < 0)
		log_err("vault_access", "error=\"%s\"", err);
	return rc;
}

int vault_is_blocked(struct store *st, const char *patient, const char *pro)
{
	return exists2(st, "vault.blocked",
	               "SELECT 1 FROM patient_blocks WHERE patient = ?1 AND professional = ?2", patient, pro);
}

int vault_may_read(struct store *st, const char *pro, const char *patient)
{
	return exists2(st, "vault.may_read",
	               "SELECT 1 FROM vault_grant g"
	               " JOIN accounts p ON p.address = g.patient AND p.role = 'patient' AND p.disabled = 0"
	               " JOIN accounts r ON r.address = g.professional AND r.disabled = 0"
	               "  AND r.role IN ('professional', 'organisation')"
	               " WHERE g.patient = ?2 AND g.professional = ?1"
	               " AND NOT EXISTS (SELECT 1 FROM patient_blocks b"
	               "  WHERE b.patient = g.patient AND b.professional = g.professional)"
	               " AND " GRANTEE_IN_DIRECTORY,
	               pro, patient);
}

struct list_walk {
	int (*fn)(const struct vault_access_entry *e, void *arg);
	void *arg;
};

static int access_row(void *arg, struct sql_stmt *q)
{
	struct list_walk *w = arg;
	struct vault_access_entry e;
	memset(&e, 0, sizeof e);
	/* addresses are checked on the way in (ADDR_MAX): one that does not fit is skipped */
	if (sql_text_copy(q, 0, e.professional, sizeof e.professional) != 0 ||
	    sql_text_copy(q, 1, e.rights, sizeof e.rights) != 0)
		return 0;
	e.granted = sql_int(q, 2);
	e.blocked = sql_int(q, 3) != 0;
	e.blocked_since = sql_int(q, 4);
	e.inactive = sql_int(q, 5) != 0;
	return w->fn(&e, w->arg) != 0 ? 1 : 0;
}

int vault_access_list(struct store *st, const char *patient,
                      int (*fn)(const struct vault_access_entry *e, void *arg), void *arg)
{
	char err[256], p[ADDR_MAX];
	struct list_walk w = {fn, arg};
	if (lower_copy(p, patient) != 0)
		return 0;
	int rc =
	    sql_foreach(store_sql(st), "vault.access_list",
	                "SELECT pro, max(rights), max(granted), max(blocked), max(since),"
	                " CASE WHEN " PRO_INACTIVE " THEN 1 ELSE 0 END"
	                " FROM ("
	                " SELECT professional AS pro, rights, created AS granted, 0 AS blocked, 0 AS since"
	                "  FROM vault_grant WHERE patient = ?1"
	                " UNION ALL"
	                " SELECT professional, '', 0, 1, created FROM patient_blocks WHERE patient = ?1) AS x"
	                " GROUP BY pro ORDER BY pro",
	                SQL_ARGS(SQL_TEXT(p)), access_row, &w, err, sizeof err);
	if (rc < 0)
		log_err("vault_access", "error=\"%s\"", err);
	return rc < 0 ? -1 : 0;
}

struct patient_walk {
	int (*fn)(const char *patient, void *arg);
	void *arg;
};

static int patient_row(void *arg, struct sql_stmt *q)
{
	struct patient_walk *w = arg;
	char patient[ADDR_MAX];
	if (sql_text_copy(q, 0, patient, sizeof patient) != 0)
		return 0;
	return w->fn(patient, w->arg) != 0 ? 1 : 0;
}

int vault_patients_readable_by(struct store *st, const char *pro, int (*fn)(const char *patient, void *arg),
                               void *arg)
{
	char err[256], p[ADDR_MAX];
	struct patient_walk w = {fn, arg};
	if (lower_copy(p, pro) != 0)
		return 0;
	int rc =
	    sql_foreach(store_sql(st), "vault.readable_by",
	                "SELECT g.patient FROM vault_grant g"
	                " JOIN accounts a ON a.address = g.patient AND a.role = 'patient' AND a.disabled = 0"
	                " WHERE g.professional = ?1 AND NOT EXISTS (SELECT 1 FROM patient_blocks b"
	                "  WHERE b.patient = g.patient AND b.professional = g.professional)"
	                " AND " GRANTEE_IN_DIRECTORY " ORDER BY g.patient",
	                SQL_ARGS(SQL_TEXT(p)), patient_row, &w, err, sizeof err);
	if (rc < 0)
		log_err("vault_access", "error=\"%s\"", err);
	return rc < 0 ? -1 : 0;
}
