/* test_store_old.h: a message rewritten as a store from before key pairs (store
 * migration 8) left it, for the tests of what reads or migrates such messages. Uses
 * the store's internals (store_int.h). */
#ifndef MSS_TEST_STORE_OLD_H
#define MSS_TEST_STORE_OLD_H

#include <sodium.h>

#include "store/store_int.h"
#include "store/store_sql.h"
#include "test_store_util.h"

/* Reads (mailbox, uid) whole into out; returns store_body_read_all's result, -1 when
 * the body does not open. */
static inline int store_fixture_read(struct store *st, int64_t mbox, uint32_t uid, struct buf *out, char *err,
                                     size_t errlen)
{
	struct store_body *b;
	buf_reset(out);
	if (store_body_open(st, mbox, uid, &b, err, errlen) != 1)
		return -1;
	int rc = store_body_read_all(b, out, err, errlen);
	store_body_close(b);
	return rc;
}

/* Rewrites (user, mailbox, uid) as a store from before key pairs left it: the blob
 * (a file, as every blob was then) and its metadata under the account key, no sealed
 * key. */
static inline void store_fixture_make_old(struct store_fixture *f, const char *user, const char *mailbox,
                                          uint32_t uid)
{
	struct sql *db = store_sql(f->st);
	int64_t mbox = store_fixture_mailbox(f, user, mailbox), user_id = 0;
	struct store_message m;
	struct buf b, rec;
	char name[STORE_BLOB_NAME_LEN + 8], path[CONFIG_PATH_MAX + 64];
	unsigned char account[CRYPTO_KEY_LEN];
	buf_init(&b, BUF_UNLIMITED);
	buf_init(&rec, BUF_UNLIMITED);
	assert_int_equal(store_fixture_read(f->st, mbox, uid, &b, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_message_get(f->st, mbox, uid,
	                                   STORE_WANT_ENVELOPE | STORE_WANT_BODYSTRUCTURE | STORE_WANT_BODY |
	                                       STORE_WANT_REFS,
	                                   &m, f->err, sizeof(f->err)),
	                 1);
	assert_int_equal(store_user_id(f->st, user, &user_id, f->err, sizeof(f->err)), 1);
	assert_int_equal(store_user_key(f->st, user_id, account, f->err, sizeof(f->err)), 0);
	const struct store_meta_text t = {m.envelope, m.bodystructure, m.body, m.refs};
	assert_int_equal(store_meta_seal(account, &t, &rec, f->err, sizeof(f->err)), 0);
	struct sql_stmt *q = sql_query(db, "t",
	                               "SELECT b.name FROM messages m JOIN blobs b ON b.id = m.blob_id"
	                               " WHERE m.mailbox_id = ?1 AND m.uid = ?2",
	                               SQL_ARGS(SQL_INT(mbox), SQL_INT(uid)), f->err, sizeof(f->err));
	assert_non_null(q);
	assert_int_equal(sql_next(q, f->err, sizeof(f->err)), 1);
	assert_int_equal(sql_text_copy(q, 0, name, sizeof(name)), 0);
	sql_done(q);
	assert_int_equal(store_blob_path(f->st, name, path, sizeof(path)), 0);
	assert_int_equal(crypto_blob_write_file(path, account, b.data, b.len, f->err, sizeof(f->err)), 0);
	assert_int_equal(sql_exec(db, "t", "UPDATE blobs SET sealed_key = NULL, data = NULL WHERE name = ?1",
	                          SQL_ARGS(SQL_TEXT(name)), f->err, sizeof(f->err)),
	                 1);
	assert_int_equal(sql_exec(db, "t", "UPDATE messages SET meta = ?3 WHERE mailbox_id = ?1 AND uid = ?2",
	                          SQL_ARGS(SQL_INT(mbox), SQL_INT(uid), SQL_BLOB(rec.data, rec.len)), f->err,
	                          sizeof(f->err)),
	                 1);
	sodium_memzero(account, sizeof account);
	store_message_free(&m);
	buf_free(&b);
	buf_free(&rec);
	store_cache_clear(f->st);
}

#endif
