/* test_vault_notify.c: notifications on a real store: the "vault opened" notice at
 * most once per professional and patient per interval, notify_command called with the
 * kind and the address only, a hanging command cut at notify_timeout, and the
 * patient's settings turning each kind off (neither stored nor passed to the command). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "directory/account.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/str.h"
#include "policy/policy.h"
#include "vault/vault_notify.h"
#include "vault/vault_settings.h"
#include "store/store.h"

#define PATIENT "146026322000196@patient.mss.test"
#define PRO "dr.martin@pro.mss.test"

struct fx {
	char dir[64];
	char out[128];
	struct mss_config cfg;
	struct store *st;
};

static void write_script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0755);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char err[512], script[128], body[256];
	struct account a;
	assert_int_equal(crypto_init(), 0);
	assert_int_equal(str_copy(f->dir, sizeof f->dir, "/tmp/test_vault_notify.XXXXXX"), 0);
	assert_non_null(mkdtemp(f->dir));
	config_defaults(&f->cfg);
	assert_int_equal(str_format(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s/data", f->dir), 0);
	assert_int_equal(str_copy(f->cfg.patient_domain, sizeof f->cfg.patient_domain, "patient.mss.test"),
	                 0);
	assert_int_equal(str_copy(f->cfg.domains, sizeof f->cfg.domains, "pro.mss.test"), 0);
	assert_int_equal(str_format(f->out, sizeof f->out, "%s/notified", f->dir), 0);
	assert_int_equal(str_format(script, sizeof script, "%s/notify.sh", f->dir), 0);
	assert_int_equal(str_format(body, sizeof body, "echo \"$1 $2 $#\" >> '%s'", f->out), 0);
	write_script(script, body);
	assert_int_equal(str_copy(f->cfg.notify_command, sizeof f->cfg.notify_command, script), 0);
	f->cfg.notify_timeout = 1;
	assert_int_equal(store_create_data_dir(&f->cfg, err, sizeof err), 0);
	f->st = store_open(&f->cfg, err, sizeof err);
	assert_non_null(f->st);
	assert_int_equal(policy_schema_migrate(f->st, NULL, err, sizeof err), 0);
	memset(&a, 0, sizeof a);
	assert_int_equal(str_copy(a.address, sizeof a.address, PATIENT), 0);
	a.role = ROLE_PATIENT;
	assert_int_equal(account_add(f->st, &a, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(str_copy(a.address, sizeof a.address, PRO), 0);
	assert_int_equal(str_copy(a.name, sizeof a.name, "Dr Martin"), 0);
	a.role = ROLE_PROFESSIONAL;
	assert_int_equal(account_add(f->st, &a, NULL, NULL, err, sizeof err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	store_close(f->st);
	assert_int_equal(str_format(cmd, sizeof cmd, "rm -rf '%s'", f->dir), 0);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static uint32_t inbox_count(struct fx *f)
{
	struct store_mailbox mb;
	char err[256];
	assert_int_equal(store_mailbox_status(f->st, PATIENT, "INBOX", &mb, err, sizeof err), 1);
	return mb.messages;
}

static void test_access_notice_once_per_interval(void **state)
{
	struct fx *f = *state;
	assert_int_equal(vault_notify_access(f->st, PATIENT, PRO), 1);
	assert_int_equal(vault_notify_access(f->st, PATIENT, PRO), 0);
	assert_int_equal(inbox_count(f), 1);
	FILE *in = fopen(f->out, "r");
	char line[256] = "";
	assert_non_null(in);
	assert_non_null(fgets(line, sizeof line, in));
	fclose(in);
	assert_string_equal(line, "vault.opened " PATIENT " 2\n");
	/* The notice names the professional, never a document. */
	struct store_mailbox mb;
	struct store_body *body;
	struct buf b;
	char err[256];
	assert_int_equal(store_mailbox_get(f->st, PATIENT, "INBOX", &mb, err, sizeof err), 1);
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(store_body_open(f->st, mb.id, 1, &body, err, sizeof err), 1);
	assert_int_equal(store_body_read_all(body, &b, err, sizeof err), 0);
	store_body_close(body);
	assert_non_null(strstr(b.data, "From: service@patient.mss.test"));
	assert_non_null(strstr(b.data, "Dr Martin"));
	buf_free(&b);
}

static void test_interval_zero_always(void **state)
{
	struct fx *f = *state;
	f->cfg.notify_access_interval = 0;
	store_close(f->st);
	char err[512];
	f->st = store_open(&f->cfg, err, sizeof err);
	assert_non_null(f->st);
	assert_int_equal(vault_notify_access(f->st, PATIENT, PRO), 1);
	assert_int_equal(vault_notify_access(f->st, PATIENT, PRO), 1);
	assert_int_equal(inbox_count(f), 2);
}

static void test_command_timeout_and_failure(void **state)
{
	struct fx *f = *state;
	char script[128];
	assert_int_equal(str_format(script, sizeof script, "%s/slow.sh", f->dir), 0);
	write_script(script, "sleep 30");
	assert_int_equal(str_copy(f->cfg.notify_command, sizeof f->cfg.notify_command, script), 0);
	time_t t0 = time(NULL);
	assert_int_equal(vault_notify_command(&f->cfg, "document.added", PATIENT), -1);
	assert_true(time(NULL) - t0 <= 3);
	write_script(script, "exit 3");
	assert_int_equal(vault_notify_command(&f->cfg, "document.added", PATIENT), -1);
	assert_int_equal(str_format(script, sizeof script, "%s/missing", f->dir), 0);
	assert_int_equal(str_copy(f->cfg.notify_command, sizeof f->cfg.notify_command, script), 0);
	assert_int_equal(vault_notify_command(&f->cfg, "document.added", PATIENT), -1);
	f->cfg.notify_command[0] = '\0';
	assert_int_equal(vault_notify_command(&f->cfg, "document.added", PATIENT), 0);
}

static bool command_ran(struct fx *f)
{
	return access(f->out, F_OK) == 0;
}

static void test_settings_turn_kinds_off(void **state)
{
	struct fx *f = *state;
	struct vault_actor who = {PATIENT, "password", "127.0.0.1"};
	struct vault_settings s;
	struct vault_notice_item it = {"Biologie", "", "Dr Martin", false};
	char err[256];

	assert_int_equal(vault_settings_get(f->st, PATIENT, &s), 0);
	assert_true(s.notify_documents && s.notify_access); /* on until changed */
	s.notify_documents = false;
	s.notify_access = false;
	assert_int_equal(vault_settings_set(f->st, &who, PATIENT, &s, err, sizeof err), 0);
	assert_int_equal(vault_notify_documents(f->st, PATIENT, &it, 1), 0);
	assert_int_equal(vault_notify_access(f->st, PATIENT, PRO), 0);
	assert_int_equal(inbox_count(f), 0);
	assert_false(command_ran(f));
	/* case does not matter; documents back on, access still off */
	s.notify_documents = true;
	assert_int_equal(
	    vault_settings_set(f->st, &who, "146026322000196@PATIENT.mss.test", &s, err, sizeof err), 0);
	assert_int_equal(vault_settings_get(f->st, PATIENT, &s), 0);
	assert_true(s.notify_documents && !s.notify_access);
	assert_int_equal(vault_notify_documents(f->st, PATIENT, &it, 1), 0);
	assert_int_equal(vault_notify_access(f->st, PATIENT, PRO), 0);
	assert_int_equal(inbox_count(f), 1);
	assert_true(command_ran(f));
	/* only a patient account has settings */
	assert_int_equal(vault_settings_set(f->st, &who, PRO, &s, err, sizeof err), 1);
	assert_int_equal(vault_settings_set(f->st, &who, "nobody@patient.mss.test", &s, err, sizeof err), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_access_notice_once_per_interval, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_interval_zero_always, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_command_timeout_and_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_settings_turn_kinds_off, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
