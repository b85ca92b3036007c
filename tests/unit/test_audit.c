/* test_audit.c: the audit chain: appends, verification, every kind of
 * tampering named at its place, concurrent writers from many processes. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "lib/db.h"
#include "test_db_util.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "audit/audit_schema.h"

struct fx {
	char dir[256];
	char dbpath[300];
	sqlite3 *db;
	struct sql *conn;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char keys[320];
	assert_int_equal(sodium_init() >= 0, 1);
	str_copy(f->dir, sizeof f->dir, "/tmp/test_audit.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	str_format(f->dbpath, sizeof f->dbpath, "%s/mss.db", f->dir);
	str_format(keys, sizeof keys, "%s/keys", f->dir);
	assert_int_equal(mkdir(keys, 0700), 0);
	audit_set_key_dir(NULL);
	const struct sql_schema *parts[] = {&audit_schema};
	f->conn = test_db_create(f->dbpath, parts, 1, &f->db);
	assert_non_null(f->conn);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[400];
	sql_close(f->conn);
	str_format(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void append_n(sqlite3 *db, int n, const char *actor)
{
	char err[256], target[64];
	for (int i = 0; i < n; i++) {
		str_format(target, sizeof target, "doc-%d", i);
		struct audit_event ev = {.actor = actor,
		                         .auth = "certificate",
		                         .action = "vault.read",
		                         .target = target,
		                         .detail = NULL,
		                         .result = "ok",
		                         .peer = "127.0.0.1",
		                         .patient = "146026322000196@patient.mss.test"};
		assert_int_equal(audit_append(db, &ev, err, sizeof err), 0);
	}
}

static int verify(sqlite3 *db, struct audit_verify_result *r)
{
	return audit_verify(db, NULL, r);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char err[256];
	assert_int_equal(db_exec(db, sql, err, sizeof err), 0);
}

static void test_untouched_passes(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->db, 20, "dr.martin@pro.mss.test");
	assert_int_equal(verify(f->db, &r), 0);
	assert_int_equal(r.records, 21); /* + the audit.init record */
	assert_int_equal(r.broken_seq, 0);
	struct stat sb;
	char key[400];
	str_format(key, sizeof key, "%s/keys/audit.key", f->dir);
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_edited_field(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->db, 10, "dr.martin@pro.mss.test");
	exec_sql(f->db, "UPDATE audit_log SET actor = 'someone.else@pro.mss.test' WHERE seq = 5");
	assert_int_equal(verify(f->db, &r), 1);
	assert_int_equal(r.broken_seq, 5);
	assert_non_null(strstr(r.why, "record 5"));
}

static void test_edited_hash_too(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->db, 10, "dr.martin@pro.mss.test");
	exec_sql(f->db, "UPDATE audit_log SET result = 'refused', hash = prev WHERE seq = 7");
	assert_int_equal(verify(f->db, &r), 1);
	assert_int_equal(r.broken_seq, 7);
}

static void test_deleted_record(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->db, 10, "dr.martin@pro.mss.test");
	exec_sql(f->db, "DELETE FROM audit_log WHERE seq = 4");
	assert_int_equal(verify(f->db, &r), 1);
	assert_int_equal(r.broken_seq, 4);
	assert_non_null(strstr(r.why, "missing"));
}

static void test_swapped_records(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->db, 10, "dr.martin@pro.mss.test");
	exec_sql(f->db, "UPDATE audit_log SET seq = -1 WHERE seq = 3;"
	                "UPDATE audit_log SET seq = 3 WHERE seq = 6;"
	                "UPDATE audit_log SET seq = 6 WHERE seq = -1;");
	assert_int_equal(verify(f->db, &r), 1);
	assert_int_equal(r.broken_seq, 3);
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->db, 10, "dr.martin@pro.mss.test");
	exec_sql(f->db, "DELETE FROM audit_log WHERE seq > 8");
	assert_int_equal(verify(f->db, &r), 1);
	assert_int_equal(r.broken_seq, 9);
	assert_non_null(strstr(r.why, "truncated"));
}

static void test_emptied(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->db, 3, "dr.martin@pro.mss.test");
	exec_sql(f->db, "DELETE FROM audit_log");
	assert_int_equal(verify(f->db, &r), 1);
	assert_int_equal(r.broken_seq, 1);
}

static void test_head_forged(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->db, 5, "dr.martin@pro.mss.test");
	exec_sql(f->db, "DELETE FROM audit_log WHERE seq > 4; UPDATE audit_head SET seq = 4");
	assert_int_equal(verify(f->db, &r), 1);
	assert_int_equal(r.broken_seq, 4);
}

static void test_checkpoint_every_1000(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	char err[256];
	append_n(f->db, 1000, "dr.martin@pro.mss.test");
	assert_int_equal(verify(f->db, &r), 0);
	assert_int_equal(r.checkpoints, 1);
	assert_int_equal(audit_checkpoint(f->db, err, sizeof err), 0);
	assert_int_equal(verify(f->db, &r), 0);
	assert_int_equal(r.checkpoints, 2);
	/* A forged checkpoint signature is named at its record. */
	exec_sql(f->db, "UPDATE audit_checkpoint SET signature = replace(signature, substr(signature, 1, 2), "
	                "CASE substr(signature, 1, 2) WHEN 'aa' THEN 'bb' ELSE 'aa' END) WHERE seq = 1000");
	assert_int_equal(verify(f->db, &r), 1);
	assert_int_equal(r.broken_seq, 1000);
}

static void test_concurrent_writers(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	enum { NPROC = 20, EACH = 30 };
	pid_t pids[NPROC];

	for (int i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char err[256], actor[64];
			sqlite3 *db = db_open(f->dbpath, 0, err, sizeof err);
			if (!db)
				_exit(3);
			str_format(actor, sizeof actor, "writer%d@pro.mss.test", i);
			for (int k = 0; k < EACH; k++) {
				struct audit_event ev = {.actor = actor,
				                         .auth = "certificate",
				                         .action = "smtp.deliver",
				                         .target = "x",
				                         .result = "ok",
				                         .peer = "",
				                         .patient = ""};
				if (audit_append(db, &ev, err, sizeof err) != 0)
					_exit(4);
			}
			db_close(db);
			_exit(0);
		}
	}
	for (int i = 0; i < NPROC; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	assert_int_equal(verify(f->db, &r), 0);
	assert_int_equal(r.records, 1 + NPROC * EACH);
}

static int count_cb(const struct audit_record *rec, void *arg)
{
	(*(int *)arg)++;
	assert_string_equal(rec->action, "vault.read");
	return 0;
}

static void test_foreach_patient(void **state)
{
	struct fx *f = *state;
	int n = 0;
	append_n(f->db, 4, "dr.martin@pro.mss.test");
	assert_int_equal(audit_foreach_patient(f->db, "146026322000196@patient.mss.test", 0, count_cb, &n),
	                 0);
	assert_int_equal(n, 4);
	n = 0;
	assert_int_equal(audit_foreach_patient(f->db, "146026322000196@patient.mss.test", 3, count_cb, &n),
	                 0);
	assert_int_equal(n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_untouched_passes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_edited_field, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_edited_hash_too, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deleted_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_swapped_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_emptied, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_head_forged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_every_1000, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreach_patient, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
