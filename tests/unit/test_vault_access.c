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
	struct test_data t;
	struct store *st;
};

static void add(struct store *st, const char *addr, enum account_role role)
{
	char err[256];
	struct account a;
	memset(&a, 0, sizeof a);
	assert_int_equal(str_copy(a.address, sizeof a.address, addr), 0);
	a.role = role;
	assert_int_equal(account_add(st, &a, NULL, NULL, err, sizeof err), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char err[256];
	const struct sql_schema *parts[] = {&directory_schema, &directory_entries_schema, &audit_schema,
	                                    &vault_schema};
	assert_true(sodium_init() >= 0);
	assert_int_equal(test_data_init(&f->t, "test_vault_access"), 0);
	assert_int_equal(test_data_open(&f->t, parts, 4), 0);
	f->st = f->t.st;
	assert_int_equal(audit_start_log(f->st, err, sizeof err), 0);
	add(f->st, PATIENT, ROLE_PATIENT);
	add(f->st, PRO, ROLE_PROFESSIONAL);
	add(f->st, PRO2, ROLE_PROFESSIONAL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	test_data_close(&f->t);
	free(f);
	return 0;
}

static void test_grant_revoke(void **state)
{
	struct fx *f = *state;
	char err[256];
	assert_int_equal(vault_may_read(f->st, PRO, PATIENT), 0);
	assert_int_equal(
	    vault_access_grant(f->st, &admin, PATIENT, "Dr.Martin@PRO.mss.test", err, sizeof err), 0);
	assert_int_equal(vault_may_read(f->st, PRO, PATIENT), 1);
	assert_int_equal(vault_may_read(f->st, PRO2, PATIENT), 0);
	assert_int_equal(vault_access_grant(f->st, &admin, PATIENT, PRO, err, sizeof err),
	                 0); /* idempotent */
	assert_int_equal(vault_access_revoke(f->st, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_may_read(f->st, PRO, PATIENT), 0);
	assert_int_equal(vault_access_revoke(f->st, &admin, PATIENT, PRO, err, sizeof err), 1);
	/* Refusals: grants only from a patient to a professional account here. */
	assert_int_equal(vault_access_grant(f->st, &admin, PRO, PATIENT, err, sizeof err), 1);
	assert_int_equal(vault_access_grant(f->st, &admin, PATIENT, "nobody@pro.mss.test", err, sizeof err),
	                 1);
	assert_int_equal(vault_access_grant(f->st, &admin, PATIENT, "not an address", err, sizeof err), 1);
}

static void test_block_overrides_grant(void **state)
{
	struct fx *f = *state;
	char err[256];
	assert_int_equal(vault_access_grant(f->st, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_access_block(f->st, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_is_blocked(f->st, PATIENT, PRO), 1);
	assert_int_equal(vault_may_read(f->st, PRO, PATIENT), 0);
	assert_int_equal(vault_access_grant(f->st, &admin, PATIENT, PRO, err, sizeof err), 1);
	assert_non_null(strstr(err, "blocked"));
	/* Remote professionals may be blocked too. */
	assert_int_equal(vault_access_block(f->st, &admin, PATIENT, "x@other-operator.test", err, sizeof err),
	                 0);
	assert_int_equal(vault_access_unblock(f->st, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_may_read(f->st, PRO, PATIENT), 1); /* the grant was kept */
	assert_int_equal(vault_access_unblock(f->st, &admin, PATIENT, PRO, err, sizeof err), 1);
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
		assert_int_equal(str_copy(s->names[s->n], sizeof s->names[s->n], e->professional), 0);
		s->blocked[s->n] = e->blocked;
	}
	s->n++;
	return 0;
}

static int collect_patient(const char *patient, void *arg)
{
	struct seen *s = arg;
	assert_int_equal(str_copy(s->names[s->n++], sizeof s->names[0], patient), 0);
	return 0;
}

static void test_lists(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	char err[256];
	assert_int_equal(vault_access_grant(f->st, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_access_block(f->st, &admin, PATIENT, PRO2, err, sizeof err), 0);
	assert_int_equal(vault_access_list(f->st, PATIENT, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], PRO2);
	assert_true(s.blocked[0]);
	assert_string_equal(s.names[1], PRO);
	assert_false(s.blocked[1]);
	memset(&s, 0, sizeof s);
	assert_int_equal(vault_patients_readable_by(f->st, PRO, collect_patient, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.names[0], PATIENT);
	memset(&s, 0, sizeof s);
	assert_int_equal(vault_patients_readable_by(f->st, PRO2, collect_patient, &s), 0);
	assert_int_equal(s.n, 0);
}

static int history_cb(const struct vault_history_entry *e, void *arg)
{
	struct seen *s = arg;
	if (s->n < 4)
		assert_int_equal(str_format(s->names[s->n], sizeof s->names[0], "%s|%s|%s", e->who, e->action,
		                            e->document),
		                 0);
	s->n++;
	return 0;
}

static void test_history_from_audit(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	char err[256];
	const struct vault_actor pro = {PRO, "certificate", "127.0.0.1"};
	assert_int_equal(vault_access_grant(f->st, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(
	    vault_audit(f->st, &pro, "vault.read", PATIENT, "Documents/Biologie UID 1", NULL, "ok"), 0);
	assert_int_equal(vault_access_revoke(f->st, &admin, PATIENT, PRO, err, sizeof err), 0);
	assert_int_equal(vault_history_foreach(f->st, PATIENT, 0, history_cb, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.names[0], "mssctl|access.grant|" PRO);
	assert_string_equal(s.names[1], PRO "|vault.read|Documents/Biologie UID 1");
	assert_string_equal(s.names[2], "mssctl|access.revoke|" PRO);

	/* The Historique message of an entry is the same bytes each time. */
	struct vault_history_entry e = {.seq = 7, .time = 1796000000};
	assert_int_equal(str_copy(e.who, sizeof e.who, PRO), 0);
	assert_int_equal(str_copy(e.what, sizeof e.what, "Document consulté"), 0);
	assert_int_equal(str_copy(e.document, sizeof e.document, "Documents/Biologie UID 1"), 0);
	assert_int_equal(str_copy(e.result, sizeof e.result, "ok"), 0);
	assert_int_equal(str_copy(e.action, sizeof e.action, "vault.read"), 0);
	assert_int_equal(str_copy(e.patient, sizeof e.patient, PATIENT), 0);
	struct vault_history_text t;
	assert_int_equal(vault_history_text(f->st, "Europe/Paris", &e, &t), 0);
	assert_string_equal(t.subject, "Document consulté : " PRO);
	assert_non_null(strstr(t.body, "Quand : le 30/11/2026 à 01:53:20\r\n"));
	assert_non_null(strstr(t.body, "Document : Documents/Biologie, document n° 1\r\n"));
	assert_non_null(strstr(t.body, "Résultat : effectué\r\n"));
	struct buf a, b;
	buf_init(&a, BUF_UNLIMITED);
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(
	    vault_history_message("service@patient.mss.test", PATIENT, "Europe/Paris", &e, &t, &a), 0);
	assert_int_equal(
	    vault_history_message("service@patient.mss.test", PATIENT, "Europe/Paris", &e, &t, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_non_null(strstr(a.data, "Message-ID: <history.7@patient.mss.test>"));
	buf_free(&a);
	buf_free(&b);
	struct audit_verify_result r;
	assert_int_equal(audit_sign(f->st, 0, NULL, err, sizeof err), 0);
	assert_int_equal(audit_verify(f->st, NULL, &r), 0);
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
