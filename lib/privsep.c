/* privsep.c: the pre-login process's confinement and its cleartext relay (see privsep.h). */
#include "lib/privsep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/key_agent.h"
#include "lib/master.h"
#include "lib/str.h"
#include "lib/tls.h"

/* Client bytes held for a session process that is busy writing: past this the relay
 * stops reading the client until the session process catches up. */
#define RELAY_PENDING_MAX (1024 * 1024)
#define RELAY_CHUNK 16384

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	if (d == NULL)
		return false;
	while (empty && (e = readdir(d)) != NULL)
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* The empty directory: made when missing, then checked and given to root, 0755. */
static int make_root(const char *path, char *err, size_t errlen)
{
	struct stat sb;

	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		str_error(err, errlen, "login_root %s: %s", path, strerror(errno));
		return -1;
	}
	if (lstat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		str_error(err, errlen, "login_root %s: not a directory", path);
		return -1;
	}
	if (!dir_is_empty(path)) {
		str_error(err, errlen, "login_root %s: not empty (the code before login must see no file)",
		          path);
		return -1;
	}
	if (chown(path, 0, 0) < 0 || chmod(path, 0755) < 0) {
		str_error(err, errlen, "login_root %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int privsep_prepare(const struct mss_config *cfg, struct privsep *p, char *err, size_t errlen)
{
	struct passwd *pw;

	memset(p, 0, sizeof(*p));
	if (geteuid() != 0)
		return 0; /* the master says privsep.reduced */
	pw = getpwnam(cfg->login_user);
	if (pw == NULL) {
		str_error(err, errlen, "login_user \"%s\" does not exist (set login_user in the config)",
		          cfg->login_user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		str_error(err, errlen, "login_user \"%s\" is root", cfg->login_user);
		return -1;
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	pw = getpwnam(cfg->user);
	if (pw != NULL && pw->pw_uid == p->uid)
		log_warn("privsep.same_user",
		         "error=\"login_user is user: the code before login could "
		         "read the database and the keys\" user=%s",
		         cfg->user);
	if (config_login_root(cfg, p->root, sizeof(p->root)) < 0) {
		str_error(err, errlen, "login_root: path too long");
		return -1;
	}
	if (make_root(p->root, err, errlen) < 0)
		return -1;
	p->on = true;
	return 0;
}

static bool is_syslog(int fd)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);

	memset(&sa, 0, sizeof(sa));
	return getpeername(fd, (struct sockaddr *)&sa, &len) == 0 && sa.sun_family == AF_UNIX &&
	       strcmp(sa.sun_path, "/dev/log") == 0;
}

static bool kept(int fd, const int *keep, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (keep[i] == fd)
			return true;
	return fd <= 2 || is_syslog(fd);
}

void privsep_close_others(const int *keep, size_t n)
{
	int close_list[256];
	size_t nclose = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && nclose < sizeof(close_list) / sizeof(close_list[0])) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (end == e->d_name || *end != '\0' || fd == dirfd(d) || kept((int)fd, keep, n))
			continue;
		close_list[nclose++] = (int)fd;
	}
	closedir(d);
	for (size_t i = 0; i < nclose; i++)
		close(close_list[i]);
}

#define KEPT_CAPS                                                                                            \
	((1ull << CAP_SETUID) | (1ull << CAP_SETGID) | (1ull << CAP_SYS_CHROOT) | (1ull << CAP_KILL))

/* capset(2) without libcap: permitted and effective sets, inheritable empty. */
static int set_caps(uint64_t permitted, uint64_t effective)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].permitted = (uint32_t)permitted;
	d[1].permitted = (uint32_t)(permitted >> 32);
	d[0].effective = (uint32_t)effective;
	d[1].effective = (uint32_t)(effective >> 32);
	return (int)syscall(SYS_capset, &h, d);
}

static bool no_caps(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return (d[0].permitted | d[1].permitted | d[0].effective | d[1].effective) == 0;
}

int privsep_drop(const struct privsep *p, const char *user, char *err, size_t errlen)
{
	struct passwd *pw;

	if (!p->on)
		return master_drop_privileges(user, err, errlen);
	pw = getpwnam(user);
	if (pw == NULL) {
		str_error(err, errlen, "user \"%s\" does not exist (set user in the config)", user);
		return -1;
	}
	if (pw->pw_uid == geteuid() && pw->pw_uid == 0)
		return 0; /* user root (the tests): nothing to keep apart from root itself */
	if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setgroups(0, NULL) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0 || prctl(PR_SET_KEEPCAPS, 0) < 0 ||
	    set_caps(KEPT_CAPS, 0) < 0) {
		str_error(err, errlen, "cannot switch to user \"%s\": %s", user, strerror(errno));
		return -1;
	}
	return 0;
}

void privsep_drop_caps(void)
{
	if (geteuid() != 0) /* user root (tests) keeps root: nothing to drop but root itself */
		(void)set_caps(0, 0);
}

void privsep_signal(long pid, int sig)
{
	int saved = errno;

	if (geteuid() == 0) { /* user root (the tests) */
		(void)kill((pid_t)pid, sig);
		return;
	}
	(void)set_caps(KEPT_CAPS, 1ull << CAP_KILL);
	(void)kill((pid_t)pid, sig);
	(void)set_caps(KEPT_CAPS, 0);
	errno = saved;
}

int privsep_enter(const struct privsep *p, char *err, size_t errlen)
{
	if (geteuid() != 0 && set_caps(KEPT_CAPS, KEPT_CAPS) < 0) {
		str_error(err, errlen, "cannot raise the master's capabilities: %s", strerror(errno));
		return -1;
	}
	if (chroot(p->root) < 0 || chdir("/") < 0) {
		str_error(err, errlen, "chroot %s: %s", p->root, strerror(errno));
		return -1;
	}
	if (setgroups(0, NULL) < 0 || setresgid(p->gid, p->gid, p->gid) < 0 ||
	    setresuid(p->uid, p->uid, p->uid) < 0) {
		str_error(err, errlen, "cannot switch to login_user: %s", strerror(errno));
		return -1;
	}
	if (!no_caps() && set_caps(0, 0) < 0) {
		str_error(err, errlen, "cannot clear capabilities: %s", strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() != p->uid || !no_caps()) { /* no way back */
		str_error(err, errlen, "privileges could not be dropped for login_user");
		return -1;
	}
	/* and none to gain: a pre-login process never executes a program, so a set-user-ID
	 * one it were made to run would not run as its owner (session processes may run an
	 * operator's notify_command, which may need its own set-group-ID sendmail) */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		str_error(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Sends what it can of pending to fd (non-blocking). Returns 0, or -1 when fd is gone. */
static int push(int fd, struct buf *pending)
{
	while (pending->len > 0) {
		ssize_t n = send(fd, pending->data, pending->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_consume(pending, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		return -1;
	}
	return 0;
}

/* Session process -> client. Returns 0, or -1 when the session process closed. */
static int pull(int fd, struct conn *client)
{
	char chunk[RELAY_CHUNK];
	ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);

	if (n > 0)
		return conn_write(client, chunk, (size_t)n) < 0 ? -1 : 0;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return -1;
}

void privsep_relay(struct conn *client, int fd, unsigned idle_timeout)
{
	struct buf pending;
	bool client_open = true, shut = false;

	/* the session process says goodbye on SIGTERM; this side relays it */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	conn_set_deadline(client, 0);
	conn_set_timeout(client, idle_timeout); /* bounds a partial TLS record or a stuck write */
	buf_init_wiped(&pending, BUF_UNLIMITED);
	for (;;) {
		if (conn_flush(client) < 0)
			break;
		bool want = client_open && pending.len < RELAY_PENDING_MAX;
		bool buffered = want && conn_has_buffered_input(client);
		struct pollfd p[2] = {
		    {.fd = fd, .events = (short)(POLLIN | (pending.len ? POLLOUT : 0))},
		    {.fd = want ? conn_fd(client) : -1, .events = POLLIN},
		};
		if (poll(p, 2, buffered ? 0 : -1) < 0 && errno != EINTR)
			break;
		if (buffered || (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			client_open = conn_read_some(client, &pending, RELAY_CHUNK) == CONN_OK;
		if (push(fd, &pending) < 0)
			break;
		if (!client_open && pending.len == 0 && !shut) {
			shutdown(fd, SHUT_WR); /* the client went away: end of input for the session */
			shut = true;
		}
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && pull(fd, client) < 0)
			break;
	}
	(void)conn_flush(client);
	buf_free(&pending); /* wiped (buf_init_wiped) */
}

int privsep_relay_batch(void)
{
	const struct sched_param none = {.sched_priority = 0}; /* the only one SCHED_BATCH has */
	return sched_setscheduler(0, SCHED_BATCH, &none);
}

int privsep_relay_normal(void)
{
	const struct sched_param none = {.sched_priority = 0};
	return sched_setscheduler(0, SCHED_OTHER, &none);
}

int privsep_prelogin_begin(const struct privsep *p, int fd, const struct session_info *si,
                           const struct key_agent *agent, struct tls_ctx *tls)
{
	static bool entered; /* a reused pre-login process (lib/master.h) enters once */
	char err[256];
	int keep[] = {fd, si->channel_fd, si->auth_fd, si->relay_fd, agent->ctl, agent->chan, si->pool_fd};

	if (entered)
		return 0;
	privsep_close_others(keep, sizeof(keep) / sizeof(keep[0]));
	tls_ctx_settle_crl(tls);
	if (privsep_enter(p, err, sizeof(err)) < 0) {
		log_err("privsep.enter", "peer=%s error=\"%s\"", si->peer_ip, err);
		if (si->pool_fd >= 0) /* never a next connection outside the empty root */
			_exit(1);
		return -1;
	}
	entered = true;
	return 0;
}
