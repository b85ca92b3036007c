/* master.c: bind, drop privileges, accept and fork one process per session (see master.h). */
#include "lib/master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/keeper.h"
#include "lib/log.h"
#include "lib/master_int.h"
#include "lib/master_pool.h"
#include "lib/metrics.h"
#include "lib/privsep.h"
#include "lib/str.h"

int master_parse_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		if ((size_t)(close - addr - 1) >= hostlen)
			return -1;
		memcpy(host, addr + 1, (size_t)(close - addr - 1));
		host[close - addr - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || (size_t)(colon - addr) >= hostlen || strchr(addr, ':') != colon)
			return -1;
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = '\0';
	}
	if (host[0] == '\0' || colon[1] == '\0')
		return -1;
	return str_copy(port, portlen, colon + 1);
}

static int bind_one(struct listener *l, char *err, size_t errlen)
{
	char host[256], port[32];
	if (master_parse_addr(l->addr, host, sizeof host, port, sizeof port) < 0) {
		str_error(err, errlen, "%s: \"%s\" is not host:port", l->name, l->addr);
		return -1;
	}
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		str_error(err, errlen, "%s: cannot resolve %s: %s", l->name, l->addr, gai_strerror(gai));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		str_error(err, errlen, "%s: cannot listen on %s: %s", l->name, l->addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	l->fd = fd;
	return 0;
}

int master_bind(struct listener *ls, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		ls[i].fd = -1;
		if (ls[i].addr[0] == '\0')
			continue;
		if (bind_one(&ls[i], err, errlen) < 0)
			return -1;
	}
	return 0;
}

int master_drop_privileges(const char *user, char *err, size_t errlen)
{
	if (user == NULL || user[0] == '\0')
		return 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		str_error(err, errlen, "user \"%s\" does not exist (set user in the config)", user);
		return -1;
	}
	if (pw->pw_uid == geteuid())
		return 0;
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		str_error(err, errlen, "cannot switch to user \"%s\": %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) { /* must not be able to regain root */
		str_error(err, errlen, "privileges could not be dropped for \"%s\"", user);
		return -1;
	}
	return 0;
}

/* The limits in force: master_opts' at start, master_set_limits' after a SIGHUP. */
static struct {
	unsigned max_sessions;
	unsigned max_sessions_per_ip;
	unsigned pool_max[MASTER_MAX_POOLS];
} limits;

void master_set_limits(unsigned max_sessions, unsigned max_sessions_per_ip,
                       const unsigned pool_max[MASTER_MAX_POOLS])
{
	limits.max_sessions = max_sessions;
	limits.max_sessions_per_ip = max_sessions_per_ip;
	memcpy(limits.pool_max, pool_max, sizeof(limits.pool_max));
}

static volatile sig_atomic_t got_term;
static volatile sig_atomic_t got_chld;
static volatile sig_atomic_t got_hup;
static volatile sig_atomic_t got_usr2;

/* In a session: finish the work in hand, then say goodbye at the next wait for input
 * ("421" / "* BYE"), instead of dying mid-command. */
static void on_session_term(int sig)
{
	(void)sig;
	conn_request_stop();
}

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void on_chld(int sig)
{
	(void)sig;
	got_chld = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
}

static void on_usr2(int sig)
{
	(void)sig;
	got_usr2 = 1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_usr2; /* a helper was started again (lib/keeper.h) */
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The entry of session process c's pre-login process when that one is a reused
 * pre-login process alone (its own child), else NULL (a pair's, or one of a single
 * connection: those serve c's connection only). */
static struct child *prelogin_alone(struct master_state *m, const struct child *c)
{
	for (size_t i = 0; i < m->nchildren; i++)
		if (m->children[i].pid == c->prelogin && m->children[i].alone)
			return &m->children[i];
	return NULL;
}

/* A session process ended: its pre-login process goes too when the session process
 * refused it (a forged message: that process is not believed again, whatever it runs
 * now) or died while the pre-login process still ran its connection (normally it ends
 * that connection by itself once the relay closes). A reused pre-login process that
 * already told the master so serves, or is about to serve, the next peer: a killed
 * session process must not take that peer's connection with it. One that is ended is
 * handed no connection meanwhile (closed before its death is reaped). */
static void session_ended(struct master_state *m, const struct child *c, int status)
{
	bool refused = WIFEXITED(status) && WEXITSTATUS(status) == MASTER_EXIT_PEER_REFUSED;
	struct child *pre = c->prelogin > 0 ? prelogin_alone(m, c) : NULL;

	if (WIFSIGNALED(status) && !c->alone) /* a pre-login process's end: logged by reap */
		log_warn("session_crashed", "pid=%ld signal=%d", (long)c->pid, WTERMSIG(status));
	if (c->prelogin <= 0 || !(refused || WIFSIGNALED(status)))
		return;
	if (!refused && pre != NULL &&
	    !(pre->busy && memcmp(pre->session_id, c->session_id, sizeof(pre->session_id)) == 0))
		return; /* done with c's connection */
	if (pre != NULL)
		master_reused_close(pre);
	privsep_signal(c->prelogin, SIGKILL);
}

/* A helper's keeper ended (lib/keeper.h): it never should, and the master, running as
 * the daemons' user, cannot start a root process again. The helper itself ends with it
 * or once the master does; what needs it fails from then on, each with its own error. */
static void keeper_ended(pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_err("child.ended",
		        "name=%s-keeper pid=%ld signal=%d restart_in=never "
		        "error=\"not restarted: restart the daemon\"",
		        keeper_of(pid), (long)pid, WTERMSIG(status));
	else
		log_err("child.ended",
		        "name=%s-keeper pid=%ld status=%d restart_in=never "
		        "error=\"not restarted: restart the daemon\"",
		        keeper_of(pid), (long)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void reap(struct master_state *m)
{
	pid_t pid;
	int status;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool session = false, pre = false;
		for (size_t i = 0; i < m->nchildren; i++) {
			session |= m->children[i].pid == pid || m->children[i].prelogin == pid;
			pre |= m->children[i].prelogin == pid ||
			       (m->children[i].pid == pid && m->children[i].alone);
		}
		if (!session && m->opts != NULL && keeper_of(pid) != NULL) {
			keeper_ended(pid, status);
			continue;
		}
		if (!session && m->opts != NULL && m->opts->on_child_exit != NULL) {
			m->opts->on_child_exit(pid, status, m->opts->arg);
			continue;
		}
		if (pre && WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
			log_warn("prelogin_crashed", "pid=%ld signal=%d", (long)pid, WTERMSIG(status));
		/* a pre-login process: no longer anyone's (a reused one alone may be named by
		 * the session processes of its last connections) */
		for (size_t i = 0; i < m->nchildren; i++) {
			if (m->children[i].prelogin != pid)
				continue;
			m->children[i].prelogin = 0;
			master_reused_close(&m->children[i]); /* its session process ends too, once idle */
		}
		for (size_t i = 0; i < m->nchildren; i++) {
			if (m->children[i].pid != pid)
				continue;
			session_ended(m, &m->children[i], status);
			master_reused_close(&m->children[i]);
			m->children[i] = m->children[--m->nchildren];
			break;
		}
	}
}

static unsigned count_ip(const struct master_state *m, const char *ip)
{
	unsigned n = 0;
	for (size_t i = 0; i < m->nchildren; i++)
		n += master_counts(&m->children[i]) && strcmp(m->children[i].ip, ip) == 0;
	return n;
}

static void fill_session_info(int fd, const struct listener *l, struct session_info *si)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	memset(si, 0, sizeof *si);
	si->listener = l;
	si->channel_fd = -1;
	si->auth_fd = -1;
	si->relay_fd = -1;
	si->prelogin_pid = -1;
	si->keys_fd = -1;
	si->pool_fd = -1;
	char port[16];
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, len, si->peer_ip, sizeof si->peer_ip, port, sizeof port,
	                NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		si->peer_port = (unsigned)atoi(port);
	len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		getnameinfo((struct sockaddr *)&ss, len, si->local_ip, sizeof si->local_ip, NULL, 0,
		            NI_NUMERICHOST);
	/* Present IPv4-mapped IPv6 peers as plain IPv4, as operators write them. */
	if (strncmp(si->peer_ip, "::ffff:", 7) == 0)
		memmove(si->peer_ip, si->peer_ip + 7, strlen(si->peer_ip + 7) + 1);
}

/* A session's SIGTERM and SIGINT: at every connection of a reused process too (the
 * pre-login process ignores them while it relays: the session process says goodbye). */
void master_session_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_session_term; /* no SA_RESTART: a wait for input is interrupted */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* The master's state, for its children to close what is the master's alone. */
static struct master_state *running;

void master_close_in_child(void)
{
	if (running == NULL)
		return;
	master_watch_free(&running->watch); /* the master's wait on the others' sockets */
	for (size_t i = 0; i < running->nchildren; i++) {
		for (int k = 0; k < 2; k++)
			if (running->children[i].ctl[k] >= 0)
				close(running->children[i].ctl[k]);
		if (running->children[i].keys_fd >= 0) /* another connection's account keys */
			close(running->children[i].keys_fd);
		if (running->children[i].tls_chan >= 0) /* another process's signatures */
			close(running->children[i].tls_chan);
		if (running->children[i].keys_chan >= 0) /* and its account key agent channel */
			close(running->children[i].keys_chan);
	}
	/* and what the master knows of the other connections: their peers' addresses and
	 * the hints idle session processes are handed out under (a SASL user, a patient's
	 * address; a certificate's fingerprint), which a process serving anyone must not
	 * hold */
	if (running->children != NULL)
		explicit_bzero(running->children, running->cap * sizeof(*running->children));
	running->nchildren = 0;
}

/* In every child first: what only the master may hold goes (listeners, the sockets of
 * the reused processes), signals as a session wants them, the daemon's child_init. */
void master_child_enter(const struct master_opts *o, struct listener *ls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ls[i].fd >= 0)
			close(ls[i].fd);
	master_close_in_child();
	master_session_signals();
	signal(SIGCHLD, SIG_DFL);
	/* A session keeps the material it was forked with; a SIGHUP sent to the whole
	 * process group must not end it. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR2, SIG_IGN); /* the master's alone (lib/keeper.h) */
	if (o->child_init)
		o->child_init(o->arg);
}

void master_run_child(const struct master_opts *o, struct listener *ls, size_t n, int fd,
                      const struct session_info *si)
{
	master_child_enter(o, ls, n);
	if (si->auth_fd >= 0 && fd >= 0) { /* the pre-login process */
		o->prelogin(fd, si, o->arg);
		_exit(0);
	}
	if (si->auth_fd >= 0)
		privsep_drop_caps(); /* the session process: the daemons' user, nothing more */
	o->session(fd, si, o->arg);
	_exit(0);
}

/* The two processes of one connection (privilege separation): the pre-login process
 * with the client socket, the session process with the database. Returns the session
 * process's pid (*pre: the pre-login one's), or -1 (nothing left running). */
static pid_t fork_pair(const struct master_opts *o, struct listener *ls, size_t n, int fd,
                       struct session_info *si, pid_t *pre)
{
	int ach[2], rel[2];
	pid_t pid;
	char sid[LOG_SESSION_ID_SIZE];

	log_new_session_id(sid); /* one id for the lines of both processes */
	str_assert(str_copy(si->session_id, sizeof(si->session_id), sid), "LOG_SESSION_ID_SIZE both");
	if (o->keys_channel && (si->keys_fd = o->keys_channel(si, o->arg)) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ach) < 0)
		goto fail_keys;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rel) < 0) {
		close(ach[0]);
		close(ach[1]);
		goto fail_keys;
	}
	*pre = fork();
	if (*pre == 0) {
		close(ach[0]);
		close(rel[0]);
		if (si->keys_fd >= 0) /* the account keys are the session process's alone */
			close(si->keys_fd);
		si->keys_fd = -1;
		si->auth_fd = ach[1];
		si->relay_fd = rel[1];
		log_set_session(sid);
		master_run_child(o, ls, n, fd, si);
	}
	close(ach[1]);
	close(rel[1]);
	pid = *pre < 0 ? -1 : fork();
	if (pid == 0) {
		close(fd); /* the session process never sees the client's bytes unrelayed */
		if (si->channel_fd >= 0)
			close(si->channel_fd);
		si->channel_fd = -1;
		si->auth_fd = ach[0];
		si->relay_fd = rel[0];
		si->prelogin_pid = (long)*pre;
		log_set_session(sid);
		master_run_child(o, ls, n, -1, si);
	}
	close(ach[0]);
	close(rel[0]);
	if (pid < 0 && *pre > 0) {
		privsep_signal(*pre, SIGKILL);
		*pre = 0;
	}
	if (si->keys_fd >= 0)
		close(si->keys_fd);
	return pid;
fail_keys:
	if (si->keys_fd >= 0)
		close(si->keys_fd);
	return -1;
}

static unsigned count_pool(const struct master_state *m, int pool)
{
	unsigned n = 0;
	for (size_t i = 0; i < m->nchildren; i++)
		n += master_counts(&m->children[i]) && m->children[i].pool == pool;
	return n;
}

static size_t count_sessions(const struct master_state *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->nchildren; i++)
		n += master_counts(&m->children[i]);
	return n;
}

static const char *over_limit(const struct master_state *m, const char *ip, int pool)
{
	if (count_sessions(m) >= limits.max_sessions)
		return "too many sessions";
	if (pool >= 0 && pool < MASTER_MAX_POOLS && limits.pool_max[pool] &&
	    count_pool(m, pool) >= limits.pool_max[pool])
		return "too many sessions on this service";
	if (count_ip(m, ip) >= limits.max_sessions_per_ip)
		return "too many sessions from your address";
	return NULL;
}

struct child *master_add_child(struct master_state *m, pid_t pid, pid_t pre, const struct listener *l,
                               const char *ip)
{
	if (m->nchildren == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->children = xrealloc(m->children, m->cap * sizeof *m->children);
	}
	struct child *c = &m->children[m->nchildren++];
	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->prelogin = pre;
	c->pool = l->pool;
	c->listener = l;
	c->busy = true;
	c->ctl[0] = c->ctl[1] = -1;
	c->keys_fd = c->tls_chan = c->keys_chan = -1;
	str_assert(str_copy(c->ip, sizeof c->ip, ip), "ip and peer_ip are both 64 bytes");
	return c;
}

static void accept_one(const struct master_opts *o, struct master_state *m, struct listener *ls, size_t n,
                       struct listener *l)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct session_info si;
	fill_session_info(fd, l, &si);
	const char *why = over_limit(m, si.peer_ip, l->pool);
	if (why) {
		log_warn("session_refused", "listener=%s peer=%s reason=\"%s\"", l->name, si.peer_ip, why);
		if (o->overload)
			o->overload(fd, &si, why);
		close(fd);
		return;
	}
	bool reused = master_reused_on(o, l);
	/* a reused process has its own channel for its life (master_pool.c) */
	si.channel_fd = o->session_channel && !reused ? o->session_channel(o->arg) : -1;
	if (o->session_channel && !reused && si.channel_fd < 0) {
		if (o->overload)
			o->overload(fd, &si, "service unavailable");
		close(fd);
		return;
	}
	if (reused) {
		/* a connection that cannot be served is told so (an agent's channel refused) */
		if (master_reused_take(o, m, ls, n, fd, &si) < 0 && o->overload)
			o->overload(fd, &si, "service unavailable");
		close(fd);
		if (si.channel_fd >= 0)
			close(si.channel_fd);
		return;
	}
	pid_t pre = 0, pid;
	if (o->privsep != NULL && o->privsep->on)
		pid = fork_pair(o, ls, n, fd, &si, &pre);
	else if (o->keys_channel && (si.keys_fd = o->keys_channel(&si, o->arg)) < 0)
		pid = -1;
	else if ((pid = fork()) == 0)
		master_run_child(o, ls, n, fd, &si);
	if ((o->privsep == NULL || !o->privsep->on) && si.keys_fd >= 0)
		close(si.keys_fd);
	if (pid < 0) {
		log_err("fork_failed", "error=\"%s\"", strerror(errno));
		/* told so (a fork failed, or an agent refused a channel: keyagent.channel_failed) */
		if (o->overload)
			o->overload(fd, &si, "service unavailable");
	}
	close(fd);
	if (si.channel_fd >= 0)
		close(si.channel_fd);
	if (pid < 0)
		return;
	(void)master_add_child(m, pid, pre, l, si.peer_ip);
}

void master_signal(const struct child *c, int sig)
{
	if (c->alone)
		privsep_signal(c->pid, sig);
	else
		kill(c->pid, sig);
}

/* Gives sessions a few seconds to finish their current command, then kills them. */
static void stop_children(struct master_state *m)
{
	for (size_t i = 0; i < m->nchildren; i++)
		master_reused_close(&m->children[i]);
	for (size_t i = 0; i < m->nchildren; i++) {
		master_signal(&m->children[i], SIGTERM);
		if (m->children[i].prelogin > 0) /* says BYE itself before login */
			privsep_signal(m->children[i].prelogin, SIGTERM);
	}
	for (int tries = 0; tries < 50 && m->nchildren > 0; tries++) {
		reap(m);
		if (m->nchildren > 0)
			usleep(100000);
	}
	for (size_t i = 0; i < m->nchildren; i++) {
		master_signal(&m->children[i], SIGKILL);
		if (m->children[i].prelogin > 0)
			privsep_signal(m->children[i].prelogin, SIGKILL);
	}
	while (m->nchildren > 0 && waitpid(-1, NULL, 0) > 0)
		reap(m);
}

int master_run(const struct master_opts *o, struct listener *ls, size_t n)
{
	struct master_state m = {.opts = o};
	master_watch_init(&m.watch);
	master_set_limits(o->max_sessions, o->max_sessions_per_ip, o->pool_max);
	struct pollfd pfd[MASTER_MAX_LISTENERS];
	struct listener *by_index[MASTER_MAX_LISTENERS];
	size_t np = 0;
	for (size_t i = 0; i < n && np < MASTER_MAX_LISTENERS; i++) {
		if (ls[i].fd < 0)
			continue;
		pfd[np].fd = ls[i].fd;
		pfd[np].events = POLLIN;
		by_index[np++] = &ls[i];
	}
	/* Enforced here rather than left to each daemon: no session ever runs as the
	 * user that bound the ports (root for 25/143/587/993). */
	char err[256];
	bool separated = o->privsep != NULL && o->privsep->on;
	if (!separated && getuid() != 0 && geteuid() != 0)
		log_warn("privsep.reduced", "error=\"not started as root: sessions, the master and the audit "
		                            "signer share one user\"");
	if (master_drop_privileges(o->user, err, sizeof err) < 0)
		fatal("%s", err);
	install_signals();
	running = &m;
	struct pollfd *all = NULL;
	size_t cap = 0;
	while (!got_term) {
		metrics_gauge_set((enum metrics_gauge)o->sessions_gauge, count_sessions(&m));
		size_t nall = master_reused_watch(&m, pfd, np, &all, &cap);
		int r = master_watch_wait(&m.watch, all, nall, 1000);
		if (r > 0)
			master_reused_heard(o, &m, ls, n, all + np, nall - np);
		if (got_chld) {
			got_chld = 0;
			reap(&m);
		}
		if (got_hup) {
			got_hup = 0;
			if (o->on_reload)
				o->on_reload(o->arg);
		}
		if (got_usr2) {
			got_usr2 = 0;
			master_retire_reused();
			if (o->on_helper_restart)
				o->on_helper_restart(o->arg);
		}
		if (o->on_tick)
			o->on_tick(o->arg);
		master_reused_tick(&m);
		if (r <= 0)
			continue;
		for (size_t i = 0; i < np; i++)
			if (all[i].revents & POLLIN)
				accept_one(o, &m, ls, n, by_index[i]);
	}
	log_info("shutdown", "sessions=%zu", m.nchildren);
	m.opts = NULL; /* children ending from now on are not restarted */
	for (size_t i = 0; i < n; i++)
		if (ls[i].fd >= 0)
			close(ls[i].fd);
	stop_children(&m);
	if (o->on_shutdown)
		o->on_shutdown(o->arg);
	free(all);
	free(m.children);
	master_watch_free(&m.watch);
	running = NULL;
	return 0;
}
