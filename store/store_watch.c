/* store_watch.c: waking IDLE sessions without polling the database.
 *
 * Every commit that changes a mailbox ends by opening and closing (for writing)
 * data_dir/run/mbox-<id>; sessions that have the mailbox selected hold an inotify
 * watch on that file (IN_CLOSE_WRITE) and poll its descriptor beside their socket.
 * The file carries no data: the database stays the one source of truth, read with
 * store_changes_since once woken. A lost notification only delays an update to the
 * session's next command, it never loses data.
 *
 * With a shared store (PostgreSQL, several hosts) the writer may be on another host:
 * the commit is followed by NOTIFY mss_mbox_<id> instead, and the watch is a
 * connection of its own that LISTENs on that channel (a connection that also ran the
 * session's queries would read a notification into libpq's buffer during a query, and
 * the socket would then not wake the poll). The descriptor handed out is an epoll set
 * holding that connection's socket, so it stays the same when the connection is made
 * again after PostgreSQL restarted: the contract (an fd to poll, drain, close) is the
 * same for both engines. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/str.h"
#include "store/store_int.h"

/* A session selects one mailbox at a time; a few slots leave room for tests. */
#define PG_WATCH_MAX 4

struct pg_watch {
	int epfd; /* -1: free slot */
	int sock; /* the connection's socket in the epoll set, -1 when none */
	struct sql *db;
	char *target;
	unsigned timeout_ms;
	char channel[48];
};

static struct pg_watch pg_watches[PG_WATCH_MAX] = {{.epfd = -1}, {.epfd = -1}, {.epfd = -1}, {.epfd = -1}};

/* The last watch's connection, kept for the next SELECT (LISTEN on another channel)
 * rather than made again: a connection costs a server process and a round of
 * authentication, far more than the UNLISTEN/LISTEN that replaces it. */
static struct sql *pg_spare;
static char *pg_spare_target;

static void pg_spare_drop(void)
{
	sql_close(pg_spare);
	pg_spare = NULL;
	if (pg_spare_target != NULL)
		sodium_memzero(pg_spare_target, strlen(pg_spare_target));
	free(pg_spare_target);
	pg_spare_target = NULL;
}

/* Takes the spare connection when it was made for target. */
static struct sql *pg_spare_take(const char *target)
{
	if (pg_spare == NULL || strcmp(pg_spare_target, target) != 0)
		return NULL;
	struct sql *db = pg_spare;
	pg_spare = NULL;
	pg_spare_drop();
	char payload[64];
	while (sql_notification(db, payload, sizeof(payload)) == 1)
		; /* left from the previous channel */
	return db;
}

static int channel_name(int64_t mailbox_id, char *out, size_t outlen)
{
	return str_format(out, outlen, "mss_mbox_%lld", (long long)mailbox_id);
}

/* Every mailbox change is also sent here with the mailbox id as payload, for the
 * sessions that watch all mailboxes at once (NOTIFY, RFC 5465). */
#define WATCH_ALL_CHANNEL "mss_mbox_all"

static void pg_watch_disconnect(struct pg_watch *w)
{
	if (w->sock >= 0)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->sock, NULL);
	w->sock = -1;
	sql_close(w->db);
	w->db = NULL;
}

/* (Re)connects and listens. Returns 0 or -1 with err. */
static int pg_watch_connect(struct pg_watch *w, char *err, size_t errlen)
{
	w->db = pg_spare_take(w->target);
	if (w->db != NULL && sql_listen(w->db, w->channel, err, errlen) < 0) {
		sql_close(w->db); /* lost meanwhile: a new one below */
		w->db = NULL;
	}
	if (w->db == NULL) {
		w->db = sql_open_timeout(w->target, 0, w->timeout_ms, err, errlen);
		if (w->db == NULL)
			return -1;
		if (sql_listen(w->db, w->channel, err, errlen) < 0) {
			pg_watch_disconnect(w);
			return -1;
		}
	}
	struct epoll_event ev = {.events = EPOLLIN};
	w->sock = sql_notify_fd(w->db);
	if (w->sock < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->sock, &ev) < 0) {
		str_error(err, errlen, "epoll: %s", w->sock < 0 ? "no socket" : strerror(errno));
		w->sock = -1;
		pg_watch_disconnect(w);
		return -1;
	}
	return 0;
}

static struct pg_watch *pg_watch_find(int fd)
{
	for (size_t i = 0; i < PG_WATCH_MAX; i++)
		if (fd >= 0 && pg_watches[i].epfd == fd)
			return &pg_watches[i];
	return NULL;
}

/* channel: the mailbox's own, or WATCH_ALL_CHANNEL (store_watch_all_open). */
static int pg_watch_open(struct store *st, const char *channel, char *err, size_t errlen)
{
	struct pg_watch *w = NULL;
	for (size_t i = 0; w == NULL && i < PG_WATCH_MAX; i++)
		if (pg_watches[i].epfd < 0)
			w = &pg_watches[i];
	if (w == NULL) {
		str_error(err, errlen, "too many watches in one process");
		return -1;
	}
	if (str_copy(w->channel, sizeof(w->channel), channel) < 0) {
		str_error(err, errlen, "channel name too long");
		return -1;
	}
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		str_error(err, errlen, "epoll: %s", strerror(errno));
		return -1;
	}
	w->sock = -1;
	w->target = xstrdup(st->cfg.store);
	w->timeout_ms = st->cfg.store_timeout * 1000u;
	if (pg_watch_connect(w, err, errlen) < 0) {
		close(w->epfd);
		free(w->target);
		w->epfd = -1;
		return -1;
	}
	return w->epfd;
}

/* Takes every notification waiting. A lost connection is made again (notifications
 * sent meanwhile are gone, so the caller is told to look: 1). */
static int pg_watch_drain(struct pg_watch *w)
{
	char payload[64], err[256];
	int any = 0;
	if (w->db != NULL) {
		int rc;
		while ((rc = sql_notification(w->db, payload, sizeof(payload))) == 1)
			any = 1;
		if (rc == 0)
			return any;
		pg_watch_disconnect(w);
	}
	/* unreachable now: the next drain (the session's next command) tries again */
	(void)pg_watch_connect(w, err, sizeof(err));
	return 1;
}

static void pg_watch_close(struct pg_watch *w)
{
	char err[256];
	if (w->db != NULL && pg_spare == NULL &&
	    sql_script(w->db, "unlisten", "UNLISTEN *", err, sizeof(err)) == 0) {
		if (w->sock >= 0)
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->sock, NULL);
		w->sock = -1;
		pg_spare = w->db;
		pg_spare_target = xstrdup(w->target);
		w->db = NULL;
	}
	pg_watch_disconnect(w);
	close(w->epfd);
	w->epfd = -1;
	if (w->target != NULL)
		sodium_memzero(w->target, strlen(w->target)); /* the URI may hold a password */
	free(w->target);
	w->target = NULL;
}

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
	char path[CONFIG_PATH_MAX + 64], err[256];
	if (mailbox_id <= 0)
		return;
	if (store_is_shared(&st->cfg)) {
		/* best effort, as below; outside a transaction: sent at once */
		if (channel_name(mailbox_id, path, sizeof(path)) == 0)
			(void)sql_notify(st->sql, path, "", err, sizeof(err));
		if (str_format(path, sizeof(path), "%lld", (long long)mailbox_id) == 0)
			(void)sql_notify(st->sql, WATCH_ALL_CHANNEL, path, err, sizeof(err));
		return;
	}
	if (change_path(st, mailbox_id, path, sizeof(path)) < 0)
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

void store_wake(struct store *st, int64_t mailbox_id)
{
	store_notify(st, mailbox_id);
}

static void account_wake_now(struct store *st, const char *address);

void store_notify_flush(struct store *st)
{
	for (size_t i = 0; i < st->npending_notify; i++)
		notify_now(st, st->pending_notify[i]);
	st->npending_notify = 0;
	if (st->pending_account[0] != '\0')
		account_wake_now(st, st->pending_account);
	st->pending_account[0] = '\0';
}

void store_notify_gone(struct store *st, int64_t mailbox_id)
{
	char path[CONFIG_PATH_MAX + 64];
	if (store_is_shared(&st->cfg)) {
		store_notify(st, mailbox_id);
		return;
	}
	if (mailbox_id <= 0 || change_path(st, mailbox_id, path, sizeof(path)) < 0)
		return;
	touch(path); /* wakes the watchers, who then find the mailbox gone */
	unlink(path);
}

static int inotify_watch(const char *path, char *err, size_t errlen);

int store_watch_open(struct store *st, int64_t mailbox_id, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	if (store_is_shared(&st->cfg)) {
		char channel[48];
		if (channel_name(mailbox_id, channel, sizeof(channel)) < 0) {
			str_error(err, errlen, "channel name too long");
			return -1;
		}
		return pg_watch_open(st, channel, err, errlen);
	}
	if (change_path(st, mailbox_id, path, sizeof(path)) < 0) {
		str_error(err, errlen, "run path too long");
		return -1;
	}
	return inotify_watch(path, err, errlen);
}

/* The outbound queue's wake-up, on the same two mechanisms as a mailbox's: the file
 * data_dir/run/queue/wake, or the channel mss_queue on a shared store. In a directory
 * of its own: a file in run/ itself would wake every NOTIFY session's watch on run/
 * (store_watch_all_open) at each queued message. */
#define QUEUE_CHANNEL "mss_queue"

static int queue_watch_path(struct store *st, char *out, size_t outlen)
{
	return str_format(out, outlen, "%s/run/queue/wake", st->cfg.data_dir);
}

void store_queue_notify(struct store *st)
{
	char path[CONFIG_PATH_MAX + 64], err[256];
	if (store_is_shared(&st->cfg)) {
		(void)sql_notify(st->sql, QUEUE_CHANNEL, "", err, sizeof(err)); /* best effort */
		return;
	}
	if (queue_watch_path(st, path, sizeof(path)) == 0)
		touch(path); /* best effort: the queue process also looks every second */
}

int store_queue_watch_open(struct store *st, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	if (store_is_shared(&st->cfg))
		return pg_watch_open(st, QUEUE_CHANNEL, err, errlen);
	char dir[CONFIG_PATH_MAX + 64];
	if (str_format(dir, sizeof(dir), "%s/run/queue", st->cfg.data_dir) < 0 ||
	    queue_watch_path(st, path, sizeof(path)) < 0) {
		str_error(err, errlen, "run path too long");
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		str_error(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	return inotify_watch(path, err, errlen);
}

/* ---- an account's sessions (store_account_wake) ---- */

/* 8 bytes: "mss_acct_" and 16 hex digits stay within sql_plain_identifier's 32
 * characters; two accounts that share a name only wake each other for nothing. */
#define ACCOUNT_DIGEST_SIZE 8

/* "<digest>" of the lowercase address: the name of its file and the tail of its
 * channel. Returns 0, -1 when the address does not fit. */
static int account_name(const char *address, char out[2 * ACCOUNT_DIGEST_SIZE + 1])
{
	char key[256];
	unsigned char d[crypto_generichash_BYTES_MIN];
	if (str_copy(key, sizeof(key), address) < 0)
		return -1;
	str_lower(key);
	crypto_generichash(d, sizeof(d), (const unsigned char *)key, strlen(key), NULL, 0);
	sodium_bin2hex(out, 2 * ACCOUNT_DIGEST_SIZE + 1, d, ACCOUNT_DIGEST_SIZE);
	return 0;
}

/* In a directory of its own, as the queue's: a file in run/ would wake every NOTIFY
 * session (store_watch_all_open). */
static int account_where(struct store *st, const char *address, bool channel, char *out, size_t outlen)
{
	char name[2 * ACCOUNT_DIGEST_SIZE + 1];
	if (account_name(address, name) < 0)
		return -1;
	if (channel)
		return str_format(out, outlen, "mss_acct_%s", name);
	return str_format(out, outlen, "%s/run/account/%s", st->cfg.data_dir, name);
}

static void account_wake_now(struct store *st, const char *address)
{
	char where[CONFIG_PATH_MAX + 64], err[256];
	bool shared = store_is_shared(&st->cfg);
	if (account_where(st, address, shared, where, sizeof(where)) < 0)
		return;
	if (shared)
		(void)sql_notify(st->sql, where, "", err, sizeof(err)); /* best effort */
	else
		touch(where); /* best effort; no file: no session has watched it yet */
}

void store_account_wake(struct store *st, const char *address)
{
	if (!sql_in_transaction(st->sql)) {
		account_wake_now(st, address);
		return;
	}
	/* one account per transaction in every caller; another one pending is woken now,
	 * early (its sessions may miss it: their next look then ends them) */
	if (st->pending_account[0] != '\0' && strcmp(st->pending_account, address) != 0)
		account_wake_now(st, st->pending_account);
	if (str_copy(st->pending_account, sizeof(st->pending_account), address) < 0) {
		st->pending_account[0] = '\0';
		account_wake_now(st, address);
	}
}

int store_account_watch_open(struct store *st, const char *address, char *err, size_t errlen)
{
	char where[CONFIG_PATH_MAX + 64];
	bool shared = store_is_shared(&st->cfg);
	if (account_where(st, address, shared, where, sizeof(where)) < 0) {
		str_error(err, errlen, "account watch name too long");
		return -1;
	}
	if (shared)
		return pg_watch_open(st, where, err, errlen);
	char dir[CONFIG_PATH_MAX + 64];
	if (str_format(dir, sizeof(dir), "%s/run/account", st->cfg.data_dir) < 0) {
		str_error(err, errlen, "run path too long");
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		str_error(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	return inotify_watch(where, err, errlen);
}

/* An inotify descriptor that wakes when path is written and closed. */
static int inotify_watch(const char *path, char *err, size_t errlen)
{
	/* Created before the watch is added, so this open wakes nobody. */
	if (touch(path) < 0) {
		str_error(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		str_error(err, errlen, "inotify: %s", strerror(errno));
		return -1;
	}
	if (inotify_add_watch(fd, path,
	                      IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
		str_error(err, errlen, "inotify watch: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int store_watch_drain(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int any = 0;
	struct pg_watch *w = pg_watch_find(fd);
	if (w != NULL)
		return pg_watch_drain(w);
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
	struct pg_watch *w = pg_watch_find(fd);
	if (w != NULL) {
		pg_watch_close(w);
		return;
	}
	if (fd >= 0)
		close(fd);
}

/* ---- every mailbox at once (NOTIFY) ---- */

/* A mailbox id from "mbox-<id>" (the run file) or "<id>" (the payload); 0 when none. */
static int64_t id_of(const char *p)
{
	if (strncmp(p, "mbox-", 5) == 0)
		p += 5;
	char *end;
	errno = 0;
	long long v = strtoll(p, &end, 10);
	return (errno == 0 && end != p && *end == '\0' && v > 0) ? (int64_t)v : 0;
}

static void note_id(int64_t id, int64_t *ids, size_t max, size_t *n, bool *more)
{
	if (id <= 0)
		return;
	for (size_t i = 0; i < *n; i++)
		if (ids[i] == id)
			return;
	if (*n < max)
		ids[(*n)++] = id;
	else
		*more = true;
}

int store_watch_all_open(struct store *st, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX + 64];
	if (store_is_shared(&st->cfg))
		return pg_watch_open(st, WATCH_ALL_CHANNEL, err, errlen);
	if (str_format(path, sizeof(path), "%s/run", st->cfg.data_dir) < 0) {
		str_error(err, errlen, "run path too long");
		return -1;
	}
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		str_error(err, errlen, "inotify: %s", strerror(errno));
		return -1;
	}
	/* the directory: its files' close-after-write (a change) and removal (a delete) */
	if (inotify_add_watch(fd, path, IN_CLOSE_WRITE | IN_DELETE | IN_ONLYDIR) < 0) {
		str_error(err, errlen, "inotify watch %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int pg_watch_drain_ids(struct pg_watch *w, int64_t *ids, size_t max, size_t *n, bool *more)
{
	char payload[64], err[256];
	int any = 0;
	if (w->db != NULL) {
		int rc;
		while ((rc = sql_notification(w->db, payload, sizeof(payload))) == 1) {
			any = 1;
			note_id(id_of(payload), ids, max, n, more);
		}
		if (rc == 0)
			return any;
		pg_watch_disconnect(w);
	}
	(void)pg_watch_connect(w, err, sizeof(err)); /* as pg_watch_drain */
	*more = true;
	return 1;
}

int store_watch_all_drain(int fd, int64_t *ids, size_t max, size_t *n, bool *more)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	*n = 0;
	*more = false;
	struct pg_watch *w = pg_watch_find(fd);
	if (w != NULL)
		return pg_watch_drain_ids(w, ids, max, n, more);
	int any = 0;
	for (;;) {
		ssize_t len = read(fd, buf, sizeof(buf));
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (len <= 0)
			return any;
		any = 1;
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= len;) {
			const struct inotify_event *ev = (const void *)(buf + off);
			if (ev->mask & IN_Q_OVERFLOW)
				*more = true;
			else if (ev->len > 0)
				note_id(id_of(ev->name), ids, max, n, more);
			off += (ssize_t)(sizeof(struct inotify_event) + ev->len);
		}
	}
}
