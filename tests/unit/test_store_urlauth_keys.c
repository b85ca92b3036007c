/* test_store_urlauth_keys.c: URLAUTH across accounts (store/store_urlauth_keys.c,
 * table urlauth_keys). The owner's store wraps a message key for a URL; a store bound
 * to another account opens the message with the URL alone while the owner's wrapped
 * key is unusable; a URL changed in any part, a row whose mailbox generation moved on,
 * RESETKEY and expunge open nothing; the old form gets no row; rows are bounded. On
 * SQLite and PostgreSQL. */
#include "test_store_util.h"
#include "test_store_old.h"

#define PAT "146026322000196@patient.mss.test"
#define OTHER "279035121518989@patient.mss.test"
#define RUMP "imap://146026322000196@patient.mss.test/INBOX/;uid=1;urlauth=authuser"
#define TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static const char msg1[] = "From: a@example.com\r\nSubject: QZURL1\r\n\r\nfirst body\r\n";

static int setup(void **state)
{
	if (store_fixture_setup(state) != 0)
		return -1;
	struct store_fixture *f = *state;
	return store_user_create(f->st, PAT, f->err, sizeof(f->err)) != 0 ||
	               store_user_create(f->st, OTHER, f->err, sizeof(f->err)) != 0
	           ? -1
	           : 0;
}

static int64_t rows(struct store_fixture *f)
{
	int64_t n = -1;
	assert_int_equal(sql_one(store_sql(f->st), "t", "SELECT count(*) FROM urlauth_keys", SQL_NOARGS, &n,
	                         f->err, sizeof(f->err)),
	                 1);
	return n;
}

static struct store_urlauth_url url(int64_t mbox, uint32_t uid, const char *access, const char *rump,
                                    const char *token)
{
	return (struct store_urlauth_url){mbox, uid, access, rump, strlen(rump), token};
}

/* 0 when st opens u and reads msg1 whole; 1 when u opens nothing; -1 on error. */
static int open_as(struct store *st, const struct store_urlauth_url *u, char *err, size_t errlen)
{
	struct store_body *b;
	int rc = store_urlauth_open(st, u, &b, err, errlen);
	if (rc != 1)
		return rc == 0 ? 1 : -1;
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	rc = store_body_read_all(b, &out, err, errlen);
	store_body_close(b);
	if (rc == 0 && (out.len != sizeof(msg1) - 1 || memcmp(out.data, msg1, out.len) != 0))
		rc = -1;
	buf_free(&out);
	store_cache_clear(st);
	return rc;
}

static void break_owner_key(struct store_fixture *f)
{
	assert_int_equal(
	    sql_exec(store_sql(f->st), "t", "UPDATE store_users SET wrapped_key = ?1 WHERE address = ?2",
	             SQL_ARGS(SQL_TEXT("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	                               "00112233445566778899aabbccddeeff00112233445566778899aabbcc"),
	                      SQL_TEXT(PAT)),
	             f->err, sizeof(f->err)),
	    1);
}

static void test_other_account_opens_with_the_url(void **state)
{
	struct store_fixture *f = *state;
	uint32_t uid = store_fixture_deliver(f, PAT, "INBOX", msg1, NULL);
	int64_t in = store_fixture_mailbox(f, PAT, "INBOX");
	struct store_urlauth_url u = url(in, uid, "authuser", RUMP, TOKEN);
	assert_int_equal(store_urlauth_grant(f->st, &u, 100, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_urlauth_grant(f->st, &u, 100, f->err, sizeof(f->err)), 1); /* again: one row */
	assert_int_equal(rows(f), 1);

	break_owner_key(f);
	struct store *r = store_open(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(r);
	assert_int_equal(store_reader_bind(r, OTHER, f->err, sizeof(f->err)), 0);
	assert_int_equal(open_as(r, &u, f->err, sizeof(f->err)), 0);
	/* the plain way is still closed to it: no reader row, and the owner's key is gone */
	struct store_body *b;
	assert_int_equal(store_body_open(r, in, uid, &b, f->err, sizeof(f->err)), -1);

	const struct store_urlauth_url changed[] = {
	    url(in, uid, "authuser", RUMP,
	        "10112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
	    url(in, uid, "authuser", RUMP "x", TOKEN), url(in, uid + 1, "authuser", RUMP, TOKEN),
	    url(in, uid, "user+" OTHER, RUMP, TOKEN), /* the row's associated data */
	};
	for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++)
		assert_int_equal(open_as(r, &changed[i], f->err, sizeof(f->err)), 1);
	/* the generation moved on without the rows going: they no longer open */
	assert_int_equal(sql_exec(store_sql(f->st), "t",
	                          "UPDATE mailboxes SET urlauth_generation = 7 WHERE id = ?1",
	                          SQL_ARGS(SQL_INT(in)), f->err, sizeof(f->err)),
	                 1);
	assert_int_equal(open_as(r, &u, f->err, sizeof(f->err)), 1);
	store_close(r);
}

static void test_reset_expunge_old_form_limit(void **state)
{
	struct store_fixture *f = *state;
	uint32_t uid = store_fixture_deliver(f, PAT, "INBOX", msg1, NULL);
	int64_t in = store_fixture_mailbox(f, PAT, "INBOX");
	struct store_urlauth_url u = url(in, uid, "authuser", RUMP, TOKEN);
	assert_int_equal(store_urlauth_grant(f->st, &u, 100, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_urlauth_reset(f->st, PAT, "INBOX", f->err, sizeof(f->err)), 1);
	assert_int_equal(rows(f), 0);
	assert_int_equal(store_urlauth_grant(f->st, &u, 100, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_urlauth_reset(f->st, PAT, NULL, f->err, sizeof(f->err)), 1);
	assert_int_equal(rows(f), 0);

	/* at most max rows an account; signing one already there is no new row */
	struct store_urlauth_url v = url(in, uid, "authuser", RUMP, "ff");
	assert_int_equal(store_urlauth_grant(f->st, &u, 1, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_urlauth_grant(f->st, &v, 1, f->err, sizeof(f->err)), STORE_URLAUTH_FULL);
	assert_int_equal(store_urlauth_grant(f->st, &u, 1, f->err, sizeof(f->err)), 1);
	assert_int_equal(rows(f), 1);

	/* expunged: the row goes with the message */
	struct store_flags_req del = {.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED};
	struct store_flags_result res;
	assert_int_equal(store_set_flags(f->st, in, &uid, 1, &del, &res, f->err, sizeof(f->err)), 0);
	store_flags_result_free(&res);
	assert_int_equal(store_expunge(f->st, in, NULL, 0, NULL, NULL, f->err, sizeof(f->err)), 0);
	assert_int_equal(rows(f), 0);
	assert_int_equal(open_as(f->st, &u, f->err, sizeof(f->err)), 1);
	/* no such message, and one of the old form (under the account key): no row */
	assert_int_equal(store_urlauth_grant(f->st, &u, 100, f->err, sizeof(f->err)), 0);
	uid = store_fixture_deliver(f, PAT, "INBOX", msg1, NULL);
	store_fixture_make_old(f, PAT, "INBOX", uid);
	u.uid = uid;
	assert_int_equal(store_urlauth_grant(f->st, &u, 100, f->err, sizeof(f->err)), 0);
	assert_int_equal(rows(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_other_account_opens_with_the_url, setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_reset_expunge_old_form_limit, setup, store_fixture_teardown),
	};
	return STORE_RUN_GROUPS("store urlauth keys", tests);
}
