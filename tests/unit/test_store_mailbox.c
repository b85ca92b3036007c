/* test_store_mailbox.c: accounts' default folders, create/delete/rename/subscribe,
 * UIDVALIDITY, data_dir creation. */
#include "test_store_util.h"
#include "store/store_sql.h"

#include <sys/stat.h>

#include "lib/crypto.h"

#define USER "146026322000196@patient.mss.test"

static void test_create_data_dir_refuses_twice(void **state)
{
	struct store_fixture *f = *state;
	struct stat sb;
	char path[600];
	STORE_SQLITE_ONLY(); /* a shared store is joined instead: test_shared_init_joins */
	assert_int_equal(store_create_data_dir(&f->cfg, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "already initialised"));
	assert_int_equal(str_format(path, sizeof(path), "%s/keys/master.key", f->cfg.data_dir), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0400); /* read by the daemons' key agent alone */
	assert_int_equal(stat(f->cfg.data_dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(str_format(path, sizeof(path), "%s/run", f->cfg.data_dir), 0);
	assert_int_equal(stat(path, &sb), 0);
}

static void test_open_missing(void **state)
{
	struct store_fixture *f = *state;
	struct mss_config cfg = f->cfg;
	assert_int_equal(str_format(cfg.data_dir, sizeof(cfg.data_dir), "%s/nothing", f->dir), 0);
	if (store_on_pg)
		assert_int_equal(
		    str_format(cfg.store, sizeof(cfg.store), "%s/no_such_database", store_pg_base), 0);
	assert_null(store_open(&cfg, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, store_on_pg ? "no_such_database" : "mssctl init"));
}

/* Every host of a shared store needs the master key that wrapped the accounts' keys:
 * a second init joins with the first host's key, and is refused without it or with
 * another; a store opened with another key is refused (both engines). */
static void test_shared_init_joins(void **state)
{
	struct store_fixture *f = *state;
	struct mss_config other = f->cfg;
	char key[600], cmd[1400];
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	assert_int_equal(str_format(other.data_dir, sizeof(other.data_dir), "%s/other", f->dir), 0);
	assert_int_equal(str_format(key, sizeof(key), "%s/keys/master.key", other.data_dir), 0);
	if (store_on_pg) {
		assert_int_equal(store_create_data_dir(&f->cfg, f->err, sizeof(f->err)), 0); /* again */
		assert_int_equal(store_create_data_dir(&other, f->err, sizeof(f->err)), -1);
		assert_non_null(strstr(f->err, "already initialised by another host"));
		assert_int_equal(access(key, F_OK), -1); /* no key was made for it */
		assert_int_equal(
		    str_format(cmd, sizeof(cmd), "cp -p '%s/keys/master.key' '%s'", f->cfg.data_dir, key), 0);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(store_create_data_dir(&other, f->err, sizeof(f->err)), 0);
		struct store *st2 = store_open(&other, f->err, sizeof(f->err));
		assert_non_null(st2);
		assert_int_equal(store_user_exists(st2, USER), 1);
		store_close(st2);
		unlink(key);
	} else {
		assert_int_equal(str_format(cmd, sizeof(cmd), "mkdir -p '%s/keys'", other.data_dir), 0);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(crypto_master_key_create(key, f->err, sizeof(f->err)), 0);
	struct mss_config wrong = f->cfg;
	assert_int_equal(str_copy(wrong.master_key_file, sizeof(wrong.master_key_file), key), 0);
	assert_null(store_open(&wrong, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "not the master key"));
	if (store_on_pg) {
		assert_int_equal(store_create_data_dir(&wrong, f->err, sizeof(f->err)), -1);
		assert_non_null(strstr(f->err, "not the master key"));
	}
}

static void test_user_defaults(void **state)
{
	struct store_fixture *f = *state;
	struct store_mailbox_list l;
	assert_int_equal(store_user_exists(f->st, USER), 0);
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_user_exists(f->st, "146026322000196@PATIENT.mss.test"), 1);
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_mailbox_list(f->st, USER, &l, f->err, sizeof(f->err)), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].name, "INBOX");
	assert_string_equal(l.v[1].name, "Drafts");
	assert_int_equal(l.v[1].special_use, STORE_SPECIAL_DRAFTS);
	assert_string_equal(l.v[2].name, "Sent");
	assert_int_equal(l.v[2].special_use, STORE_SPECIAL_SENT);
	assert_string_equal(l.v[3].name, "Trash");
	assert_int_equal(l.v[3].special_use, STORE_SPECIAL_TRASH);
	for (size_t i = 0; i < l.n; i++) {
		assert_true(l.v[i].subscribed);
		assert_int_equal(l.v[i].uidnext, 1);
		assert_true(l.v[i].uidvalidity > 0);
		assert_true(l.v[i].highestmodseq >= 1);
		for (size_t j = 0; j < i; j++)
			assert_true(l.v[i].uidvalidity != l.v[j].uidvalidity);
	}
	store_mailbox_list_free(&l);
}

static void test_create_delete(void **state)
{
	struct store_fixture *f = *state;
	struct store_mailbox mb, mb2;
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    store_mailbox_create(f->st, USER, "Documents/Ordonnances", 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_get(f->st, USER, "Documents", &mb, f->err, sizeof(f->err)), 1);
	assert_int_equal(
	    store_mailbox_get(f->st, USER, "Documents/Ordonnances/", &mb, f->err, sizeof(f->err)), 1);
	assert_int_equal(
	    store_mailbox_create(f->st, USER, "Documents/Ordonnances", 0, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_mailbox_create(f->st, USER, "inbox", 0, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_mailbox_create(f->st, USER, "a//b", 0, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_mailbox_create(f->st, USER, "", 0, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_mailbox_create(f->st, USER, "bad\x01", 0, f->err, sizeof(f->err)), 1);
	assert_int_equal(
	    store_mailbox_create(f->st, USER, "Comptes-rendus \xc3\xa9t\xc3\xa9", 0, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(store_mailbox_get(f->st, USER, "INBOX", &mb2, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_mailbox_get(f->st, USER, "iNbOx", &mb2, f->err, sizeof(f->err)), 1);

	uint32_t old_validity = mb.uidvalidity;
	store_fixture_deliver(f, USER, "Documents/Ordonnances", "Subject: x\r\n\r\nbody\r\n", NULL);
	assert_int_equal(store_mailbox_delete(f->st, USER, "Documents/Ordonnances", f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(
	    store_mailbox_get(f->st, USER, "Documents/Ordonnances", &mb2, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_get_id(f->st, mb.id, &mb2, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_delete(f->st, USER, "Documents/Ordonnances", f->err, sizeof(f->err)),
	                 1);
	assert_int_equal(store_mailbox_delete(f->st, USER, "INBOX", f->err, sizeof(f->err)), 1);
	/* Created again: a new UIDVALIDITY (RFC 9051 2.3.1.1). */
	assert_int_equal(
	    store_mailbox_create(f->st, USER, "Documents/Ordonnances", 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    store_mailbox_get(f->st, USER, "Documents/Ordonnances", &mb2, f->err, sizeof(f->err)), 1);
	assert_true(mb2.uidvalidity != old_validity);
	assert_int_equal(mb2.uidnext, 1);
}

static void test_rename(void **state)
{
	struct store_fixture *f = *state;
	struct store_mailbox mb, before;
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_create(f->st, USER, "Projets/A", 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_create(f->st, USER, "Projets/A/Sub", 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_get(f->st, USER, "Projets/A", &before, f->err, sizeof(f->err)), 1);
	store_fixture_deliver(f, USER, "Projets/A", "Subject: x\r\n\r\nbody\r\n", NULL);
	assert_int_equal(
	    store_mailbox_rename(f->st, USER, "Projets/A", "Archive/2026/A", f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_get(f->st, USER, "Projets/A", &mb, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_get(f->st, USER, "Archive/2026/A", &mb, f->err, sizeof(f->err)), 1);
	assert_int_equal(mb.id, before.id);
	assert_int_equal(mb.uidvalidity, before.uidvalidity);
	assert_int_equal(store_mailbox_status(f->st, USER, "Archive/2026/A", &mb, f->err, sizeof(f->err)), 1);
	assert_int_equal(mb.messages, 1);
	assert_int_equal(store_mailbox_get(f->st, USER, "Archive/2026/A/Sub", &mb, f->err, sizeof(f->err)),
	                 1);
	assert_int_equal(store_mailbox_get(f->st, USER, "Archive/2026", &mb, f->err, sizeof(f->err)), 1);
	/* Refusals: missing source, existing target, into itself. */
	assert_int_equal(store_mailbox_rename(f->st, USER, "Nope", "X", f->err, sizeof(f->err)), 1);
	assert_int_equal(store_mailbox_rename(f->st, USER, "Sent", "Trash", f->err, sizeof(f->err)), 1);
	assert_int_equal(store_mailbox_rename(f->st, USER, "Sent", "Sent/Old", f->err, sizeof(f->err)), 1);
}

static void test_rename_inbox(void **state)
{
	struct store_fixture *f = *state;
	struct store_mailbox mb;
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	store_fixture_deliver(f, USER, NULL, "Subject: 1\r\n\r\none\r\n", "\\Seen");
	store_fixture_deliver(f, USER, NULL, "Subject: 2\r\n\r\ntwo\r\n", NULL);
	assert_int_equal(store_mailbox_rename(f->st, USER, "INBOX", "Old", f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_status(f->st, USER, "INBOX", &mb, f->err, sizeof(f->err)), 1);
	assert_int_equal(mb.messages, 0);
	assert_int_equal(mb.uidnext, 3);
	assert_int_equal(store_mailbox_status(f->st, USER, "Old", &mb, f->err, sizeof(f->err)), 1);
	assert_int_equal(mb.messages, 2);
	assert_int_equal(mb.unseen, 1);
}

static void test_subscribe_status(void **state)
{
	struct store_fixture *f = *state;
	struct store_mailbox mb;
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_subscribe(f->st, USER, "Trash", false, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_get(f->st, USER, "Trash", &mb, f->err, sizeof(f->err)), 1);
	assert_false(mb.subscribed);
	assert_int_equal(store_mailbox_subscribe(f->st, USER, "Nope", true, f->err, sizeof(f->err)), 1);
	store_fixture_deliver(f, USER, NULL, "Subject: 1\r\n\r\none\r\n", "\\Seen \\Deleted");
	store_fixture_deliver(f, USER, NULL, "Subject: 2\r\n\r\ntwo\r\n", NULL);
	assert_int_equal(store_mailbox_status(f->st, USER, "INBOX", &mb, f->err, sizeof(f->err)), 1);
	assert_int_equal(mb.messages, 2);
	assert_int_equal(mb.unseen, 1);
	assert_int_equal(mb.deleted, 1);
	assert_int_equal(mb.uidnext, 3);
	assert_int_equal(mb.total_size, 19 + 19);
	assert_int_equal(store_mailbox_status(f->st, USER, "Nope", &mb, f->err, sizeof(f->err)), 0);
	assert_int_equal(
	    store_mailbox_status(f->st, "nobody@pro.mss.test", "INBOX", &mb, f->err, sizeof(f->err)), 0);
}

static void test_deliver_creates_mailbox(void **state)
{
	struct store_fixture *f = *state;
	struct store_mailbox mb;
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	uint32_t uid =
	    store_fixture_deliver(f, USER, "Documents/Biologie", "Subject: x\r\n\r\nbody\r\n", "$Masked");
	assert_int_equal(uid, 1);
	assert_int_equal(store_mailbox_get(f->st, USER, "Documents/Biologie", &mb, f->err, sizeof(f->err)),
	                 1);
	assert_int_equal(store_mailbox_get(f->st, USER, "Documents", &mb, f->err, sizeof(f->err)), 1);
}

/* Inside a caller's transaction (mssctl account add, policy): the store's rows join
 * it and go away with its rollback. */
static void test_user_create_in_caller_txn(void **state)
{
	struct store_fixture *f = *state;
	struct sql *db = store_sql(f->st);
	assert_int_equal(sql_begin_write(db, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_user_exists(f->st, USER), 1);
	sql_rollback(db);
	assert_int_equal(store_user_exists(f->st, USER), 0);
	assert_int_equal(sql_begin_write(db, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	assert_int_equal(sql_commit(db, f->err, sizeof(f->err)), 0);
	struct store_mailbox mb;
	assert_int_equal(store_mailbox_get(f->st, USER, "Trash", &mb, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_user_create(f->st, "not an address", f->err, sizeof(f->err)), 1);
}

static void test_inbox_hierarchy_and_validity(void **state)
{
	struct store_fixture *f = *state;
	struct store_mailbox a, b;
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_create(f->st, USER, "inbox/Sub", 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_get(f->st, USER, "INBOX/Sub", &a, f->err, sizeof(f->err)), 1);
	assert_string_equal(a.name, "INBOX/Sub");
	assert_int_equal(store_mailbox_create(f->st, USER, "Z", 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_get(f->st, USER, "Z", &b, f->err, sizeof(f->err)), 1);
	assert_true(b.uidvalidity > a.uidvalidity);
	assert_false(b.subscribed);
	assert_int_equal(
	    store_mailbox_create(f->st, USER, "Junk", STORE_SPECIAL_JUNK, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_get(f->st, USER, "Junk", &b, f->err, sizeof(f->err)), 1);
	assert_int_equal(b.special_use, STORE_SPECIAL_JUNK);
}

/* store_reads_begin (a SELECT again, issue 15): the reads up to store_reads_end see one
 * state of the database, whatever another connection commits meanwhile; inside a
 * transaction of the caller's it neither begins nor ends one. */
static void test_reads_one_state(void **state)
{
	struct store_fixture *f = *state;
	struct store_mailbox mb;
	bool own;
	assert_int_equal(store_user_create(f->st, USER, f->err, sizeof(f->err)), 0);
	struct store *w = store_open(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(w);

	assert_int_equal(store_reads_begin(f->st, &own, f->err, sizeof(f->err)), 0);
	assert_true(own);
	assert_int_equal(store_mailbox_get(f->st, USER, "INBOX", &mb, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_mailbox_create(w, USER, "Later", 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_mailbox_get(f->st, USER, "Later", &mb, f->err, sizeof(f->err)), 0);
	store_reads_end(f->st, own);
	assert_false(sql_in_transaction(store_sql(f->st)));
	assert_int_equal(store_mailbox_get(f->st, USER, "Later", &mb, f->err, sizeof(f->err)), 1);

	assert_int_equal(sql_begin_read(store_sql(f->st), f->err, sizeof(f->err)), 0);
	assert_int_equal(store_reads_begin(f->st, &own, f->err, sizeof(f->err)), 0);
	assert_false(own);
	store_reads_end(f->st, own);
	assert_true(sql_in_transaction(store_sql(f->st)));
	assert_int_equal(sql_commit(store_sql(f->st), f->err, sizeof(f->err)), 0);
	store_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_data_dir_refuses_twice, store_fixture_setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_open_missing, store_fixture_setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_shared_init_joins, store_fixture_setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_user_defaults, store_fixture_setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_create_delete, store_fixture_setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rename, store_fixture_setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rename_inbox, store_fixture_setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_subscribe_status, store_fixture_setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_deliver_creates_mailbox, store_fixture_setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_user_create_in_caller_txn, store_fixture_setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_inbox_hierarchy_and_validity, store_fixture_setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_reads_one_state, store_fixture_setup,
	                                    store_fixture_teardown),
	};
	return STORE_RUN_GROUPS("store mailboxes", tests);
}
