/* store_view.c: which sessions have a mailbox selected, and how far each has been told
 * of its expunges; and the expunged messages kept readable until they all have.
 *
 * RFC 9051 7.5.1 forbids telling a client of an expunge during FETCH, STORE or
 * SEARCH, so a session may ask for a message another session expunged a moment ago.
 * As Dovecot does, such a message stays readable until every session that could still
 * see it has been told: EXPUNGE moves its row to `retained` (the blob stays), and the
 * rows are purged once no live view of the mailbox is behind their expunge.
 *
 * The views live in data_dir/run/views-<mailbox id>: one 8-octet slot per selected
 * session holding the MODSEQ up to which it was told of expunges, each slot held by an
 * open-file-description lock (F_OFD_SETLK). The kernel drops a crashed session's lock,
 * so a dead view never holds messages back; nothing is fsynced, nothing is written to
 * the database to SELECT. A slot is taken with MODSEQ 0 (keep everything) before the
 * session reads its message list, so no purge can run between the list and the slot.
 * One host only: with the PostgreSQL store on several hosts a session on another host
 * is not counted, and may still be answered NO [EXPUNGEISSUED] (doc/operations.md). */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

#define SLOT 8
#define SLOTS_MAX 65536 /* sessions with one mailbox selected at once */

struct store_view {
	int fd;
	off_t at; /* our slot */
	int64_t mailbox_id;
	uint64_t seen;
};

static int open_views(struct store *st, int64_t mailbox_id, int flags)
{
	char path[CONFIG_PATH_MAX + 64];
	if (str_format(path, sizeof(path), "%s/run/views-%lld", st->cfg.data_dir, (long long)mailbox_id) <
	    0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static int slot_lock(int fd, off_t at)
{
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = SLOT};
	return fcntl(fd, F_OFD_SETLK, &l);
}

static void slot_write(int fd, off_t at, uint64_t modseq)
{
	unsigned char b[SLOT];
	for (int i = 0; i < SLOT; i++)
		b[i] = (unsigned char)(modseq >> (8 * i));
	if (pwrite(fd, b, SLOT, at) != SLOT)
		return; /* a short write leaves an older, smaller value: messages kept longer */
}

int store_view_open(struct store *st, int64_t mailbox_id, struct store_view **out, char *err, size_t errlen)
{
	*out = NULL;
	int fd = open_views(st, mailbox_id, O_RDWR | O_CREAT);
	if (fd < 0) {
		str_error(err, errlen, "views of mailbox %lld: %s", (long long)mailbox_id, strerror(errno));
		return -1;
	}
	for (off_t i = 0; i < SLOTS_MAX; i++) {
		if (slot_lock(fd, i * SLOT) < 0)
			continue; /* another session's */
		struct store_view *v = xcalloc(1, sizeof(*v));
		v->fd = fd;
		v->at = i * SLOT;
		v->mailbox_id = mailbox_id;
		slot_write(fd, v->at, 0);
		*out = v;
		return 0;
	}
	close(fd);
	str_error(err, errlen, "too many sessions on mailbox %lld", (long long)mailbox_id);
	return -1;
}

int store_view_seen(struct store *st, struct store_view *v, uint64_t modseq, char *err, size_t errlen)
{
	if (v == NULL || modseq <= v->seen)
		return 0;
	v->seen = modseq;
	slot_write(v->fd, v->at, modseq);
	return store_retained_purge(st, v->mailbox_id, err, errlen);
}

int store_view_close(struct store *st, struct store_view *v, char *err, size_t errlen)
{
	if (v == NULL)
		return 0;
	int64_t mailbox_id = v->mailbox_id;
	close(v->fd); /* drops the slot's lock */
	free(v);
	return store_retained_purge(st, mailbox_id, err, errlen);
}

static uint64_t slot_value(const unsigned char *b)
{
	uint64_t m = 0;
	for (int i = SLOT - 1; i >= 0; i--)
		m = (m << 8) | b[i];
	return m;
}

/* The smallest MODSEQ of the live views of mailbox_id: UINT64_MAX when there is none,
 * 0 when it cannot be told (then nothing is purged). */
static uint64_t views_min(struct store *st, int64_t mailbox_id)
{
	int fd = open_views(st, mailbox_id, O_RDONLY);
	if (fd < 0)
		return errno == ENOENT ? UINT64_MAX : 0; /* no session ever selected it here */
	uint64_t min = UINT64_MAX;
	unsigned char b[SLOT];
	for (off_t at = 0; min > 0 && pread(fd, b, SLOT, at) == SLOT; at += SLOT) {
		struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = SLOT};
		if (fcntl(fd, F_OFD_GETLK, &l) < 0) {
			min = 0;
			break;
		}
		if (l.l_type == F_UNLCK)
			continue; /* a free slot, or a session that ended (crashed ones too) */
		uint64_t m = slot_value(b);
		if (m < min)
			min = m;
	}
	close(fd);
	return min;
}

/* ---- retained messages ---- */

int store_retain_locked(struct store *st, int64_t mailbox_id, uint32_t uid, uint64_t modseq, char *err,
                        size_t errlen)
{
	return sql_exec(
	           st->sql, "store.retain",
	           "INSERT INTO retained (mailbox_id, uid, expunged_modseq, modseq, internaldate, size,"
	           " flags, keywords, blob_id, sent_date, header_size, envelope, bodystructure, body,"
	           " parts, sent_local, refs, meta)"
	           " SELECT mailbox_id, uid, ?3, modseq, internaldate, size, flags, keywords, blob_id,"
	           " sent_date, header_size, envelope, bodystructure, body, parts, sent_local, refs, meta"
	           " FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
	           SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(uid), SQL_INT(modseq)), err, errlen) < 0
	           ? -1
	           : 0;
}

int store_retained_drop_locked(struct store *st, int64_t mailbox_id, uint64_t upto,
                               struct store_paths *unlinked, char *err, size_t errlen)
{
	int64_t *blobs = NULL;
	size_t n = 0;
	if (upto > (uint64_t)INT64_MAX)
		upto = (uint64_t)INT64_MAX;
	struct sql_stmt *q =
	    sql_query(st->sql, "store.retained_blobs",
	              "SELECT blob_id FROM retained WHERE mailbox_id = ?1 AND expunged_modseq <= ?2",
	              SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(upto)), err, errlen);
	if (q == NULL)
		return -1;
	int rc;
	while ((rc = sql_next(q, err, errlen)) == 1) {
		blobs = xrealloc(blobs, (n + 1) * sizeof(*blobs));
		blobs[n++] = sql_int(q, 0);
	}
	sql_done(q);
	if (rc == 0 && n > 0)
		rc = sql_exec(st->sql, "store.retained_purge",
		              "DELETE FROM retained WHERE mailbox_id = ?1 AND expunged_modseq <= ?2",
		              SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(upto)), err, errlen) < 0
		         ? -1
		         : 0;
	if (rc == 0 && n > 0)
		rc = store_blob_release(st, blobs, n, unlinked, err, errlen);
	free(blobs);
	return rc < 0 ? -1 : 0;
}

int store_retained_purge(struct store *st, int64_t mailbox_id, char *err, size_t errlen)
{
	uint64_t min = views_min(st, mailbox_id);
	if (min == 0)
		return 0;
	/* every live view was told of every expunge up to min: those rows can go */
	int64_t upto = min >= (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)min;
	int64_t any = 0;
	int rc = sql_one(st->sql, "store.retained_any",
	                 "SELECT 1 FROM retained WHERE mailbox_id = ?1 AND expunged_modseq <= ?2 LIMIT 1",
	                 SQL_ARGS(SQL_INT(mailbox_id), SQL_INT(upto)), &any, err, errlen);
	if (rc <= 0)
		return rc; /* nothing to purge (the common case: one indexed lookup) */
	struct store_txn t;
	struct store_paths unlinked = {0};
	rc = store_txn_begin(st, &t, err, errlen);
	if (rc == 0) {
		rc = store_retained_drop_locked(st, mailbox_id, (uint64_t)upto, &unlinked, err, errlen);
		rc = store_txn_end(st, &t, rc, err, errlen);
	}
	if (rc == 0)
		store_paths_unlink(&unlinked);
	else
		store_paths_free(&unlinked);
	return rc;
}
