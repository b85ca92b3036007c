/* tls_file.c: reading TLS material files and small helpers both backends share
 * (see tls_int.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/tls.h"
#include "lib/tls_int.h"

int tls_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* A cut message says so rather than passing for the whole reason. */
	if ((n < 0 || (size_t)n >= errlen) && errlen > 4)
		memcpy(err + errlen - 4, "...", 4);
	return -1;
}

static void stamp_of(const struct stat *sb, struct tls_stamp *st)
{
	memset(st, 0, sizeof(*st));
	st->valid = true;
	st->dev = sb->st_dev;
	st->ino = sb->st_ino;
	st->size = sb->st_size;
	st->mtime = sb->st_mtim;
	st->ctime = sb->st_ctim;
}

bool tls_stamp_eq(const struct tls_stamp *a, const struct tls_stamp *b)
{
	return a->valid && b->valid && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

int tls_stamp_path(const char *path, struct tls_stamp *st)
{
	struct stat sb;

	memset(st, 0, sizeof(*st));
	if (stat(path, &sb) < 0)
		return -1;
	stamp_of(&sb, st);
	return 0;
}

/* Reads the whole descriptor into out, whose limit is max + 1; returns 0 or -1 with
 * errno (EFBIG past max). */
static int read_all(int fd, size_t max, struct buf *out)
{
	for (;;) {
		size_t room;
		ssize_t n;

		size_t want = out->limit - out->len < 65536 ? out->limit - out->len : 65536;
		if (want == 0 || buf_reserve(out, want) < 0) {
			errno = EFBIG;
			return -1;
		}
		room = out->cap - 1 - out->len;
		if (room > out->limit - out->len)
			room = out->limit - out->len;
		n = read(fd, out->data + out->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		buf_added(out, (size_t)n);
		if (out->len > max) {
			errno = EFBIG;
			return -1;
		}
	}
}

int tls_file_read(const char *path, const char *what, size_t max, struct buf *out, struct tls_stamp *st,
                  char *err, size_t errlen)
{
	struct stat sb;
	int fd, rc = 0;

	buf_reset(out);
	if (!path || !*path) {
		(void)tls_errf(err, errlen, "no %s configured", what);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		(void)tls_errf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	/* fstat of what was opened: the stamp describes exactly the bytes read, even when
	 * the file is replaced meanwhile. */
	if (fstat(fd, &sb) < 0 || S_ISDIR(sb.st_mode)) {
		rc = S_ISDIR(sb.st_mode) ? EISDIR : errno;
	} else if ((size_t)sb.st_size > max) {
		rc = EFBIG;
	} else {
		out->limit = max + 1;
		if (read_all(fd, max, out) < 0)
			rc = errno;
	}
	close(fd);
	if (rc == EFBIG)
		(void)tls_errf(err, errlen, "cannot read %s %s: larger than %zu bytes", what, path, max);
	else if (rc)
		(void)tls_errf(err, errlen, "cannot read %s %s: %s", what, path, strerror(rc));
	else if (out->len == 0)
		(void)tls_errf(err, errlen, "%s %s is empty", what, path);
	if (rc || out->len == 0)
		return -1;
	if (st)
		stamp_of(&sb, st);
	return 0;
}

void tls_names_swap(char **names[4], const struct tls_files *files, char *old[4])
{
	const char *next[4];

	if (!files)
		return;
	next[0] = files->cert_file;
	next[1] = files->key_file;
	next[2] = files->ca_file;
	next[3] = files->crl_file;
	for (int i = 0; i < 4; i++) {
		old[i] = *names[i];
		*names[i] = xstrdup(next[i] ? next[i] : "");
	}
}

void tls_names_settle(char **names[4], const struct tls_files *files, char *old[4], bool ok)
{
	if (!files)
		return;
	for (int i = 0; i < 4; i++) {
		if (ok) {
			free(old[i]);
			continue;
		}
		free(*names[i]);
		*names[i] = old[i];
	}
}

void tls_secret_free(struct buf *b)
{
	if (b->data && b->cap)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

long tls_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tls_wait_fd(int fd, short events, long deadline_ms)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		long left = deadline_ms - tls_now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

void tls_format_time(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)tls_errf(out, outlen, "%lld", (long long)t);
}
