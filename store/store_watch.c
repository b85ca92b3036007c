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
 * same for both engines. One connection LISTENs for all the process's watches (an
 * IMAP session's account and selected mailbox): a second one would cost PostgreSQL a
 * backend per session for nothing. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/str.h"
#include "store/store_int.h"

/* A session selects one mailbox at a time; a few slots leave room for tests. */
#define PG_WATCH_MAX 4
/* Mailbox ids kept for a NOTIFY watch between two drains; more: "look at all". */
#define PG_WATCH_IDS 32

/* One watch: what its consumer polls. Every watch of the process shares one LISTEN
 * connection (pg_conn): a session with a mailbox selected and its account watched
 * costs PostgreSQL one backend for both, not two. The connection's socket sits in
 * every watch's epoll set, beside the watch's own eventfd: a drain reads whatever
 * arrived, for every channel, and hands each notification to the watches of its
 * channel, waking the others through their eventfd (the socket is read by then). */
struct pg_watch {
	int epfd; /* -1: free slot */
	int evfd; /* eventfd: a notification of this watch's channel taken by another drain */
	char channel[48];
	bool pending; /* notified since the last drain */
	bool more;    /* ids lost (too many, or a reconnect): look at every mailbox */
	size_t nids;
	int64_t ids[PG_WATCH_IDS];
};

static struct pg_watch pg_watches[PG_WATCH_MAX] = {
    {.epfd = -1, .evfd = -1}, {.epfd = -1, .evfd = -1}, {.epfd = -1, .evfd = -1}, {.epfd = -1, .evfd = -1}};

/* The shared connection. Kept when the last watch closes, for the next SELECT
 * (LISTEN on another channel) rather than made again: a connection costs a server
 * process and a round of authentication, far more than the UNLISTEN/LISTEN. */
static struct {
	struct sql *db; /* NULL: not connected (lost and not made again yet) */
	int sock;       /* db's socket, in every open watch's epoll set; -1 when none */
	char *target;   /* the store URI it is made for (may hold a password) */
	unsigned timeout_ms;
} pg_conn = {.sock = -1};

static int channel_name(int64_t mailbox_id, char *out, size_t outlen)
{
	return str_format(out, outlen, "mss_mbox_%lld", (long long)mailbox_id);
}

/* Every mailbox change is also sent here with the mailbox id as payload, for the
 * sessions that watch all mailboxes at once (NOTIFY, RFC 5465). */
#define WATCH_ALL_CHANNEL "mss_mbox_all"

static int64_t id_of(const char *p);
static void note_id(int64_t id, int64_t *ids, size_t max, size_t *n, bool *more);

static void pg_watch_signal(struct pg_watch *w)
{
	uint64_t one = 1;
	if (write(w->evfd, &one, sizeof(one)) < 0) {
		/* full counter (cannot happen at 2^64-1): the watch is readable anyway */
	}
}

/* Notifications may have been lost: every watch looks at everything. */
static void pg_watch_all_lost(void)
{
	for (size_t i = 0; i < PG_WATCH_MAX; i++) {
		struct pg_watch *w = &pg_watches[i];
		if (w->epfd < 0)
			continue;
		w->pending = true;
		w->more = true;
		pg_watch_signal(w);
	}
}

static void pg_conn_disconnect(void)
{
	for (size_t i = 0; pg_conn.sock >= 0 && i < PG_WATCH_MAX; i++)
		if (pg_watches[i].epfd >= 0)
			epoll_ctl(pg_watches[i].epfd, EPOLL_CTL_DEL, pg_conn.sock, NULL);
	pg_conn.sock = -1;
	sql_close(pg_conn.db);
	pg_conn.db = NULL;
}

static void pg_conn_forget(void)
{
	pg_conn_disconnect();
	if (pg_conn.target != NULL)
		sodium_memzero(pg_conn.target, strlen(pg_conn.target));
	free(pg_conn.target);
	pg_conn.target = NULL;
}

static bool pg_channel_used(const char *channel, const struct pg_watch *but)
{
	for (size_t i = 0; i < PG_WATCH_MAX; i++)
		if (&pg_watches[i] != but && pg_watches[i].epfd >= 0 &&
		    strcmp(pg_watches[i].channel, channel) == 0)
			return true;
	return false;
}

static int pg_watch_add_sock(struct pg_watch *w, char *err, size_t errlen)
{
	struct epoll_event ev = {.events = EPOLLIN};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, pg_conn.sock, &ev) < 0 && errno != EEXIST) {
		str_error(err, errlen, "epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Hands what arrived to the watches of each channel. Returns 0, or -1 when the
 * connection was lost (disconnected then). */
static int pg_conn_read(void)
{
	char channel[64], payload[64];
	int rc;
	if (pg_conn.db == NULL)
		return -1;
	while ((rc = sql_notification_on(pg_conn.db, channel, sizeof(channel), payload, sizeof(payload))) ==
	       1) {
		for (size_t i = 0; i < PG_WATCH_MAX; i++) {
			struct pg_watch *w = &pg_watches[i];
			if (w->epfd < 0 || strcmp(w->channel, channel) != 0)
				continue;
			if (!w->pending)
				pg_watch_signal(w);
			w->pending = true;
			note_id(id_of(payload), w->ids, PG_WATCH_IDS, &w->nids, &w->more);
		}
	}
	if (rc == 0)
		return 0;
	pg_conn_disconnect();
	return -1;
}

/* (Re)connects and listens on every open watch's channel. Returns 0 or -1 with err. */
static int pg_conn_connect(char *err, size_t errlen)
{
	pg_conn.db = sql_open_timeout(pg_conn.target, 0, pg_conn.timeout_ms, err, errlen);
	if (pg_conn.db == NULL)
		return -1;
	pg_conn.sock = sql_notify_fd(pg_conn.db);
	if (pg_conn.sock < 0) {
		str_error(err, errlen, "epoll: no socket");
		pg_conn_disconnect();
		return -1;
	}
	for (size_t i = 0; i < PG_WATCH_MAX; i++) {
		struct pg_watch *w = &pg_watches[i];
		if (w->epfd < 0)
			continue;
		if (sql_listen(pg_conn.db, w->channel, err, errlen) < 0 ||
		    pg_watch_add_sock(w, err, errlen) < 0) {
			pg_conn_disconnect();
			return -1;
		}
	}
	if (pg_conn_read() < 0) {
		str_error(err, errlen, "store connection lost");
		return -1;
	}
	return 0;
}

/* Listens on w's channel too, on the shared connection (made when there is none,
 * and again when found lost). Returns 0 or -1 with err. */
static int pg_watch_listen(struct pg_watch *w, char *err, size_t errlen)
{
	/* a statement on the connection may read notifications into libpq's buffer,
	 * where no poll sees them: pg_conn_read hands them out after each one */
	if (pg_conn.db != NULL && pg_conn_read() == 0 &&
	    sql_listen(pg_conn.db, w->channel, err, errlen) == 0 && pg_watch_add_sock(w, err, errlen) == 0 &&
	    pg_conn_read() == 0)
		return 0;
	pg_conn_disconnect(); /* none yet, or lost meanwhile */
	if (pg_conn_connect(err, errlen) < 0)
		return -1;
	pg_watch_all_lost(); /* the others' notifications sent meanwhile are gone */
	w->pending = false;
	w->more = false;
	return 0;
}

static struct pg_watch *pg_watch_find(int fd)
{
	for (size_t i = 0; i < PG_WATCH_MAX; i++)
		if (fd >= 0 && pg_watches[i].epfd == fd)
			return &pg_watches[i];
	return NULL;
}

static void pg_watch_free(struct pg_watch *w)
{
	if (w->evfd >= 0)
		close(w->evfd);
	if (w->epfd >= 0)
		close(w->epfd);
	w->evfd = -1;
	w->epfd = -1;
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
	bool others = false;
	for (size_t i = 0; i < PG_WATCH_MAX; i++)
		others = others || pg_watches[i].epfd >= 0;
	if (pg_conn.target != NULL && strcmp(pg_conn.target, st->cfg.store) != 0) {
		if (others) {
			str_error(err, errlen, "watches on two stores in one process");
			return -1;
		}
		pg_conn_forget(); /* kept for another store */
	}
	if (str_copy(w->channel, sizeof(w->channel), channel) < 0) {
		str_error(err, errlen, "channel name too long");
		return -1;
	}
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN};
	if (w->epfd < 0 || w->evfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0) {
		str_error(err, errlen, "epoll: %s", strerror(errno));
		pg_watch_free(w);
		return -1;
	}
	w->pending = false;
	w->more = false;
	w->nids = 0;
	if (pg_conn.target == NULL) {
		pg_conn.target = xstrdup(st->cfg.store);
		pg_conn.timeout_ms = st->cfg.store_timeout * 1000u;
	}
	if (pg_watch_listen(w, err, errlen) < 0) {
		pg_watch_free(w);
		return -1;
	}
	return w->epfd;
}

/* Takes what this watch was told since its last drain (1: something, 0: nothing).
 * A lost connection is made again (notifications sent meanwhile are gone, so every
 * watch is told to look: 1, with more). */
static int pg_watch_take(struct pg_watch *w, int64_t *ids, size_t max, size_t *n, bool *more)
{
	char err[256];
	uint64_t count;
	if (pg_conn.db != NULL && pg_conn_read() < 0)
		pg_watch_all_lost(); /* lost now: every watch looks, once */
	if (pg_conn.db == NULL) {
		if (pg_conn_connect(err, sizeof(err)) == 0)
			pg_watch_all_lost(); /* lost earlier: the notifications meanwhile are gone */
		/* unreachable now: this watch looks; its next drain tries again (the
		 * others are not woken again, or they would wake each other in a loop) */
		w->pending = true;
		w->more = true;
	}
	while (read(w->evfd, &count, sizeof(count)) < 0 && errno == EINTR)
		; /* read after pg_conn_read: its own wake is taken here too */
	int any = w->pending ? 1 : 0;
	*more = w->more;
	for (size_t i = 0; i < w->nids; i++)
		note_id(w->ids[i], ids, max, n, more);
	w->pending = false;
	w->more = false;
	w->nids = 0;
	return any;
}

static int pg_watch_drain(struct pg_watch *w)
{
	int64_t ids[1];
	size_t n = 0;
	bool more = false;
	return pg_watch_take(w, ids, 0, &n, &more);
}

static void pg_watch_close(struct pg_watch *w)
{
	char err[256], sql[80];
	bool lost = false;
	if (pg_conn.sock >= 0)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, pg_conn.sock, NULL);
	if (pg_conn.db != NULL && !pg_channel_used(w->channel, w) &&
	    (str_format(sql, sizeof(sql), "UNLISTEN %s", w->channel) < 0 ||
	     sql_script(pg_conn.db, "unlisten", sql, err, sizeof(err)) < 0))
		lost = true;
	pg_watch_free(w);
	if (lost || (pg_conn.db != NULL && pg_conn_read() < 0)) {
		pg_conn_disconnect();
		pg_watch_all_lost(); /* the others drain, and connect again */
	}
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
	if (st->pending_queue) {
		st->pending_queue = false;
		store_queue_notify(st);
	}
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
	/* inside a transaction (queue_put in a filing's savepoint) the queue process would
	 * look before the commit and find nothing: store_notify_flush wakes it after */
	if (sql_in_transaction(st->sql)) {
		st->pending_queue = true;
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

int store_watch_all_drain(int fd, int64_t *ids, size_t max, size_t *n, bool *more)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	*n = 0;
	*more = false;
	struct pg_watch *w = pg_watch_find(fd);
	if (w != NULL)
		return pg_watch_take(w, ids, max, n, more);
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
