/* store_blob_sweep.c: blob files no row names (store.h, store_blob_sweep): what a
 * process killed between writing a delivery's blob (fsynced, renamed) and committing its
 * row left behind, and the temporary files of a blob it was writing. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

/* A blob's name (16 random bytes in hex, store_blob_name) or a temporary file's:
 * nothing else in the directory is ever looked at. */
static bool blob_file(const char *name, bool *tmp)
{
	*tmp = strncmp(name, CRYPTO_BLOB_TMP_PREFIX, strlen(CRYPTO_BLOB_TMP_PREFIX)) == 0;
	return *tmp || (strlen(name) == STORE_BLOB_NAME_LEN - 1 &&
	                strspn(name, "0123456789abcdef") == STORE_BLOB_NAME_LEN - 1);
}

/* 1 when dir's file name may go: old enough and, a blob, named by no row. 0 keeps it. */
static int orphan(struct store *st, int dfd, const char *name, time_t before, char *err, size_t errlen)
{
	bool tmp;
	struct stat sb;
	if (!blob_file(name, &tmp) || fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
	    !S_ISREG(sb.st_mode))
		return 0;
	if (sb.st_mtime > before) /* a delivery may be about to commit its row */
		return 0;
	if (tmp)
		return 1;
	int64_t one = 0;
	int rc = sql_one(st->sql, "store.blob_sweep", "SELECT 1 FROM blobs WHERE name = ?1",
	                 SQL_ARGS(SQL_TEXT(name)), &one, err, errlen);
	return rc < 0 ? -1 : rc == 0;
}

static int sweep_dir(struct store *st, int top, const char *sub, time_t before, size_t *removed, char *err,
                     size_t errlen)
{
	int dfd = openat(top, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return 0; /* not a directory of blobs */
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return 0;
	}
	int rc = 0;
	size_t here = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		int r = orphan(st, dirfd(d), e->d_name, before, err, errlen);
		if (r < 0)
			rc = -1;
		else if (r == 1 && unlinkat(dirfd(d), e->d_name, 0) == 0)
			here++;
	}
	if (here > 0)
		(void)fsync(dirfd(d)); /* the removals durable, as a delivery's are */
	closedir(d);
	*removed += here;
	return rc;
}

int store_blob_sweep(struct store *st, unsigned min_age, size_t *removed, char *err, size_t errlen)
{
	char base[CONFIG_PATH_MAX];
	*removed = 0;
	if (config_blob_dir(&st->cfg, base, sizeof base) < 0) {
		str_error(err, errlen, "blob directory path too long");
		return -1;
	}
	DIR *top = opendir(base);
	if (top == NULL) {
		if (errno == ENOENT)
			return 0; /* no large blob yet */
		str_error(err, errlen, "%s: %s", base, strerror(errno));
		return -1;
	}
	time_t before = time(NULL) - (time_t)min_age;
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(top)) != NULL)
		if (strlen(e->d_name) == 2 && strspn(e->d_name, "0123456789abcdef") == 2)
			rc = sweep_dir(st, dirfd(top), e->d_name, before, removed, err, errlen);
	closedir(top);
	return rc;
}
