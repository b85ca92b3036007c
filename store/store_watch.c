/* store_watch.c: waking IDLE sessions without polling the database.
 *
 * Every commit that changes a mailbox ends by opening and closing (for writing)
 * data_dir/run/mbox-<id>; sessions that have the mailbox selected hold an inotify
 * watch on that file (IN_CLOSE_WRITE) and poll its descriptor beside their socket.
 * The file carries no data: the database stays the one source of truth, read with
 * store_changes_since once woken. A lost notification only delays an update to the
 * session's next command, it never loses data. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "lib/str.h"
#include "store/store_int.h"

static int change_path(struct store *st, int64_t mailbox_id, char *out, size_t outlen)
{
	return str_format(out, outlen, "%s/run/mbox-%lld", st->cfg.data_dir, (long long)mailbox_id);
}

static int touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static void notify_now(struct store *st, int64_t mailbox_id)
{
	char path[CONFIG_PATH_MAX + 64];
	if (mailbox_id <= 0 || change_path(st, mailbox_id, path, sizeof(path)) < 0)
		return;
	touch(path); /* best effort: a failure only delays the others' update */
}

/* Inside the caller's transaction a woken session would look before the commit and
 * see nothing new, and then sleep until the next change: so wait for the commit. */
void store_notify(struct store *st, int64_t mailbox_id)
{
	if (!sql_in_transaction(st->sql)) {
		notify_now(st, mailbox_id);
		return;
	}
	for (size_t i = 0; i < st->npending_notify; i++)
		if (st->pending_notify[i] == mailbox_id)
			return;
	if (st->npending_notify == STORE_PENDING_NOTIFY_MAX) {
		notify_now(st, mailbox_id); /* early wake: the session rechecks on its next wake */
		return;
	}
	st->pending_notify[st->npending_notify++] = mailbox_id;
}

void store_notify_flush(struct store *st)
{
	for (size_t i = 0; i < st->npending_notify; i++)
		notify_now(st, st->pending_notify[i]);
	st->npending_notify = 0;
}

void store_notify_gone(struct store *st, int64_t mailbox_id)
{
	char path[CONFIG_PATH_MAX + 64];
	if (mailbox_id <= 0 || change_path(st, mailbox_id, path, sizeof(path)) < 0)
		return;
	touch(path); /* wakes the watchers, who then find the mailbox gone */
	unlink(path);
}

int store_watch_open(struct store *st, int64_t mailbox_id, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	if (change_path(st, mailbox_id, path, sizeof(path)) < 0) {
		str_format(err, errlen, "run path too long");
		return -1;
	}
	/* Created before the watch is added, so this open wakes nobody. */
	if (touch(path) < 0) {
		str_format(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		str_format(err, errlen, "inotify: %s", strerror(errno));
		return -1;
	}
	if (inotify_add_watch(fd, path,
	                      IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
		str_format(err, errlen, "inotify watch: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int store_watch_drain(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int any = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			any = 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		return any;
	}
}

void store_watch_close(int fd)
{
	if (fd >= 0)
		close(fd);
}
