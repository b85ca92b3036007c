/* test_audit.c: the audit chain: appends, verification, every kind of
 * tampering named at its place, concurrent writers from many processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "audit/audit_schema.h"
#include "store/store_sql.h"
#include "test_db_util.h"

struct fx {
	struct test_data t;
	struct store *st;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char err[256];
	const struct sql_schema *parts[] = {&audit_schema};
	assert_int_equal(sodium_init() >= 0, 1);
	assert_int_equal(audit_set_key_dir(NULL), 0);
	assert_int_equal(test_data_init(&f->t, "test_audit"), 0);
	assert_int_equal(test_data_open(&f->t, parts, 1), 0);
	f->st = f->t.st;
	assert_int_equal(audit_start_log(f->st, err, sizeof err), 0);
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

static void append_n(struct store *st, int n, const char *actor)
{
	char err[256], target[64];
	for (int i = 0; i < n; i++) {
		assert_int_equal(str_format(target, sizeof target, "doc-%d", i), 0);
		struct audit_event ev = {.actor = actor,
		                         .auth = "certificate",
		                         .action = "vault.read",
		                         .target = target,
		                         .detail = NULL,
		                         .result = "ok",
		                         .peer = "127.0.0.1",
		                         .patient = "146026322000196@patient.mss.test"};
		assert_int_equal(audit_append(st, &ev, err, sizeof err), 0);
	}
	/* the signer's work, done here in-process (no signer process in unit tests) */
	assert_int_equal(audit_sign(st, 0, NULL, err, sizeof err), 0);
}

/* A writer's notice can be lost (a full queue: writers never wait) for a record that
 * commits after the signer last looked: the signer still signs it, within a second or
 * two, from its own look at the log's tail when idle. Here no notice is ever sent (the
 * writer forgot the signer's socket), and the record must get signed anyway. */
static void test_signer_signs_a_record_no_notice_named(void **state)
{
	struct fx *f = *state;
	char err[256];
	int status;

	/* forked with no store open, as a daemon forks it: SQLite's locks are per process,
	 * and a child of a process with the file open inherits its view of them */
	store_close(f->t.st);
	assert_int_equal(audit_signer_start(&f->t.cfg, err, sizeof err), 0);
	pid_t writer = fork();
	if (writer == 0) {
		audit_signer_forget(); /* as a session whose notice found the queue full */
		struct store *st = store_open(&f->t.cfg, err, sizeof err);
		struct audit_event ev = {.actor = "dr.martin@pro.mss.test",
		                         .action = "vault.read",
		                         .target = "doc-1",
		                         .result = "ok"};
		_exit(st != NULL && audit_append(st, &ev, err, sizeof err) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(writer, &status, 0), writer);
	assert_int_equal(status, 0);
	f->t.st = f->st = store_open(&f->t.cfg, err, sizeof err);
	assert_non_null(f->st);
	int64_t tail = test_sql_int(f->st, "SELECT max(seq) FROM audit_log");
	int64_t head = -1;
	for (int waited = 0; waited < 5000 && head != tail; waited += 50) {
		usleep(50000);
		head = test_sql_int(f->st, "SELECT seq FROM audit_head");
	}
	audit_signer_finish();
	assert_true(tail >= 2); /* audit.init and the writer's record */
	assert_int_equal(head, tail);
}

/* The idle look at the tail tries again each second when the store cannot be opened
 * (PostgreSQL down): the failure is logged once per cause, not once a second. */
static void test_signer_logs_a_store_failure_once(void **state)
{
	struct fx *f = *state;
	char err[256], path[400], line[512];
	struct mss_config cfg = f->t.cfg;
	int lines = 0;

	assert_int_equal(str_format(cfg.data_dir, sizeof cfg.data_dir, "%s/missing", f->t.dir), 0);
	assert_int_equal(str_format(path, sizeof path, "%s/signer.log", f->t.dir), 0);
	fflush(stderr);
	int saved = dup(2), logfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && logfd >= 0);
	dup2(logfd, 2); /* the signer's log is its stderr, inherited */
	int started = audit_signer_start(&cfg, err, sizeof err);
	dup2(saved, 2);
	close(saved);
	close(logfd);
	assert_int_equal(started, 0);
	usleep(3500 * 1000); /* three idle looks at least */
	audit_signer_finish();
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	while (fgets(line, sizeof line, in) != NULL)
		lines += strstr(line, "event=audit.sign_failed") != NULL;
	fclose(in);
	assert_int_equal(lines, 1);
}

static int verify(struct store *st, struct audit_verify_result *r)
{
	return audit_verify(st, NULL, r);
}

static void exec_sql(struct store *st, const char *sql)
{
	assert_true(test_sql(st, sql) >= 0);
}

static void test_untouched_passes(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->st, 20, "dr.martin@pro.mss.test");
	assert_int_equal(verify(f->st, &r), 0);
	assert_int_equal(r.records, 21); /* + the audit.init record */
	assert_int_equal(r.broken_seq, 0);
	struct stat sb;
	char key[400];
	assert_int_equal(str_format(key, sizeof key, "%s/keys/audit.key", f->t.cfg.data_dir), 0);
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_edited_field(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->st, 10, "dr.martin@pro.mss.test");
	exec_sql(f->st, "UPDATE audit_log SET actor = 'someone.else@pro.mss.test' WHERE seq = 5");
	assert_int_equal(verify(f->st, &r), 1);
	assert_int_equal(r.broken_seq, 5);
	assert_non_null(strstr(r.why, "record 5"));
}

static void test_edited_hash_too(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->st, 10, "dr.martin@pro.mss.test");
	exec_sql(f->st, "UPDATE audit_log SET result = 'refused', hash = prev WHERE seq = 7");
	assert_int_equal(verify(f->st, &r), 1);
	assert_int_equal(r.broken_seq, 7);
}

static void test_deleted_record(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->st, 10, "dr.martin@pro.mss.test");
	exec_sql(f->st, "DELETE FROM audit_log WHERE seq = 4");
	assert_int_equal(verify(f->st, &r), 1);
	assert_int_equal(r.broken_seq, 4);
	assert_non_null(strstr(r.why, "missing"));
}

static void test_swapped_records(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->st, 10, "dr.martin@pro.mss.test");
	exec_sql(f->st, "UPDATE audit_log SET seq = -1 WHERE seq = 3;"
	                "UPDATE audit_log SET seq = 3 WHERE seq = 6;"
	                "UPDATE audit_log SET seq = 6 WHERE seq = -1;");
	assert_int_equal(verify(f->st, &r), 1);
	assert_int_equal(r.broken_seq, 3);
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->st, 10, "dr.martin@pro.mss.test");
	exec_sql(f->st, "DELETE FROM audit_log WHERE seq > 8");
	assert_int_equal(verify(f->st, &r), 1);
	assert_int_equal(r.broken_seq, 9);
	assert_non_null(strstr(r.why, "truncated"));
}

static void test_emptied(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->st, 3, "dr.martin@pro.mss.test");
	exec_sql(f->st, "DELETE FROM audit_log");
	assert_int_equal(verify(f->st, &r), 1);
	assert_int_equal(r.broken_seq, 1);
}

static void test_head_forged(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	append_n(f->st, 5, "dr.martin@pro.mss.test");
	exec_sql(f->st, "DELETE FROM audit_log WHERE seq > 4; UPDATE audit_head SET seq = 4");
	assert_int_equal(verify(f->st, &r), 1);
	assert_int_equal(r.broken_seq, 4);
}

static void test_checkpoint_every_1000(void **state)
{
	struct fx *f = *state;
	struct audit_verify_result r;
	char err[256];
	append_n(f->st, 1000, "dr.martin@pro.mss.test");
	assert_int_equal(verify(f->st, &r), 0);
	assert_int_equal(r.checkpoints, 1);
	assert_int_equal(audit_checkpoint(f->st, err, sizeof err), 0);
	assert_int_equal(verify(f->st, &r), 0);
	assert_int_equal(r.checkpoints, 2);
	/* A forged checkpoint signature is named at its record. */
	exec_sql(f->st, "UPDATE audit_checkpoint SET signature = replace(signature, substr(signature, 1, 2), "
	                "CASE substr(signature, 1, 2) WHEN 'aa' THEN 'bb' ELSE 'aa' END) WHERE seq = 1000");
	assert_int_equal(verify(f->st, &r), 1);
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
			struct store *st = store_open(&f->t.cfg, err, sizeof err);
			if (!st)
				_exit(3);
			assert_int_equal(str_format(actor, sizeof actor, "writer%d@pro.mss.test", i), 0);
			for (int k = 0; k < EACH; k++) {
				struct audit_event ev = {.actor = actor,
				                         .auth = "certificate",
				                         .action = "smtp.deliver",
				                         .target = "x",
				                         .result = "ok",
				                         .peer = "",
				                         .patient = ""};
				if (audit_append(st, &ev, err, sizeof err) != 0)
					_exit(4);
			}
			store_close(st);
			_exit(0);
		}
	}
	for (int i = 0; i < NPROC; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	char err[256];
	assert_int_equal(audit_sign(f->st, 0, NULL, err, sizeof err), 0);
	assert_int_equal(verify(f->st, &r), 0);
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
	append_n(f->st, 4, "dr.martin@pro.mss.test");
	assert_int_equal(audit_foreach_patient(f->st, "146026322000196@patient.mss.test", 0, count_cb, &n),
	                 0);
	assert_int_equal(n, 4);
	n = 0;
	assert_int_equal(audit_foreach_patient(f->st, "146026322000196@patient.mss.test", 3, count_cb, &n),
	                 0);
	assert_int_equal(n, 2);
}

static int64_t count_action(struct store *st, const char *action)
{
	char q[160];
	assert_int_equal(
	    str_format(q, sizeof q, "SELECT count(*) FROM audit_log WHERE action = '%s'", action), 0);
	return test_sql_int(st, q);
}

/* Deferred records: kept, written first by the next append of their own (in the
 * decisions' order), or by audit_flush inside a caller's transaction; a rollback of
 * that transaction keeps them, a commit ends them. */
static void test_deferred(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct audit_event ev = {.actor = "CN=mx",
	                         .auth = "operator",
	                         .action = "smtp.rcpt",
	                         .target = "p@patient.test",
	                         .result = "ok",
	                         .peer = "127.0.0.1",
	                         .patient = ""};
	audit_defer(&ev);
	assert_int_equal(audit_deferred_count(), 1);
	assert_int_equal(count_action(f->st, "smtp.rcpt"), 0);

	/* inside a caller's transaction that rolls back: kept again */
	assert_int_equal(sql_begin_write(store_sql(f->st), err, sizeof err), 0);
	assert_int_equal(audit_flush(f->st, err, sizeof err), 0);
	assert_int_equal(audit_deferred_count(), 0);
	sql_rollback(store_sql(f->st));
	audit_deferred_settle(false);
	assert_int_equal(audit_deferred_count(), 1);
	assert_int_equal(count_action(f->st, "smtp.rcpt"), 0);

	/* inside one that commits: written once */
	assert_int_equal(sql_begin_write(store_sql(f->st), err, sizeof err), 0);
	assert_int_equal(audit_flush(f->st, err, sizeof err), 0);
	assert_int_equal(sql_commit(store_sql(f->st), err, sizeof err), 0);
	audit_deferred_settle(true);
	assert_int_equal(audit_deferred_count(), 0);
	assert_int_equal(count_action(f->st, "smtp.rcpt"), 1);

	/* the next append of its own writes the kept ones first, in one commit */
	ev.action = "smtp.mail";
	audit_defer(&ev);
	ev.action = "smtp.header";
	assert_int_equal(audit_append(f->st, &ev, err, sizeof err), 0);
	assert_int_equal(audit_deferred_count(), 0);
	assert_int_equal(test_sql_int(f->st, "SELECT count(*) FROM audit_log WHERE action = 'smtp.mail'"
	                                     " AND seq = (SELECT seq - 1 FROM audit_log"
	                                     " WHERE action = 'smtp.header')"),
	                 1);
	assert_int_equal(audit_flush(f->st, err, sizeof err), 0); /* nothing kept: no-op */
	assert_int_equal(audit_sign(f->st, 0, NULL, err, sizeof err), 0);
	struct audit_verify_result r;
	assert_int_equal(verify(f->st, &r), 0);
}

static void append_one(struct store *st, const char *target)
{
	char err[256];
	struct audit_event ev = {.actor = "CN=mx",
	                         .auth = "operator",
	                         .action = "smtp.deliver",
	                         .target = target,
	                         .result = "ok",
	                         .peer = "127.0.0.1",
	                         .patient = ""};
	assert_int_equal(audit_append(st, &ev, err, sizeof err), 0);
}

static int64_t seq_of(struct store *st, const char *target)
{
	char q[160];
	assert_int_equal(str_format(q, sizeof q, "SELECT seq FROM audit_log WHERE target = '%s'", target), 0);
	return test_sql_int(st, q);
}

static void sign_and_verify(struct store *st)
{
	char err[256];
	struct audit_verify_result r;
	assert_int_equal(audit_sign(st, 0, NULL, err, sizeof err), 0);
	assert_int_equal(verify(st, &r), 0);
}

/* Several records in one transaction read the tail once: the next one chains onto the
 * record this transaction wrote, whatever the table says meanwhile (here a row removed
 * behind the chain's back, which a second read would have seen). */
static void test_tail_read_once_per_transaction(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sql *db = store_sql(f->st);
	assert_int_equal(sql_begin_write(db, err, sizeof err), 0);
	append_one(f->st, "a");
	int64_t a = seq_of(f->st, "a");
	exec_sql(f->st, "DELETE FROM audit_log WHERE target = 'a'");
	append_one(f->st, "b");
	assert_int_equal(seq_of(f->st, "b"), a + 1);
	sql_rollback(db);
}

/* A record undone by a rollback to a savepoint is never chained onto, and the next
 * transaction chains onto what another connection wrote meanwhile. */
static void test_tail_after_rollback_and_other_writer(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct sql *db = store_sql(f->st);

	assert_int_equal(sql_begin_write(db, err, sizeof err), 0);
	append_one(f->st, "kept1");
	assert_int_equal(sql_savepoint(db, "sp", err, sizeof err), 0);
	append_one(f->st, "undone");
	assert_int_equal(sql_release(db, "sp", false, err, sizeof err), 0);
	append_one(f->st, "kept2");
	assert_int_equal(sql_commit(db, err, sizeof err), 0);
	assert_int_equal(seq_of(f->st, "undone"), -1);
	assert_int_equal(seq_of(f->st, "kept2"), seq_of(f->st, "kept1") + 1);

	struct store *other = store_open(&f->t.cfg, err, sizeof err);
	assert_non_null(other);
	append_one(other, "other");
	store_close(other);
	assert_int_equal(sql_begin_write(db, err, sizeof err), 0);
	append_one(f->st, "after");
	assert_int_equal(sql_commit(db, err, sizeof err), 0);
	assert_int_equal(seq_of(f->st, "after"), seq_of(f->st, "other") + 1);
	sign_and_verify(f->st);
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
	    cmocka_unit_test_setup_teardown(test_deferred, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tail_read_once_per_transaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tail_after_rollback_and_other_writer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signer_signs_a_record_no_notice_named, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signer_logs_a_store_failure_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
