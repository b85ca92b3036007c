/* store_batch_note.c: what each committer batch committed (store.h, store_batch_note).
 *
 * A committer killed between its COMMIT and its answers leaves its sessions with the
 * end of the socket and nothing else: they said 451 of messages that were stored, and
 * the clients' retries stored them twice. Each batch now writes one row in its own
 * transaction naming its deliveries by queue id, so such a session reads whether its
 * delivery was committed. One row per batch, not per message (a busy committer's
 * batches hold tens), overwritten in a ring: a session reads within milliseconds of its
 * committer's death, and a new committer starts a second later at the earliest, so
 * STORE_BATCH_NOTES batches are far more than such a read needs; the lookup (a pass
 * over the ring, on that rare path only) needs no index to keep up on every commit. */
#include "store/store.h"

#include <string.h>

#include "lib/buf.h"
#include "lib/str.h"
#include "store/store_int.h"

/* A queue id as smtpd makes them: a session's request may carry any text, and one with
 * a blank or a colon would be another's key. */
static bool plain_id(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= 'a' && s[n] <= 'z')))
			return false;
	return n > 0 && n <= STORE_NOTE_ID_MAX;
}

int store_batch_note_add(struct buf *text, const char *queue_id, char mark)
{
	return plain_id(queue_id) ? buf_printf(text, " %s:%c", queue_id, mark) : 0;
}

int store_batch_note_last(struct store *st, int64_t *seq, char *err, size_t errlen)
{
	*seq = 0;
	return sql_one(st->sql, "store.batch_note_last",
	               "SELECT coalesce(max(seq), 0) FROM committer_batches", SQL_NOARGS, seq, err,
	               errlen) < 0
	           ? -1
	           : 0;
}

int store_batch_note(struct store *st, int64_t seq, const char *deliveries, char *err, size_t errlen)
{
	return sql_exec(
	           st->sql, "store.batch_note",
	           "INSERT INTO committer_batches (slot, seq, deliveries) VALUES (?1, ?2, ?3)"
	           " ON CONFLICT (slot) DO UPDATE SET seq = excluded.seq, deliveries = excluded.deliveries",
	           SQL_ARGS(SQL_INT(seq % STORE_BATCH_NOTES), SQL_INT(seq), SQL_TEXT(deliveries)), err,
	           errlen) == 1
	           ? 0
	           : -1;
}

uint64_t store_batch_sync_mark(struct store *st)
{
	return sql_sync_mark(st->sql);
}

/* The mark after " queue_id:" in a note's text, 0 when it does not hold it. */
static char mark_in(const char *text, const char *key)
{
	const char *at = strstr(text, key);
	return at != NULL ? at[strlen(key)] : 0;
}

int store_batch_noted(struct store *st, const char *queue_id, uint64_t since, char *mark, char *err,
                      size_t errlen)
{
	char key[STORE_NOTE_ID_MAX + 3], like[STORE_NOTE_ID_MAX + 5];
	*mark = 0;
	if (!plain_id(queue_id) || str_format(key, sizeof key, " %s:", queue_id) < 0 ||
	    str_format(like, sizeof like, "%% %s:%%", queue_id) < 0) {
		str_error(err, errlen, "queue id %s: not letters and digits", queue_id);
		return -1;
	}
	struct sql_stmt *q = sql_query(st->sql, "store.batch_noted",
	                               "SELECT deliveries FROM committer_batches WHERE deliveries LIKE ?1",
	                               SQL_ARGS(SQL_TEXT(like)), err, errlen);
	if (q == NULL)
		return -1;
	int rc = 0;
	while (*mark == 0 && (rc = sql_next(q, err, errlen)) == 1)
		*mark = mark_in(sql_text(q, 0), key);
	sql_done(q);
	if (*mark == 0)
		return rc < 0 ? -1 : 0;
	return sql_durable(st->sql, since, err, errlen) == 0 ? 1 : -1;
}
