/* sql_sqlite_sync.c: group commit for SQLite across processes (see sql_sqlite_sync.h).
 *
 * Generations instead of clocks: a waiter reads `started` right after its commit and
 * needs a sync numbered above it, that is one whose fdatasync call came after the
 * commit's writes (a sync sets `started` before it calls fdatasync). Under the flock,
 * a waiter finds either a completed sync that covers it (`done` high enough), a failed
 * one that did (`failed` high enough: its writes may be lost, so it fails too, even if
 * a later sync succeeds), or syncs itself for everyone who committed before. The
 * numbers only compare with each other, so a reboot or a clock step changes nothing. */
#include "lib/sql_sqlite_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/str.h"

#define SYNC_MAGIC 0x4d53534753594e43ull /* "MSSGSYNC" */

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

/* Root (mssctl init, a restore) makes the file the database owner's, as SQLite does
 * with its -wal and -shm, so that the daemons' user can use it. */
static int give_to_db_owner(int fd, const char *db_path)
{
	struct stat db;
	if (geteuid() != 0 || stat(db_path, &db) != 0)
		return 0;
	return fchown(fd, db.st_uid, db.st_gid);
}

int lite_sync_open(struct lite_sync *s, const char *db_path, char *err, size_t errlen)
{
	char path[sizeof s->wal_path];
	memset(s, 0, sizeof *s);
	s->lock_fd = s->wal_fd = -1;
	s->sync = fdatasync;
	if (str_format(path, sizeof path, "%s-sync", db_path) < 0 ||
	    str_format(s->wal_path, sizeof s->wal_path, "%s-wal", db_path) < 0) {
		str_error(err, errlen, "%s: path too long", db_path);
		return -1;
	}
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat sb;
	if (s->lock_fd < 0 || give_to_db_owner(s->lock_fd, db_path) != 0 || fstat(s->lock_fd, &sb) != 0 ||
	    ((size_t)sb.st_size < sizeof *s->sh && ftruncate(s->lock_fd, sizeof *s->sh) != 0)) {
		str_error(err, errlen, "%s: %s", path, strerror(errno));
		lite_sync_close(s);
		return -1;
	}
	void *m = mmap(NULL, sizeof *s->sh, PROT_READ | PROT_WRITE, MAP_SHARED, s->lock_fd, 0);
	if (m == MAP_FAILED) {
		str_error(err, errlen, "%s: mmap: %s", path, strerror(errno));
		lite_sync_close(s);
		return -1;
	}
	s->sh = m;
	/* A new file is zeros: generation 0 was never begun, so nothing counts as covered. */
	uint64_t zero = 0;
	__atomic_compare_exchange_n(&s->sh->magic, &zero, SYNC_MAGIC, false, __ATOMIC_SEQ_CST,
	                            __ATOMIC_SEQ_CST);
	if (load(&s->sh->magic) != SYNC_MAGIC) {
		str_error(err, errlen, "%s: not an MSS sync file (remove it while no process runs)", path);
		lite_sync_close(s);
		return -1;
	}
	return 0;
}

static int lock(int fd, int op)
{
	int rc;
	while ((rc = flock(fd, op)) != 0 && errno == EINTR)
		;
	return rc;
}

/* Under the flock: covered by a sync begun after generation `after`, or one made now. */
static int sync_locked(struct lite_sync *s, uint64_t after, char *err, size_t errlen)
{
	if (load(&s->sh->failed) > after) {
		str_error(err, errlen, "%s: an fdatasync covering this commit failed", s->wal_path);
		return -1;
	}
	if (load(&s->sh->done) > after)
		return 0;
	if (s->wal_fd < 0 && (s->wal_fd = open(s->wal_path, O_RDONLY | O_CLOEXEC)) < 0) {
		str_error(err, errlen, "%s: %s", s->wal_path, strerror(errno));
		return -1;
	}
	uint64_t gen = load(&s->sh->started) + 1;
	store(&s->sh->started, gen); /* before the call: who reads it later is not covered */
	int rc = s->sync(s->wal_fd);
	int saved = errno;
	__atomic_add_fetch(&s->sh->syncs, 1, __ATOMIC_SEQ_CST);
	if (rc != 0) {
		store(&s->sh->failed, gen);
		str_error(err, errlen, "%s: fdatasync: %s", s->wal_path, strerror(saved));
		return -1;
	}
	store(&s->sh->done, gen);
	return 0;
}

int lite_sync_committed(struct lite_sync *s, char *err, size_t errlen)
{
	uint64_t after = load(&s->sh->started);
	__atomic_add_fetch(&s->sh->commits, 1, __ATOMIC_SEQ_CST);
	return lite_sync_wait(s, after, err, errlen);
}

int lite_sync_durable(struct lite_sync *s, uint64_t since, char *err, size_t errlen)
{
	if (load(&s->sh->failed) > since) {
		str_error(err, errlen, "%s: an fdatasync that may have covered this commit failed",
		          s->wal_path);
		return -1;
	}
	return lite_sync_wait(s, load(&s->sh->started), err, errlen);
}

uint64_t lite_sync_mark(const struct lite_sync *s)
{
	return load(&s->sh->started);
}

int lite_sync_wait(struct lite_sync *s, uint64_t after, char *err, size_t errlen)
{
	if (lock(s->lock_fd, LOCK_EX) != 0) {
		str_error(err, errlen, "%s-sync: flock: %s", s->wal_path, strerror(errno));
		return -1;
	}
	int rc = sync_locked(s, after, err, errlen);
	lock(s->lock_fd, LOCK_UN);
	return rc;
}

void lite_sync_close(struct lite_sync *s)
{
	if (s->sh != NULL)
		munmap(s->sh, sizeof *s->sh);
	if (s->wal_fd >= 0)
		close(s->wal_fd);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->sh = NULL;
	s->wal_fd = s->lock_fd = -1;
}
