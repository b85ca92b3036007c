/* sql_sqlite_sync.h: group commit for SQLite across processes (sql_sqlite.c's).
 *
 * Every process of a data_dir commits into one WAL. With synchronous=FULL each commit
 * fsynced the WAL while holding SQLite's write lock, so commits and their fsyncs were
 * strictly one after another: one fsync per commit, whatever the concurrency. Here
 * commits are written with synchronous=NORMAL (the write lock is released without an
 * fsync) and, before COMMIT returns to its caller, wait for an fdatasync of the WAL
 * that *began after* the commit: the first waiter syncs, the others that committed
 * before that sync began are covered by it. One fsync then covers every commit made
 * meanwhile by any session, and no caller ever learns of a commit before it is durable.
 *
 * Shared state: DB-sync (next to the database, the database's owner and mode 0600),
 * an flock held by whoever is syncing and four counters in a shared mapping:
 * started/done (generation of the last sync begun / completed), failed (the last that
 * failed) and, for operators and tests, the totals of commits and of syncs.
 * Private to lib/. */
#ifndef MSS_SQL_SQLITE_SYNC_H
#define MSS_SQL_SQLITE_SYNC_H

#include <stddef.h>
#include <stdint.h>

/* The mapped counters of DB-sync (fixed layout: other processes map the same file). */
struct lite_sync_shared {
	uint64_t magic;
	uint64_t started; /* generation of the last fdatasync begun */
	uint64_t done;    /* ... of the last that succeeded */
	uint64_t failed;  /* ... of the last that failed (0: none) */
	uint64_t commits; /* commits that waited for a sync */
	uint64_t syncs;   /* fdatasyncs done */
};

struct lite_sync {
	int lock_fd; /* DB-sync */
	int wal_fd;  /* DB-wal, opened at the first commit (it exists from then on) */
	struct lite_sync_shared *sh;
	char wal_path[4096];
	int (*sync)(int fd); /* fdatasync; a unit test gives one that fails */
};

/* Opens (creates) db_path's DB-sync. Returns 0, or -1 with err. */
int lite_sync_open(struct lite_sync *s, const char *db_path, char *err, size_t errlen);
/* Called once a commit is written: returns 0 once an fdatasync of the WAL begun after
 * this call succeeded (made here, or by another process meanwhile); -1 with err when
 * such a sync failed: the commit happened but may not be durable. */
int lite_sync_committed(struct lite_sync *s, char *err, size_t errlen);
/* The same for what another process committed (sql_durable): returns once an fdatasync
 * of the WAL begun after this call succeeded; no commit counted. -1 also when a sync
 * numbered above since (lite_sync_mark, taken before that process could commit) failed:
 * it may have covered the commit, whose writes may then be lost though a later sync
 * succeeds. */
int lite_sync_durable(struct lite_sync *s, uint64_t since, char *err, size_t errlen);
/* The syncs begun so far, for lite_sync_durable's since. */
uint64_t lite_sync_mark(const struct lite_sync *s);
/* The wait itself: returns 0 once a sync numbered above `after` succeeded, -1 when one
 * failed (lite_sync_committed reads `after` from `started` right after the commit). */
int lite_sync_wait(struct lite_sync *s, uint64_t after, char *err, size_t errlen);
void lite_sync_close(struct lite_sync *s);

#endif
