/* test_vault_access.c: grants, revokes, blocks, the read decision, the access list
 * and the patient's history built from the audit records they leave. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "directory/account.h"
#include "directory/schema.h"
#include "lib/db.h"
#include "test_db_util.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "audit/audit_schema.h"
#include "vault/vault.h"
#include "vault/vault_schema.h"
#include "vault/vault_access.h"
#include "vault/vault_history.h"

#define PATIENT "146026322000196@patient.mss.test"
#define PRO "dr.martin@pro.mss.test"
#define PRO2 "dr.durand@pro.mss.test"

static const struct vault_actor admin = {"mssctl", "local", ""};

struct fx {
	char dir[64];
	sqlite3 *db;
	struct sql *conn;
};

static void add(sqlite3 *db, const char *addr, enum account_role role)
{
	char err[256];
	struct account a;
	memset(&a, 0, sizeof a);
	str_copy(a.address, sizeof a.address, addr);
	a.role = role;
	assert_int_equal(account_add(db, &a, NULL, NULL, err, sizeof err), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char path[128];
	assert_true(sodium_init() >= 0);
	str_copy(f->dir, sizeof f->dir, "/tmp/test_vault_access.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	str_format(path, sizeof path, "%s/keys", f->dir);
	mkdir(path, 0700);
	str_format(path, sizeof path, "%s/mss.db", f->dir);
	const struct sql_schema *parts[] = {&directory_schema, &directory_entries_schema, &audit_schema,
	                                    &vault_schema};
	f->conn = test_db_create(path, parts, 4, &f->db);
	assert_non_null(f->conn);
	add(f->db, PATIENT, ROLE_PATIENT);
	add(f->db, PRO, ROLE_PROFESSIONAL);
	add(f->db, PRO2, ROLE_PROFESSIONAL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	sql_close(f->conn);
	str_format(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_grant_revoke(void **state)
{
	struct fx *f = *state;
	char err[256];
	assert_int_equal(vault_may_read(f->db, PRO, PATIENT), 0);
	assert_int_equal(
	    vault_access_grant(f->db, &admin, PATIENT, "Dr.Martin@PRO.mss.test", err, sizeof err), 0);
	assert_int_equal(vault_may_read(f->db, PRO, PATIENT), 1);
	assert_int_equal(vault_may_read(f->db, PRO2, PATIENT), 0);
	assert_int_equal(vault_access_grant(f->db, &admin, PATIENT, PRO, err, sizeof err),
	                 0); /* idempotent */
	assert_int_equal(vault_access_revoke(f->db, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_may_read(f->db, PRO, PATIENT), 0);
	assert_int_equal(vault_access_revoke(f->db, &admin, PATIENT, PRO, err, sizeof err), 1);
	/* Refusals: grants only from a patient to a professional account here. */
	assert_int_equal(vault_access_grant(f->db, &admin, PRO, PATIENT, err, sizeof err), 1);
	assert_int_equal(vault_access_grant(f->db, &admin, PATIENT, "nobody@pro.mss.test", err, sizeof err),
	                 1);
	assert_int_equal(vault_access_grant(f->db, &admin, PATIENT, "not an address", err, sizeof err), 1);
}

static void test_block_overrides_grant(void **state)
{
	struct fx *f = *state;
	char err[256];
	assert_int_equal(vault_access_grant(f->db, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_access_block(f->db, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_is_blocked(f->db, PATIENT, PRO), 1);
	assert_int_equal(vault_may_read(f->db, PRO, PATIENT), 0);
	assert_int_equal(vault_access_grant(f->db, &admin, PATIENT, PRO, err, sizeof err), 1);
	assert_non_null(strstr(err, "blocked"));
	/* Remote professionals may be blocked too. */
	assert_int_equal(vault_access_block(f->db, &admin, PATIENT, "x@other-operator.test", err, sizeof err),
	                 0);
	assert_int_equal(vault_access_unblock(f->db, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_may_read(f->db, PRO, PATIENT), 1); /* the grant was kept */
	assert_int_equal(vault_access_unblock(f->db, &admin, PATIENT, PRO, err, sizeof err), 1);
}

struct seen {
	int n;
	char names[4][256];
	bool blocked[4];
};

static int collect(const struct vault_access_entry *e, void *arg)
{
	struct seen *s = arg;
	if (s->n < 4) {
		str_copy(s->names[s->n], sizeof s->names[s->n], e->professional);
		s->blocked[s->n] = e->blocked;
	}
	s->n++;
	return 0;
}

static int collect_patient(const char *patient, void *arg)
{
	struct seen *s = arg;
	str_copy(s->names[s->n++], sizeof s->names[0], patient);
	return 0;
}

static void test_lists(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	char err[256];
	assert_int_equal(vault_access_grant(f->db, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_access_block(f->db, &admin, PATIENT, PRO2, err, sizeof err), 0);
	assert_int_equal(vault_access_list(f->db, PATIENT, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], PRO2);
	assert_true(s.blocked[0]);
	assert_string_equal(s.names[1], PRO);
	assert_false(s.blocked[1]);
	memset(&s, 0, sizeof s);
	assert_int_equal(vault_patients_readable_by(f->db, PRO, collect_patient, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.names[0], PATIENT);
	memset(&s, 0, sizeof s);
	assert_int_equal(vault_patients_readable_by(f->db, PRO2, collect_patient, &s), 0);
	assert_int_equal(s.n, 0);
}

static int history_cb(const struct vault_history_entry *e, void *arg)
{
	struct seen *s = arg;
	if (s->n < 4)
		str_format(s->names[s->n], sizeof s->names[0], "%s|%s|%s", e->who, e->action, e->document);
	s->n++;
	return 0;
}

static void test_history_from_audit(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	char err[256];
	const struct vault_actor pro = {PRO, "certificate", "127.0.0.1"};
	assert_int_equal(vault_access_grant(f->db, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(
	    vault_audit(f->db, &pro, "vault.read", PATIENT, "Documents/Biologie UID 1", NULL, "ok"), 0);
	assert_int_equal(vault_access_revoke(f->db, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_history_foreach(f->db, PATIENT, 0, history_cb, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.names[0], "mssctl|access.grant|" PRO);
	assert_string_equal(s.names[1], PRO "|vault.read|Documents/Biologie UID 1");
	assert_string_equal(s.names[2], "mssctl|access.revoke|" PRO);

	/* The Historique message of an entry is the same bytes each time. */
	struct vault_history_entry e = {.seq = 7, .time = 1796000000};
	str_copy(e.who, sizeof e.who, PRO);
	str_copy(e.what, sizeof e.what, "Document consulté");
	str_copy(e.document, sizeof e.document, "Documents/Biologie UID 1");
	str_copy(e.result, sizeof e.result, "ok");
	struct buf a, b;
	buf_init(&a, BUF_UNLIMITED);
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(vault_history_message("service@patient.mss.test", PATIENT, &e, &a), 0);
	assert_int_equal(vault_history_message("service@patient.mss.test", PATIENT, &e, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_non_null(strstr(a.data, "Message-ID: <history.7@patient.mss.test>"));
	buf_free(&a);
	buf_free(&b);
	struct audit_verify_result r;
	assert_int_equal(audit_verify(f->db, NULL, &r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_grant_revoke, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_block_overrides_grant, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_history_from_audit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
