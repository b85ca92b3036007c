/* store_blob_sweep.c: blob files no row names (store.h, store_blob_sweep_pass): what a
 * process killed between writing a blob (fsynced, renamed) and committing its row left
 * behind, and the temporary files of a blob it was writing. A pass is bounded
 * (max_files) and goes on where the previous one stopped, in name order within each
 * directory: readdir's order is not kept from one opendir to the next, a name is. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

#define SWEEP_DIRS 256 /* 00..ff: a blob's first two hex digits (store_blob_path) */

/* One directory's names still to look at, sorted. */
struct sweep_names {
	char (*v)[STORE_SWEEP_NAME_MAX];
	size_t n;
};

/* Where one pass is: its settings, the cut-off time, and what it did. */
struct sweep_pass {
	struct store *st;
	const struct store_sweep_opts *o;
	struct store_sweep_report *r;
	time_t before; /* a file modified later is kept: its row may be about to commit */
	char *err;
	size_t errlen;
};

/* A blob's name (16 random bytes in hex, store_blob_name) or a temporary file's:
 * nothing else in the directory is ever looked at. */
static bool blob_file(const char *name, bool *tmp)
{
	*tmp = strncmp(name, CRYPTO_BLOB_TMP_PREFIX, strlen(CRYPTO_BLOB_TMP_PREFIX)) == 0;
	return *tmp || (strlen(name) == STORE_BLOB_NAME_LEN - 1 &&
	                strspn(name, "0123456789abcdef") == STORE_BLOB_NAME_LEN - 1);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The blob and temporary file names of d that sort after after. */
static void list_names(DIR *d, const char *after, struct sweep_names *out)
{
	struct dirent *e;
	bool tmp;
	size_t cap = 0;
	while ((e = readdir(d)) != NULL) {
		if (!blob_file(e->d_name, &tmp) || strlen(e->d_name) >= STORE_SWEEP_NAME_MAX ||
		    strcmp(e->d_name, after) <= 0)
			continue;
		if (out->n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			out->v = xrealloc(out->v, cap * sizeof *out->v);
		}
		str_assert(str_copy(out->v[out->n++], STORE_SWEEP_NAME_MAX, e->d_name),
		           "a name shorter than STORE_SWEEP_NAME_MAX, checked above");
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, by_name);
}

/* 1 when dir's file name may go: old enough and, a blob, named by no row. 0 keeps it. */
static int orphan(struct sweep_pass *p, int dfd, const char *name)
{
	bool tmp;
	struct stat sb;
	(void)blob_file(name, &tmp);
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
		return 0;            /* gone meanwhile (its expunge), or not a file of ours */
	if (sb.st_mtime > p->before) /* a delivery may be about to commit its row */
		return 0;
	if (tmp)
		return 1;
	int64_t one = 0;
	int rc = sql_one(p->st->sql, "store.blob_sweep", "SELECT 1 FROM blobs WHERE name = ?1",
	                 SQL_ARGS(SQL_TEXT(name)), &one, p->err, p->errlen);
	return rc < 0 ? -1 : rc == 0;
}

/* Removes (or, dry, only reports) path; a failure is counted, the first one kept in err,
 * and the pass goes on. Returns whether a file went. */
static bool remove_one(struct sweep_pass *p, int dfd, const char *dir, const char *name)
{
	char path[CONFIG_PATH_MAX + 64];
	str_assert(str_format(path, sizeof path, "%s/%s", dir, name), "blob_dir fits CONFIG_PATH_MAX");
	if (!p->o->dry_run && unlinkat(dfd, name, 0) != 0) {
		if (errno == ENOENT)
			return false; /* another sweep took it (mssctl, another host's) */
		if (p->r->failed++ == 0)
			str_error(p->err, p->errlen, "cannot remove %s: %s", path, strerror(errno));
		return false;
	}
	p->r->removed++;
	if (p->o->each != NULL)
		p->o->each(p->o->arg, path);
	return true;
}

/* Looks at the names of d after sw->after, up to the pass's bound; moves sw on (to the
 * next directory once d is done). Returns 0, or -1 when the database failed. */
static int sweep_names(struct sweep_pass *p, struct store_sweep *sw, DIR *d, const char *dir)
{
	struct sweep_names l = {0};
	list_names(d, sw->after, &l);
	size_t i = 0, here = 0;
	/* the directory's lookups in one read transaction: SQLite takes its read lock once,
	 * not twice per name (2 fcntl and an fstat each). Its snapshot changes nothing: a
	 * row committed after it names a file younger than min_age, which is kept anyway. */
	bool own = false;
	int rc = l.n > 0 ? store_reads_begin(p->st, &own, p->err, p->errlen) : 0;
	if (rc < 0)
		l.n = 0; /* none looked at: this directory again next pass */
	for (; i < l.n && (p->o->max_files == 0 || p->r->looked < p->o->max_files); i++) {
		int m = orphan(p, dirfd(d), l.v[i]);
		if (m < 0) {
			rc = -1; /* this name again next pass */
			break;
		}
		p->r->looked++;
		str_assert(str_copy(sw->after, sizeof sw->after, l.v[i]), "both STORE_SWEEP_NAME_MAX");
		if (m == 1 && remove_one(p, dirfd(d), dir, l.v[i]))
			here++;
	}
	if (own)
		store_reads_end(p->st, own);
	if (rc == 0 && i == l.n) {
		sw->dir++;
		sw->after[0] = '\0';
	}
	if (here > 0 && !p->o->dry_run)
		(void)fsync(dirfd(d)); /* the removals durable, as a delivery's are */
	free(l.v);
	return rc;
}

static int sweep_dir(struct sweep_pass *p, struct store_sweep *sw, int top, const char *base)
{
	char sub[3], dir[CONFIG_PATH_MAX + 8];
	str_assert(str_format(sub, sizeof sub, "%02x", sw->dir), "dir < 256");
	str_assert(str_format(dir, sizeof dir, "%s/%s", base, sub), "blob_dir fits CONFIG_PATH_MAX");
	int dfd = openat(top, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (d == NULL) {
		int e = errno;
		if (dfd >= 0)
			close(dfd);
		if (e != ENOENT && e != ENOTDIR && e != ELOOP) {
			str_error(p->err, p->errlen, "%s: %s", dir, strerror(e));
			return -1;
		}
		sw->dir++; /* none yet, or not a directory of blobs */
		sw->after[0] = '\0';
		return 0;
	}
	int rc = sweep_names(p, sw, d, dir);
	closedir(d);
	return rc;
}

int store_blob_sweep_pass(struct store *st, struct store_sweep *sw, const struct store_sweep_opts *o,
                          struct store_sweep_report *r, char *err, size_t errlen)
{
	char base[CONFIG_PATH_MAX];
	memset(r, 0, sizeof *r);
	if (config_blob_dir(&st->cfg, base, sizeof base) < 0) {
		str_error(err, errlen, "blob directory path too long");
		return -1;
	}
	if (sw->dir >= SWEEP_DIRS)
		*sw = (struct store_sweep){0};
	int top = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0 && errno != ENOENT) {
		str_error(err, errlen, "%s: %s", base, strerror(errno));
		return -1;
	}
	struct sweep_pass p = {st, o, r, time(NULL) - (time_t)o->min_age, err, errlen};
	int rc = 0;
	if (top < 0) /* no large blob yet */
		sw->dir = SWEEP_DIRS;
	while (rc == 0 && sw->dir < SWEEP_DIRS && (o->max_files == 0 || r->looked < o->max_files))
		rc = sweep_dir(&p, sw, top, base);
	if (top >= 0)
		close(top);
	if (sw->dir >= SWEEP_DIRS) {
		r->round_done = true;
		*sw = (struct store_sweep){0};
	}
	return rc < 0 || r->failed > 0 ? -1 : 0;
}
