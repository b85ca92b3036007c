/* store_backup.c: a consistent copy of data_dir while the daemons run (mssctl backup).
 *
 * The database is copied by the engine's online backup (sql_backup: one snapshot).
 * Blobs never change once written, but they are removed after the commit that stops
 * referencing them, so a blob the snapshot references could vanish before it is
 * copied. Hence: every blob is first hard-linked into a staging folder beside them
 * (same file system, instant, keeps the data alive whatever the daemons unlink), the
 * snapshot is taken, blobs created meanwhile are linked too, and the copy is made from
 * the links; should a referenced blob still be missing (created and removed in
 * between), the snapshot is taken again. The result is a data_dir of its own, with a
 * MANIFEST in sha256sum(1) format over every file. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/buf.h"
#include "lib/crypto.h"
#include "lib/sql.h"
#include "lib/str.h"
#include "store/store_int.h"

#define BACKUP_TRIES 5

struct backup {
	struct store *st;
	const char *dir;
	const struct store_backup_keys *keys;
	char stage[CONFIG_PATH_MAX + 64];
	struct buf manifest;
	struct store_backup_report *report;
	char *err;
	size_t errlen;
};

static int fail_errno(struct backup *b, const char *what, const char *path)
{
	str_error(b->err, b->errlen, "%s %s: %s", what, path, strerror(errno));
	return -1;
}

/* Links every blob file of data_dir/blobs/xx/ into the staging folder (one already
 * there is kept). */
static int stage_all(struct backup *b)
{
	char top[CONFIG_PATH_MAX + 64], sub[CONFIG_PATH_MAX + 128], from[CONFIG_PATH_MAX + 200],
	    to[CONFIG_PATH_MAX + 200];
	if (config_blob_dir(&b->st->cfg, top, sizeof top) != 0)
		return fail_errno(b, "path too long:", b->st->cfg.data_dir);
	DIR *d = opendir(top);
	if (d == NULL)
		return fail_errno(b, "cannot read", top);
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != 2 || e->d_name[0] == '.' ||
		    str_format(sub, sizeof sub, "%s/%s", top, e->d_name) != 0)
			continue; /* ".", "..", the staging folders */
		DIR *s = opendir(sub);
		if (s == NULL)
			continue;
		struct dirent *f;
		while (rc == 0 && (f = readdir(s)) != NULL) {
			if (f->d_name[0] == '.' ||
			    str_format(from, sizeof from, "%s/%s", sub, f->d_name) != 0 ||
			    str_format(to, sizeof to, "%s/%s", b->stage, f->d_name) != 0)
				continue;
			if (link(from, to) < 0 && errno != EEXIST && errno != ENOENT)
				rc = fail_errno(b, "cannot link", from);
		}
		closedir(s);
	}
	closedir(d);
	return rc;
}

/* One referenced blob into the staging folder: 0 there, 1 gone meanwhile, -1. */
static int stage_one(struct backup *b, const char *name)
{
	char from[CONFIG_PATH_MAX + 64], to[CONFIG_PATH_MAX + 200];
	if (str_format(to, sizeof to, "%s/%s", b->stage, name) != 0 ||
	    store_blob_path(b->st, name, from, sizeof from) != 0)
		return fail_errno(b, "path too long:", name);
	if (access(to, F_OK) == 0)
		return 0;
	if (link(from, to) == 0)
		return 0;
	return errno == ENOENT ? 1 : fail_errno(b, "cannot link", from);
}

/* Copies src to dst (created 0600, synced; dst NULL: only reads src), adding its
 * SHA-256 line to the manifest. */
static int copy_fd(struct backup *b, int in, const char *src, const char *dst, const char *rel);

static int copy_file(struct backup *b, const char *src, const char *dst, const char *rel)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return fail_errno(b, "cannot read", src);
	int rc = copy_fd(b, in, src, dst, rel);
	close(in);
	return rc;
}

/* Copies in (named src in errors) to dst (NULL: only hashed), with its MANIFEST line. */
static int copy_fd(struct backup *b, int in, const char *src, const char *dst, const char *rel)
{
	int out = dst ? open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
	if (dst && out < 0)
		return fail_errno(b, "cannot create", dst);
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	char chunk[65536];
	ssize_t n;
	int rc = 0;
	while (rc == 0 && (n = read(in, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (out >= 0 && write(out, chunk, (size_t)n) != n))
			rc = fail_errno(b, n < 0 ? "cannot read" : "cannot write", n < 0 ? src : dst);
		else
			crypto_hash_sha256_update(&h, (const unsigned char *)chunk, (size_t)n);
	}
	if (rc == 0 && out >= 0 && fsync(out) < 0)
		rc = fail_errno(b, "cannot sync", dst);
	if (out >= 0 && close(out) < 0 && rc == 0)
		rc = fail_errno(b, "cannot write", dst);
	unsigned char sum[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof sum + 1];
	crypto_hash_sha256_final(&h, sum);
	str_hex(hex, sum, sizeof sum);
	if (rc == 0 && buf_printf(&b->manifest, "%s  %s\n", hex, rel) < 0)
		rc = fail_errno(b, "manifest too large at", rel);
	return rc;
}

struct referenced {
	struct backup *b;
	char **names;
	size_t n, missing;
};

static int collect(void *arg, struct sql_stmt *q)
{
	struct referenced *r = arg;
	const char *name = sql_text(q, 0);
	if (name == NULL || strlen(name) >= STORE_BLOB_NAME_LEN || strchr(name, '/') || name[0] == '.')
		return 0; /* not a name store_blob_put made: nothing to copy */
	r->names = xrealloc(r->names, (r->n + 1) * sizeof *r->names);
	r->names[r->n++] = xstrdup(name);
	return 0;
}

static void referenced_free(struct referenced *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->names[i]);
	free(r->names);
	memset(r, 0, sizeof *r);
}

/* The snapshot into dir/mss.db, then every blob it references staged. Returns 0, 1
 * when one of them vanished before it could be linked (take the snapshot again), 2
 * when the engine is not copied this way, -1. */
static int snapshot(struct backup *b, struct referenced *r)
{
	char db[CONFIG_PATH_MAX + 64];
	if (str_format(db, sizeof db, "%s/mss.db", b->dir) != 0)
		return fail_errno(b, "path too long:", b->dir);
	unlink(db); /* a previous try's */
	int rc = sql_backup(b->st->sql, db, b->err, b->errlen);
	if (rc != 0)
		return rc == 1 ? 2 : -1;
	if (chmod(db, 0600) < 0) /* SQLite creates it after the umask */
		return fail_errno(b, "cannot chmod", db);
	struct sql *copy = sql_open(db, 0, b->err, b->errlen);
	if (copy == NULL)
		return -1;
	r->b = b;
	rc = sql_foreach(copy, "backup.blobs", "SELECT name FROM blobs WHERE data IS NULL ORDER BY name",
	                 SQL_NOARGS, collect, r, b->err, b->errlen);
	sql_close(copy);
	/* opening the copy made its group commit file (lib/sql_sqlite_sync.h): not part of a
	 * backup, which holds the database alone */
	char sync[CONFIG_PATH_MAX + 64];
	if (str_format(sync, sizeof sync, "%s-sync", db) == 0)
		unlink(sync);
	for (size_t i = 0; rc == 0 && i < r->n; i++) {
		int s = stage_one(b, r->names[i]);
		if (s < 0)
			return -1;
		r->missing += (size_t)s;
	}
	return rc < 0 ? -1 : r->missing > 0 ? 1 : 0;
}

static int copy_blobs(struct backup *b, const struct referenced *r)
{
	char src[CONFIG_PATH_MAX + 200], dst[CONFIG_PATH_MAX + 200], rel[STORE_BLOB_NAME_LEN + 16];
	for (size_t i = 0; i < r->n; i++) {
		const char *name = r->names[i];
		if (str_format(rel, sizeof rel, "blobs/%.2s", name) != 0 ||
		    str_format(dst, sizeof dst, "%s/%s", b->dir, rel) != 0)
			return fail_errno(b, "path too long:", name);
		if (mkdir(dst, 0700) < 0 && errno != EEXIST)
			return fail_errno(b, "cannot create", dst);
		if (str_format(rel, sizeof rel, "blobs/%.2s/%s", name, name) != 0 ||
		    str_format(src, sizeof src, "%s/%s", b->stage, name) != 0 ||
		    str_format(dst, sizeof dst, "%s/%s", b->dir, rel) != 0)
			return fail_errno(b, "path too long:", name);
		if (copy_file(b, src, dst, rel) < 0)
			return -1;
		b->report->blobs++;
	}
	return 0;
}

/* keys/: the master key (and the audit signing keys beside it), mode 0600, from the
 * files store_backup_keys_open opened. */
static int copy_keys(struct backup *b)
{
	char dst[CONFIG_PATH_MAX + 300], rel[300];
	for (size_t i = 0; i < b->keys->n; i++) {
		if (lseek(b->keys->fd[i], 0, SEEK_SET) < 0)
			return fail_errno(b, "cannot read", b->keys->name[i]);
		if (str_format(rel, sizeof rel, "keys/%s", b->keys->name[i]) != 0 ||
		    str_format(dst, sizeof dst, "%s/%s", b->dir, rel) != 0)
			return fail_errno(b, "path too long:", b->keys->name[i]);
		if (copy_fd(b, b->keys->fd[i], rel, dst, rel) < 0)
			return -1;
		b->report->keys++;
	}
	return 0;
}

int store_backup_keys_open(const struct mss_config *cfg, struct store_backup_keys *k, char *err,
                           size_t errlen)
{
	char dir[CONFIG_PATH_MAX + 64], path[CONFIG_PATH_MAX + 330];
	memset(k, 0, sizeof *k);
	if (str_format(dir, sizeof dir, "%s/keys", cfg->data_dir) != 0) {
		str_error(err, errlen, "data_dir path too long");
		return -1;
	}
	DIR *d = opendir(dir);
	if (d == NULL) {
		str_error(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		struct stat sb;
		if (e->d_name[0] == '.' || str_format(path, sizeof path, "%s/%s", dir, e->d_name) != 0 ||
		    stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;
		if (k->n == STORE_BACKUP_KEYS_MAX ||
		    str_copy(k->name[k->n], sizeof k->name[k->n], e->d_name) != 0) {
			str_error(err, errlen,
			          "%s: more files than a backup copies (%d), or a name too long: %s", dir,
			          STORE_BACKUP_KEYS_MAX, e->d_name);
			rc = -1;
			break;
		}
		k->fd[k->n] = open(path, O_RDONLY | O_CLOEXEC);
		if (k->fd[k->n] < 0) {
			str_error(err, errlen, "cannot read %s: %s", path, strerror(errno));
			rc = -1;
			break;
		}
		k->n++;
	}
	closedir(d);
	if (rc < 0)
		store_backup_keys_close(k);
	return rc;
}

void store_backup_keys_close(struct store_backup_keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		close(k->fd[i]);
	k->n = 0;
}

static void unstage(struct backup *b)
{
	DIR *d = opendir(b->stage);
	if (d == NULL)
		return;
	char path[CONFIG_PATH_MAX + 400];
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && str_format(path, sizeof path, "%s/%s", b->stage, e->d_name) == 0)
			unlink(path);
	closedir(d);
	rmdir(b->stage);
}

/* dir must be new (or an empty folder): a backup never mixes with another. */
static int make_target(struct backup *b)
{
	static const char *const subdirs[] = {"blobs", "keys", "run"};
	char path[CONFIG_PATH_MAX + 64];
	if (mkdir(b->dir, 0700) < 0 && (errno != EEXIST || rmdir(b->dir) < 0 || mkdir(b->dir, 0700) < 0)) {
		if (errno == ENOTEMPTY || errno == EEXIST)
			str_error(b->err, b->errlen, "%s exists and is not empty: give a new folder", b->dir);
		else
			fail_errno(b, "cannot create", b->dir);
		return -1;
	}
	for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++)
		if (str_format(path, sizeof path, "%s/%s", b->dir, subdirs[i]) != 0 || mkdir(path, 0700) < 0)
			return fail_errno(b, "cannot create", path);
	return 0;
}

static int write_manifest(struct backup *b)
{
	char path[CONFIG_PATH_MAX + 64];
	if (str_format(path, sizeof path, "%s/MANIFEST", b->dir) != 0)
		return fail_errno(b, "path too long:", b->dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_errno(b, "cannot create", path);
	ssize_t n = write(fd, b->manifest.data, b->manifest.len);
	int rc = (n < 0 || (size_t)n != b->manifest.len || fsync(fd) < 0)
	             ? fail_errno(b, "cannot write", path)
	             : 0;
	close(fd);
	if (rc == 0)
		crypto_fsync_dir_of(path);
	return rc;
}

static int backup_from_stage(struct backup *b)
{
	struct referenced r = {0};
	int rc = 1;
	for (unsigned attempt = 0; rc == 1 && attempt < BACKUP_TRIES; attempt++) {
		referenced_free(&r);
		if (stage_all(b) < 0)
			rc = -1;
		else
			rc = snapshot(b, &r);
	}
	if (rc == 1)
		str_error(b->err, b->errlen, "blobs kept vanishing during the copy (%d tries): try again",
		          BACKUP_TRIES);
	char db[CONFIG_PATH_MAX + 64];
	if (rc == 0 &&
	    (str_format(db, sizeof db, "%s/mss.db", b->dir) != 0 || copy_file(b, db, NULL, "mss.db") < 0))
		rc = -1;
	if (rc == 0)
		rc = copy_blobs(b, &r);
	referenced_free(&r);
	return rc;
}

int store_backup(struct store *st, const char *dir, const struct store_backup_keys *keys,
                 struct store_backup_report *report, char *err, size_t errlen)
{
	struct backup b = {
	    .st = st, .dir = dir, .keys = keys, .report = report, .err = err, .errlen = errlen};
	memset(report, 0, sizeof *report);
	if (st->cfg.store[0] != '\0') {
		str_error(err, errlen,
		          "the PostgreSQL database is not copied by mssctl backup: use PostgreSQL's "
		          "own backup (pg_basebackup, pg_dump), then blob_dir and the keys "
		          "(doc/operations.md)");
		return 1;
	}
	if (str_format(b.stage, sizeof b.stage, "%s/blobs/.backup-%ld", st->cfg.data_dir, (long)getpid()) !=
	    0) {
		str_error(err, errlen, "data_dir path too long");
		return -1;
	}
	if (make_target(&b) < 0)
		return -1;
	unstage(&b); /* a crashed earlier run of this pid */
	if (mkdir(b.stage, 0700) < 0)
		return fail_errno(&b, "cannot create", b.stage);
	buf_init(&b.manifest, BUF_UNLIMITED);
	int rc = backup_from_stage(&b);
	unstage(&b);
	if (rc == 0)
		rc = copy_keys(&b);
	if (rc == 0)
		rc = write_manifest(&b);
	buf_free(&b.manifest);
	if (rc == 2)
		return 1;
	return rc;
}
