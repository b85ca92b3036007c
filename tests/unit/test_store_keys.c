/* test_store_keys.c: write-only delivery (issue 12, store/store_msgkey.c): a store
 * without any secret delivers and appends; what it wrote opens only with the
 * recipient's keys; a message key moved to another account's message does not open;
 * a message written before key pairs (under the account key) stays readable; mssctl
 * migrate's pass gives an old account its public key. On SQLite and PostgreSQL. */
#include "test_store_util.h"
#include "test_store_old.h"

#include <sodium.h>

#include "store/store_int.h"
#include "store/store_sql.h"

#define PAT "146026322000196@patient.mss.test"
#define PRO "dr.martin@pro.mss.test"

static const char msg1[] = "From: Dr Martin <dr.martin@pro.mss.test>\r\n"
                           "To: <146026322000196@patient.mss.test>\r\n"
                           "Subject: Resultats QZKEYmk1\r\n"
                           "\r\n"
                           "Bonjour,\r\nvoici vos resultats.\r\n";

static int setup(void **state)
{
	if (store_fixture_setup(state) != 0)
		return -1;
	struct store_fixture *f = *state;
	if (store_user_create(f->st, PAT, f->err, sizeof(f->err)) != 0 ||
	    store_user_create(f->st, PRO, f->err, sizeof(f->err)) != 0)
		return -1;
	return 0;
}

static int deliver_with(struct store *st, const char *rcpt, char *err, size_t errlen)
{
	const char *rcpts[1] = {rcpt};
	uint32_t uid;
	struct store_delivery d = {
	    .mail_from = PRO, .rcpts = rcpts, .nrcpt = 1, .data = msg1, .len = sizeof(msg1) - 1};
	return store_deliver(st, &d, &uid, err, errlen);
}

/* Reads (mailbox, uid) whole into out; returns store_body_read_all's result. */
static int read_body(struct store *st, int64_t mbox, uint32_t uid, struct buf *out, char *err, size_t errlen)
{
	struct store_body *b;
	buf_reset(out);
	if (store_body_open(st, mbox, uid, &b, err, errlen) != 1)
		return -1;
	int rc = store_body_read_all(b, out, err, errlen);
	store_body_close(b);
	return rc;
}

static void assert_readable(struct store_fixture *f, const char *user, uint32_t uid)
{
	struct buf b;
	struct store_message m;
	int64_t inbox = store_fixture_mailbox(f, user, "INBOX");
	buf_init(&b, BUF_UNLIMITED);
	assert_int_equal(read_body(f->st, inbox, uid, &b, f->err, sizeof(f->err)), 0);
	assert_int_equal(b.len, sizeof(msg1) - 1);
	assert_memory_equal(b.data, msg1, b.len);
	buf_free(&b);
	assert_int_equal(
	    store_message_get(f->st, inbox, uid, STORE_WANT_ENVELOPE, &m, f->err, sizeof(f->err)), 1);
	assert_non_null(strstr(m.envelope, "QZKEYmk1"));
	store_message_free(&m);
}

/* A process with neither the master key nor a keyring delivers and appends; it can
 * read none of it back; the recipient's keys read both. */
static void test_delivery_needs_no_secret(void **state)
{
	struct store_fixture *f = *state;
	struct store *w = store_open_nokeys(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(w);
	assert_int_equal(deliver_with(w, PAT, f->err, sizeof(f->err)), 0);
	struct store_appender *a;
	assert_int_equal(store_append_begin(w, PAT, "INBOX", &a, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_append_message(a, 0, NULL, 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_append_write(a, msg1, sizeof(msg1) - 1, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_append_end(a, f->err, sizeof(f->err)), 0);
	uint32_t validity, *uids;
	size_t n;
	assert_int_equal(store_append_commit(a, &validity, &uids, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(uids[0], 2);
	free(uids);

	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	int64_t inbox = store_fixture_mailbox(f, PAT, "INBOX");
	assert_int_equal(read_body(w, inbox, 1, &b, f->err, sizeof(f->err)), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	store_close(w);
	assert_readable(f, PAT, 1);
	assert_readable(f, PAT, 2);
	/* each message has its own key, sealed to the owner */
	int64_t distinct = 0;
	assert_int_equal(sql_one(store_sql(f->st), "t", "SELECT count(DISTINCT sealed_key) FROM blobs",
	                         SQL_NOARGS, &distinct, f->err, sizeof(f->err)),
	                 1);
	assert_int_equal(distinct, 2);
}

/* A sealed message key put on another account's message does not open. */
static void test_other_accounts_key_refused(void **state)
{
	struct store_fixture *f = *state;
	assert_int_equal(deliver_with(f->st, PAT, f->err, sizeof(f->err)), 0);
	assert_int_equal(deliver_with(f->st, PRO, f->err, sizeof(f->err)), 0);
	assert_int_equal(sql_exec(store_sql(f->st), "t",
	                          "UPDATE blobs SET sealed_key = (SELECT b.sealed_key FROM blobs b"
	                          " JOIN store_users u ON u.id = b.user_id WHERE u.address = ?1)"
	                          " WHERE user_id = (SELECT id FROM store_users WHERE address = ?2)",
	                          SQL_ARGS(SQL_TEXT(PRO), SQL_TEXT(PAT)), f->err, sizeof(f->err)),
	                 1);
	store_close(f->st); /* no key cached */
	f->st = store_open(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(f->st);
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	int64_t inbox = store_fixture_mailbox(f, PAT, "INBOX");
	assert_int_equal(read_body(f->st, inbox, 1, &b, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "message key cannot be opened"));
	struct store_message m;
	assert_int_equal(store_message_get(f->st, inbox, 1, STORE_WANT_ENVELOPE, &m, f->err, sizeof(f->err)),
	                 -1);
	buf_free(&b);
	assert_readable(f, PRO, 1);
}

static void make_old(struct store_fixture *f, uint32_t uid)
{
	store_fixture_make_old(f, PAT, "INBOX", uid);
}

/* Old and new messages side by side, each read with its own key; COPY of the old one
 * into another account makes a new-form copy there. */
static void test_old_messages_stay_readable(void **state)
{
	struct store_fixture *f = *state;
	assert_int_equal(deliver_with(f->st, PAT, f->err, sizeof(f->err)), 0);
	assert_int_equal(deliver_with(f->st, PAT, f->err, sizeof(f->err)), 0);
	make_old(f, 1);
	int64_t nulls = 0;
	assert_int_equal(sql_one(store_sql(f->st), "t", "SELECT count(*) FROM blobs WHERE sealed_key IS NULL",
	                         SQL_NOARGS, &nulls, f->err, sizeof(f->err)),
	                 1);
	assert_int_equal(nulls, 1);
	assert_readable(f, PAT, 1);
	assert_readable(f, PAT, 2);
	uint32_t uid = 1;
	struct store_copy_result r;
	assert_int_equal(store_copy(f->st, store_fixture_mailbox(f, PAT, "INBOX"), &uid, 1, PRO, "INBOX",
	                            false, &r, f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(r.n, 1);
	store_copy_result_free(&r);
	assert_readable(f, PRO, 1);
	assert_int_equal(sql_one(store_sql(f->st), "t", "SELECT count(*) FROM blobs WHERE sealed_key IS NULL",
	                         SQL_NOARGS, &nulls, f->err, sizeof(f->err)),
	                 1);
	assert_int_equal(nulls, 1);
}

/* The text of the one row sql gives for address. Returns 1, 0 none, -1. */
static int sql_text_one(struct sql *db, const char *sql, const char *address, char *out, size_t outlen,
                        char *err, size_t errlen)
{
	struct sql_stmt *q = sql_query(db, "t", sql, SQL_ARGS(SQL_TEXT(address)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1 && sql_text_copy(q, 0, out, outlen) != 0)
		rc = -1;
	sql_done(q);
	return rc;
}

/* An account made before migration 8 has no public key: delivery to it is refused
 * (temporary, naming migrate), and the migrate pass gives it the same key its
 * account key derives. */
static void test_keypairs_fill(void **state)
{
	struct store_fixture *f = *state;
	struct sql *db = store_sql(f->st);
	char before[80], after[80];
	assert_int_equal(sql_text_one(db, "SELECT public_key FROM store_users WHERE address = ?1", PAT,
	                              before, sizeof before, f->err, sizeof(f->err)),
	                 1);
	assert_int_equal(strlen(before), 64);
	assert_int_equal(
	    sql_exec(db, "t", "UPDATE store_users SET public_key = NULL", SQL_NOARGS, f->err, sizeof(f->err)),
	    2);
	assert_int_equal(deliver_with(f->st, PAT, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "run mssctl migrate"));
	size_t filled = 0;
	assert_int_equal(store_keypairs_fill(f->st, &filled, f->err, sizeof(f->err)), 0);
	assert_int_equal(filled, 2);
	assert_int_equal(store_keypairs_fill(f->st, &filled, f->err, sizeof(f->err)), 0);
	assert_int_equal(filled, 0);
	assert_int_equal(sql_text_one(db, "SELECT public_key FROM store_users WHERE address = ?1", PAT, after,
	                              sizeof after, f->err, sizeof(f->err)),
	                 1);
	assert_string_equal(before, after);
	assert_int_equal(deliver_with(f->st, PAT, f->err, sizeof(f->err)), 0);
	assert_readable(f, PAT, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_delivery_needs_no_secret, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_other_accounts_key_refused, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_old_messages_stay_readable, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_keypairs_fill, setup, store_fixture_teardown),
	};
	return STORE_RUN_GROUPS("store keys", tests);
}
