/* store_quota.c: what an account's messages take, for IMAP QUOTA (RFC 9208) and the
 * quota check of every delivery (smtpd RCPT) and APPEND: the sum of their RFC822.SIZE
 * over all the account's mailboxes, read from each mailbox's counters (n_messages,
 * total_size: kept by triggers in the transaction of every change to messages, so
 * they cannot drift; store_schema.c 12). One row per mailbox, whatever the messages'
 * number: summing the messages themselves cost 8 ms per delivery at 100,000 (issue 15). */
#include "store/store.h"

#include "lib/mss_limits.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

int store_quota_usage(struct store *st, const char *user, uint64_t *octets, uint64_t *messages, char *err,
                      size_t errlen)
{
	char key[MSS_ADDRESS_SIZE];
	*octets = 0;
	*messages = 0;
	if (str_copy(key, sizeof key, user) != 0)
		return 0; /* no account has so long an address: nothing used */
	str_lower(key);   /* kept lowercase (store_user.c) */
	/* one statement from the address (each RCPT asks): no mailboxes yet, nothing used */
	struct sql_stmt *q = sql_query(st->sql, "store.quota_usage",
	                               "SELECT coalesce(sum(m.total_size), 0), coalesce(sum(m.n_messages), 0)"
	                               " FROM store_users u JOIN mailboxes m ON m.user_id = u.id"
	                               " WHERE u.address = ?1",
	                               SQL_ARGS(SQL_TEXT(key)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = sql_next(q, err, errlen);
	if (rc == 1) {
		*octets = (uint64_t)sql_int(q, 0);
		*messages = (uint64_t)sql_int(q, 1);
	}
	sql_done(q);
	return rc < 0 ? -1 : 0;
}

int store_uids_size(struct store *st, int64_t mailbox_id, const uint32_t *uids, size_t n, uint64_t *octets,
                    char *err, size_t errlen)
{
	*octets = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t size = 0;
		int rc = sql_one(st->sql, "store.uid_size",
		                 "SELECT size FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
		                 SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uids[i])), &size, err, errlen);
		if (rc < 0)
			return -1;
		*octets += (uint64_t)size; /* 0 for a message expunged meanwhile: not copied either */
	}
	return 0;
}
