/* test_store_readers.c: message keys sealed to readers other than the owner (issue
 * 12, store/store_readers.c, table blob_keys). With a rule of the test's own (the
 * owner's "Shared" mailbox is read by PRO while `granted`; "$Masked" hides): delivery
 * by a process without secrets seals to the reader; a store bound to the reader opens
 * the message with its own row while the owner's wrapped key is unusable, and nothing
 * without one; refresh, mask, expunge, COPY/MOVE and the reader's account deletion
 * keep the rows in step; a shared message of the old form (under the owner's account
 * key) is rewritten in the new form before it gets a row. On SQLite and PostgreSQL. */
#include "test_store_util.h"
#include "test_store_old.h"

#include <strings.h>

#define PAT "146026322000196@patient.mss.test"
#define PRO "dr.martin@pro.mss.test"
#define SHARED "Shared"

static const char msg1[] = "From: Dr Martin <dr.martin@pro.mss.test>\r\n"
                           "To: <146026322000196@patient.mss.test>\r\n"
                           "Subject: Compte rendu QZREADr1\r\n"
                           "\r\n"
                           "Bonjour,\r\nvoici le compte rendu.\r\n";

static bool granted = true;

static int readers(struct store *st, const char *owner, const char *mailbox,
                   int (*add)(void *ctx, const char *address), void *ctx, char *err, size_t errlen)
{
	(void)st;
	(void)err;
	(void)errlen;
	if (!granted || strcasecmp(owner, PAT) != 0 || strcmp(mailbox, SHARED) != 0)
		return 0;
	return add(ctx, PRO);
}

static bool hidden(const char *keywords)
{
	return keywords != NULL && strstr(keywords, "$Masked") != NULL;
}

static const struct store_readers rule = {readers, hidden};

static int setup(void **state)
{
	store_readers_set(&rule);
	granted = true;
	if (store_fixture_setup(state) != 0)
		return -1;
	struct store_fixture *f = *state;
	if (store_user_create(f->st, PAT, f->err, sizeof(f->err)) != 0 ||
	    store_user_create(f->st, PRO, f->err, sizeof(f->err)) != 0 ||
	    store_mailbox_create(f->st, PAT, SHARED, 0, f->err, sizeof(f->err)) != 0)
		return -1;
	return 0;
}

static int64_t count(struct store_fixture *f, const char *sql)
{
	int64_t n = -1;
	assert_int_equal(sql_one(store_sql(f->st), "t", sql, SQL_NOARGS, &n, f->err, sizeof(f->err)), 1);
	return n;
}

static int64_t rows(struct store_fixture *f)
{
	return count(f, "SELECT count(*) FROM blob_keys");
}

/* A store as PRO's logged-in session opens it. */
static struct store *reader(struct store_fixture *f)
{
	struct store *st = store_open(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(st);
	assert_int_equal(store_reader_bind(st, PRO, f->err, sizeof(f->err)), 0);
	return st;
}

/* 0 when st reads (mailbox, uid) whole, its body and its ENVELOPE; -1 when refused. */
static int read_as(struct store *st, int64_t mbox, uint32_t uid, char *err, size_t errlen)
{
	struct store_body *b;
	struct store_message m;
	struct buf out;
	if (store_body_open(st, mbox, uid, &b, err, errlen) != 1)
		return -1;
	buf_init(&out, BUF_UNLIMITED);
	int rc = store_body_read_all(b, &out, err, errlen);
	store_body_close(b);
	if (rc == 0 && (out.len != sizeof(msg1) - 1 || memcmp(out.data, msg1, out.len) != 0))
		rc = -1;
	buf_free(&out);
	store_cache_clear(st);
	if (rc != 0 || store_message_get(st, mbox, uid, STORE_WANT_ENVELOPE, &m, err, errlen) != 1)
		return -1;
	rc = strstr(m.envelope, "QZREADr1") != NULL ? 0 : -1;
	store_message_free(&m);
	return rc;
}

/* The owner's wrapped account key made unusable: only a reader's own key opens now. */
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

static void test_delivery_seals_to_reader(void **state)
{
	struct store_fixture *f = *state;
	struct store *w = store_open_nokeys(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(w);
	struct store_fixture wf = *f;
	wf.st = w;
	uint32_t shared = store_fixture_deliver(&wf, PAT, SHARED, msg1, NULL);
	uint32_t inbox = store_fixture_deliver(&wf, PAT, "INBOX", msg1, NULL);
	uint32_t masked = store_fixture_deliver(&wf, PAT, SHARED, msg1, "$Masked");
	store_close(w);
	assert_int_equal(rows(f), 1); /* the shared one only: not INBOX, not the masked one */

	break_owner_key(f);
	struct store *r = reader(f);
	int64_t sh = store_fixture_mailbox(f, PAT, SHARED), in = store_fixture_mailbox(f, PAT, "INBOX");
	assert_int_equal(read_as(r, sh, shared, f->err, sizeof(f->err)), 0);
	assert_int_equal(read_as(r, in, inbox, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "no key for this account"));
	assert_int_equal(read_as(r, sh, masked, f->err, sizeof(f->err)), -1);
	store_close(r);
}

/* The delivery gives the rule the owner and mailbox it knows (no read of them under
 * the write lock): the recipient as the envelope wrote it (any case) and the mailbox
 * the delivery made, when missing, in the same transaction; the reader's row follows,
 * and the new mailbox's UIDs start at 1. */
static void test_delivery_to_a_new_mailbox_seals_to_reader(void **state)
{
	struct store_fixture *f = *state;
	assert_int_equal(store_mailbox_delete(f->st, PAT, SHARED, f->err, sizeof(f->err)), 0);
	struct store *w = store_open_nokeys(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(w);
	struct store_fixture wf = *f;
	wf.st = w;
	assert_int_equal(store_fixture_deliver(&wf, "146026322000196@PATIENT.mss.test", SHARED, msg1, NULL),
	                 1);
	assert_int_equal(store_fixture_deliver(&wf, PAT, SHARED, msg1, NULL), 2);
	store_close(w);
	assert_int_equal(rows(f), 2);
	break_owner_key(f);
	struct store *r = reader(f);
	int64_t sh = store_fixture_mailbox(f, PAT, SHARED);
	assert_int_equal(read_as(r, sh, 1, f->err, sizeof(f->err)), 0);
	assert_int_equal(read_as(r, sh, 2, f->err, sizeof(f->err)), 0);
	store_close(r);
}

/* One delivery to the shared mailbox in two steps, the rule changed between them (a
 * committer prepares before its batch's BEGIN): the readers are read and sealed to in
 * the rows, under the write lock. Returns the reader rows it made. */
static int64_t prepared_then_rows(struct store_fixture *f, bool at_prepare, bool at_rows)
{
	struct store *w = store_open_nokeys(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(w);
	const char *rcpts[] = {PAT};
	const struct store_delivery d = {.mail_from = PRO,
	                                 .rcpts = rcpts,
	                                 .nrcpt = 1,
	                                 .mailbox = SHARED,
	                                 .data = msg1,
	                                 .len = sizeof(msg1) - 1};
	int64_t before = rows(f);
	struct store_prepared *p;
	granted = at_prepare;
	assert_int_equal(store_deliver_prepare(w, &d, &p, f->err, sizeof(f->err)), 0);
	assert_int_equal(rows(f), before); /* nothing in the database yet */
	granted = at_rows;
	assert_int_equal(store_deliver_rows(w, p, NULL, f->err, sizeof(f->err)), 0);
	store_deliver_free(w, p);
	store_close(w);
	return rows(f) - before;
}

/* A reader granted between the prepare and the rows gets the message's key; one
 * revoked between them gets no row (a grant revoked before the commit leaves none). */
static void test_readers_read_in_the_rows_not_the_prepare(void **state)
{
	struct store_fixture *f = *state;
	assert_int_equal(prepared_then_rows(f, false, true), 1);
	assert_int_equal(prepared_then_rows(f, true, false), 0);
	assert_int_equal(prepared_then_rows(f, true, true), 1);
	granted = true;
	break_owner_key(f);
	struct store *r = reader(f);
	int64_t sh = store_fixture_mailbox(f, PAT, SHARED);
	assert_int_equal(read_as(r, sh, 1, f->err, sizeof(f->err)), 0);
	assert_int_equal(read_as(r, sh, 2, f->err, sizeof(f->err)), -1); /* revoked before its rows */
	assert_int_equal(read_as(r, sh, 3, f->err, sizeof(f->err)), 0);
	store_close(r);
}

/* store_reuse_end (a process serving one client after another keeps its store): the
 * reader binding of the last client is gone, a transaction left open is rolled back and
 * the store refused for reuse, and store_reuse_begin refuses a store whose schema was
 * migrated meanwhile by another connection. */
static void test_reuse_end_forgets_the_client(void **state)
{
	struct store_fixture *f = *state;
	uint32_t inbox = store_fixture_deliver(f, PAT, "INBOX", msg1, NULL);
	int64_t in = store_fixture_mailbox(f, PAT, "INBOX");
	struct store *r = reader(f);
	assert_int_equal(read_as(r, in, inbox, f->err, sizeof(f->err)), -1); /* PRO's session */
	assert_int_equal(store_reuse_end(r), 0);
	assert_int_equal(store_reuse_begin(r, f->err, sizeof(f->err)), 0);
	assert_int_equal(read_as(r, in, inbox, f->err, sizeof(f->err)), 0); /* bound to no one */

	assert_int_equal(sql_begin_write(store_sql(r), f->err, sizeof(f->err)), 0);
	assert_int_equal(store_reuse_end(r), -1);
	assert_false(sql_in_transaction(store_sql(r)));
	store_close(r);

	r = store_open_nokeys(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(r);
	assert_int_equal(store_reuse_end(r), 0);
	assert_int_equal(store_reuse_begin(r, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_reuse_end(r), 0);
	assert_int_equal(sql_script(store_sql(f->st), "t",
	                            "CREATE TABLE reuse_z(x INTEGER);"
	                            "UPDATE schema_version SET version = version WHERE component = 'store'",
	                            f->err, sizeof(f->err)),
	                 0);
	assert_int_equal(store_reuse_begin(r, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "schema changed"));
	store_close(r);
}

/* The decrypted message's cache (store_cache_clear) grows as a blob is decrypted into
 * it chunk by chunk: its buffer is a wiped one, so that each storage it outgrew is
 * overwritten (test_lib_buf), not left with a patient's message in the heap of a
 * reused process; after store_release_memory too. */
static void test_decrypted_message_cache_is_wiped(void **state)
{
	struct store_fixture *f = *state;
	uint32_t shared = store_fixture_deliver(f, PAT, SHARED, msg1, NULL);
	struct store *r = reader(f);
	assert_int_equal(read_as(r, store_fixture_mailbox(f, PAT, SHARED), shared, f->err, sizeof(f->err)),
	                 0);
	assert_true(r->cache.data.wiped);
	store_release_memory(r);
	assert_true(r->cache.data.wiped);
	store_close(r);
}

static void test_refresh_mask_expunge(void **state)
{
	struct store_fixture *f = *state;
	uint32_t a = store_fixture_deliver(f, PAT, SHARED, msg1, NULL);
	store_fixture_deliver(f, PAT, SHARED, msg1, NULL);
	int64_t sh = store_fixture_mailbox(f, PAT, SHARED);
	struct store_readers_report rep;
	assert_int_equal(rows(f), 2);

	granted = false; /* revoked: pruning removes, in a process holding no key at all */
	struct store *nk = store_open_nokeys(&f->cfg, f->err, sizeof(f->err));
	assert_non_null(nk);
	assert_int_equal(store_readers_prune(nk, PAT, &rep, f->err, sizeof(f->err)), 0);
	store_close(nk);
	assert_int_equal(rep.removed, 2);
	assert_int_equal(rows(f), 0);
	granted = true; /* granted again: pruning adds nothing, refresh adds with the owner's key */
	assert_int_equal(store_readers_prune(f->st, PAT, &rep, f->err, sizeof(f->err)), 0);
	assert_int_equal(rows(f), 0);
	assert_int_equal(store_readers_refresh(f->st, PAT, 0, &rep, f->err, sizeof(f->err)), 0);
	assert_int_equal(rep.added, 2);
	assert_int_equal(store_readers_refresh(f->st, PAT, 0, &rep, f->err, sizeof(f->err)), 0);
	assert_int_equal(rep.added + rep.removed, 0); /* idempotent */

	struct store_flags_req mask = {.op = STORE_FLAGS_ADD, .keywords = "$Masked"};
	struct store_flags_result res;
	assert_int_equal(store_set_flags(f->st, sh, &a, 1, &mask, &res, f->err, sizeof(f->err)), 0);
	store_flags_result_free(&res);
	assert_int_equal(rows(f), 1);
	mask.op = STORE_FLAGS_REMOVE;
	assert_int_equal(store_set_flags(f->st, sh, &a, 1, &mask, &res, f->err, sizeof(f->err)), 0);
	store_flags_result_free(&res);
	assert_int_equal(rows(f), 2);

	struct store_flags_req del = {.op = STORE_FLAGS_ADD, .flags = STORE_FLAG_DELETED};
	assert_int_equal(store_set_flags(f->st, sh, &a, 1, &del, &res, f->err, sizeof(f->err)), 0);
	store_flags_result_free(&res);
	assert_int_equal(store_expunge(f->st, sh, NULL, 0, NULL, NULL, f->err, sizeof(f->err)), 0);
	assert_int_equal(rows(f), 1);

	/* the reader's account deleted: its rows go with it */
	assert_int_equal(store_user_delete(f->st, PRO, NULL, f->err, sizeof(f->err)), 0);
	assert_int_equal(rows(f), 0);
}

static void test_copy_and_move_follow(void **state)
{
	struct store_fixture *f = *state;
	uint32_t uid = store_fixture_deliver(f, PAT, "INBOX", msg1, NULL);
	int64_t in = store_fixture_mailbox(f, PAT, "INBOX"), sh = store_fixture_mailbox(f, PAT, SHARED);
	struct store_copy_result r;
	assert_int_equal(rows(f), 0);
	assert_int_equal(store_copy(f->st, in, &uid, 1, PAT, SHARED, false, &r, f->err, sizeof(f->err)), 0);
	uint32_t copied = r.dst_uids[0];
	store_copy_result_free(&r);
	assert_int_equal(rows(f), 1); /* the blob, shared by both messages, now due to PRO */
	/* moved back out: the blob is only in INBOX (and in the copy's source), no row */
	assert_int_equal(store_copy(f->st, sh, &copied, 1, PAT, "INBOX", true, &r, f->err, sizeof(f->err)),
	                 0);
	store_copy_result_free(&r);
	assert_int_equal(rows(f), 0);

	/* a reader copying a granted message into its own folder needs its own row only */
	uid = store_fixture_deliver(f, PAT, SHARED, msg1, NULL);
	break_owner_key(f);
	struct store *rd = reader(f);
	assert_int_equal(store_copy(rd, sh, &uid, 1, PRO, "INBOX", false, &r, f->err, sizeof(f->err)), 0);
	store_copy_result_free(&r);
	store_close(rd);
	assert_int_equal(count(f, "SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
	                          " JOIN store_users u ON u.id = b.user_id"
	                          " WHERE u.address = 'dr.martin@pro.mss.test'"),
	                 1);
}

static int64_t old_form(struct store_fixture *f)
{
	return count(f, "SELECT count(*) FROM blobs WHERE sealed_key IS NULL");
}

static void test_rekey_old_shared(void **state)
{
	struct store_fixture *f = *state;
	uint32_t shared = store_fixture_deliver(f, PAT, SHARED, msg1, NULL);
	uint32_t inbox = store_fixture_deliver(f, PAT, "INBOX", msg1, NULL);
	store_fixture_make_old(f, PAT, SHARED, shared);
	store_fixture_make_old(f, PAT, "INBOX", inbox);
	assert_int_equal(
	    sql_exec(store_sql(f->st), "t", "DELETE FROM blob_keys", SQL_NOARGS, f->err, sizeof(f->err)), 1);
	struct store_readers_report rep;
	size_t n = 0;
	/* the account key is never sealed to a reader: no row for the old form */
	assert_int_equal(store_readers_refresh(f->st, PAT, 0, &rep, f->err, sizeof(f->err)), 0);
	assert_int_equal(rep.added, 0);
	assert_int_equal(old_form(f), 2);
	assert_int_equal(store_readers_rekey(f->st, PAT, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 1); /* the shared one; INBOX stays as it was */
	assert_int_equal(old_form(f), 1);
	/* small: rewritten into its row (store_inline_blob_max), the old file gone */
	assert_int_equal(
	    count(f, "SELECT count(*) FROM blobs WHERE sealed_key IS NOT NULL AND data IS NOT NULL"), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM blobs WHERE data IS NULL"), 1);
	assert_int_equal(store_readers_rekey(f->st, PAT, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 0); /* idempotent */
	assert_int_equal(store_readers_refresh(f->st, PAT, 0, &rep, f->err, sizeof(f->err)), 0);
	assert_int_equal(rep.added, 1);
	int64_t sh = store_fixture_mailbox(f, PAT, SHARED), in = store_fixture_mailbox(f, PAT, "INBOX");
	assert_int_equal(read_as(f->st, sh, shared, f->err, sizeof(f->err)), 0); /* the owner still */
	assert_int_equal(read_as(f->st, in, inbox, f->err, sizeof(f->err)), 0);
	break_owner_key(f);
	struct store *r = reader(f);
	assert_int_equal(read_as(r, sh, shared, f->err, sizeof(f->err)), 0);
	store_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_delivery_seals_to_reader, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_decrypted_message_cache_is_wiped, setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_delivery_to_a_new_mailbox_seals_to_reader, setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_readers_read_in_the_rows_not_the_prepare, setup,
	                                    store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_mask_expunge, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_reuse_end_forgets_the_client, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_copy_and_move_follow, setup, store_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rekey_old_shared, setup, store_fixture_teardown),
	};
	return STORE_RUN_GROUPS("store readers", tests);
}
