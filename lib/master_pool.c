/* master_pool.c: reused session processes (master_pool.h): the process's side (a
 * loop over the connections the master sends) and the master's (forking, handing
 * out, hearing back, ending them). */
#include "lib/master_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/mem_wipe.h"
#include "lib/master_int.h"
#include "lib/privsep.h"
#include "lib/str.h"

#define MASTER_POOL_DONE 'D' /* a reused process's connection ended */
#define MASTER_POOL_LAST 'L' /* the same, and the process ends (master_reused_last) */
#define MASTER_POOL_ASK 'A'  /* a pre-login process asks for its session process */
#define MASTER_POOL_FDS 5    /* client, key agent channel, auth, relay, account keys */

/* The descriptors one connection brought into a reused process, with their identity
 * (device, inode) when they arrived: only those still open on the same socket are
 * closed afterwards, never a descriptor number the session code reused. */
struct pool_conn {
	int fd[MASTER_POOL_FDS];
	dev_t dev[MASTER_POOL_FDS];
	ino_t ino[MASTER_POOL_FDS];
};

/* What crosses the socket besides the descriptors: session_info without pointers. */
struct pool_msg {
	unsigned listener; /* index in the daemon's listener array */
	unsigned peer_port;
	unsigned fds; /* bit i: descriptor i of MASTER_POOL_FDS is attached, in order */
	long prelogin_pid;
	char peer_ip[64];
	char local_ip[64];
	char session_id[16];
};

/* A pre-login process's request for its connection's session process (one per
 * connection), answered by a struct pool_msg carrying the authentication and relay
 * channels, or none when there is no session process for it. */
struct pool_ask {
	char type; /* MASTER_POOL_ASK */
	char hint[MASTER_HINT_MAX];
};

/* In a reused process: the daemon's listeners (to read the master's answers in
 * mid-connection), and the channels a request brought for the current connection,
 * closed after it as the connection's own are. */
static struct {
	const struct listener *ls;
	size_t n;
	struct pool_conn asked;
	bool last; /* master_reused_last: the current connection is the process's last */
} here;

/* The descriptors of a connection in their wire order (-1: none). */
static void conn_fds(const struct session_info *si, int fd, int out[MASTER_POOL_FDS])
{
	out[0] = fd;
	out[1] = si->channel_fd;
	out[2] = si->auth_fd;
	out[3] = si->relay_fd;
	out[4] = si->keys_fd;
}

/* In the master: sends the connection of si (client socket fd, -1 for a session
 * process) on ctl; ls is the daemon's listener array (the listener goes by index).
 * Returns 0, or -1 (the process is gone). */
static int pool_send(int ctl, const struct session_info *si, int fd, const struct listener *ls)
{
	struct pool_msg m;
	int all[MASTER_POOL_FDS], fds[MASTER_POOL_FDS];
	size_t nfd = 0;
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * MASTER_POOL_FDS)];
	} cm;

	memset(&m, 0, sizeof(m));
	m.listener = (unsigned)(si->listener - ls);
	m.peer_port = si->peer_port;
	m.prelogin_pid = si->prelogin_pid;
	memcpy(m.peer_ip, si->peer_ip, sizeof(m.peer_ip));
	memcpy(m.local_ip, si->local_ip, sizeof(m.local_ip));
	memcpy(m.session_id, si->session_id, sizeof(m.session_id));
	conn_fds(si, fd, all);
	for (size_t i = 0; i < MASTER_POOL_FDS; i++) {
		if (all[i] < 0)
			continue;
		m.fds |= 1u << i;
		fds[nfd++] = all[i];
	}
	struct iovec iov = {&m, sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	memset(&cm, 0, sizeof(cm));
	if (nfd > 0) {
		mh.msg_control = cm.space;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfd);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfd);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfd);
	}
	return sendmsg(ctl, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(m) ? 0 : -1;
}

/* The descriptors a message carried, in order, into got (count *ngot). */
static void take_fds(struct msghdr *mh, int got[MASTER_POOL_FDS], size_t *ngot)
{
	*ngot = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*ngot < MASTER_POOL_FDS)
				got[(*ngot)++] = fd;
			else
				close(fd);
		}
	}
}

/* Fills si, *fd and pc from m and the descriptors it carried. Returns 0, or -1 when
 * they do not match (the descriptors are closed). */
static int unpack(const struct pool_msg *m, const int *got, size_t ngot, const struct listener *ls, size_t n,
                  struct session_info *si, int *fd, struct pool_conn *pc)
{
	int *dst[MASTER_POOL_FDS] = {fd, &si->channel_fd, &si->auth_fd, &si->relay_fd, &si->keys_fd};
	size_t used = 0;

	if ((size_t)__builtin_popcount(m->fds) != ngot || m->listener >= n ||
	    m->peer_ip[sizeof(m->peer_ip) - 1] || m->local_ip[sizeof(m->local_ip) - 1] ||
	    m->session_id[sizeof(m->session_id) - 1]) {
		for (size_t i = 0; i < ngot; i++)
			close(got[i]);
		return -1;
	}
	for (size_t i = 0; i < MASTER_POOL_FDS; i++) {
		struct stat st;
		*dst[i] = (m->fds & (1u << i)) ? got[used++] : -1;
		pc->fd[i] = *dst[i];
		if (pc->fd[i] >= 0 && fstat(pc->fd[i], &st) == 0) {
			pc->dev[i] = st.st_dev;
			pc->ino[i] = st.st_ino;
		}
	}
	si->listener = &ls[m->listener];
	si->peer_port = m->peer_port;
	si->prelogin_pid = m->prelogin_pid;
	memcpy(si->peer_ip, m->peer_ip, sizeof(si->peer_ip));
	memcpy(si->local_ip, m->local_ip, sizeof(si->local_ip));
	memcpy(si->session_id, m->session_id, sizeof(si->session_id));
	return 0;
}

/* In a reused process: waits for the next connection on ctl. Returns 1 with *si (its
 * pool_fd = ctl), *fd (the client socket or -1) and *pc, 0 when the master ended it
 * (a message of no bytes, or the socket closed) or the process is stopping, -1 on a
 * malformed message (logged). */
static int pool_recv(int ctl, const struct listener *ls, size_t n, struct session_info *si, int *fd,
                     struct pool_conn *pc)
{
	struct pool_msg m;
	int got[MASTER_POOL_FDS];
	size_t ngot = 0;
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * MASTER_POOL_FDS)];
	} cm;
	ssize_t r;

	memset(si, 0, sizeof(*si));
	memset(pc, 0, sizeof(*pc));
	do {
		struct iovec iov = {&m, sizeof(m)};
		struct msghdr mh = {.msg_iov = &iov,
		                    .msg_iovlen = 1,
		                    .msg_control = cm.space,
		                    .msg_controllen = sizeof(cm.space)};
		if (conn_stopping())
			return 0;
		r = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
		if (r >= 0)
			take_fds(&mh, got, &ngot);
		if (r >= 0 && (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
			r = -2;
	} while (r == -1 && errno == EINTR);
	if (r == 0 || (r == -1 && !conn_stopping()) || conn_stopping()) {
		if (r > 0)
			for (size_t i = 0; i < ngot; i++)
				close(got[i]);
		return 0;
	}
	si->pool_fd = ctl;
	if (r != (ssize_t)sizeof(m) || unpack(&m, got, ngot, ls, n, si, fd, pc) < 0) {
		if (r == (ssize_t)sizeof(m) || r == -2)
			log_err("master.pool", "error=\"malformed connection message from the master\"");
		return -1;
	}
	return 1;
}

/* A copy of a process's own channel for one connection (*fd, -1 when none could be
 * made), recorded as pc's descriptor i so that it is closed after the connection. */
static void keep_copy(struct pool_conn *pc, size_t i, int *fd, int chan)
{
	struct stat st;

	*fd = pc->fd[i] = fcntl(chan, F_DUPFD_CLOEXEC, 0);
	if (*fd >= 0 && fstat(*fd, &st) == 0) {
		pc->dev[i] = st.st_dev;
		pc->ino[i] = st.st_ino;
	}
}

/* Closes the descriptors of pc that the connection's code left open. */
static void pool_release(struct pool_conn *pc)
{
	for (size_t i = 0; i < MASTER_POOL_FDS; i++) {
		struct stat st;
		if (pc->fd[i] < 0 || fstat(pc->fd[i], &st) < 0)
			continue;
		if (st.st_dev == pc->dev[i] && st.st_ino == pc->ino[i])
			close(pc->fd[i]);
		pc->fd[i] = -1;
	}
}

int master_session_ask(const struct session_info *si, const char *hint, int *auth_fd, int *relay_fd)
{
	struct pool_ask a;
	struct session_info got;
	struct pool_conn pc;
	int fd = -1;

	*auth_fd = *relay_fd = -1;
	if (si->pool_fd < 0 || here.ls == NULL)
		return -1;
	memset(&a, 0, sizeof(a));
	a.type = MASTER_POOL_ASK;
	if (str_copy(a.hint, sizeof(a.hint), hint) < 0) {
		/* cut to fit: still a hint, of as many connections as before */
	}
	ssize_t sent = send(si->pool_fd, &a, sizeof(a), MSG_NOSIGNAL);
	/* the hint names this peer (a SASL user: a patient's address; a certificate's
	 * fingerprint): this process serves other peers next, whose memory this stack is */
	explicit_bzero(&a, sizeof(a));
	if (sent != (ssize_t)sizeof(a))
		return -1;
	if (pool_recv(si->pool_fd, here.ls, here.n, &got, &fd, &pc) != 1)
		return -1;
	here.asked = pc; /* closed after the connection if its code left them open */
	if (fd >= 0 || got.auth_fd < 0 || got.relay_fd < 0) {
		pool_release(&here.asked); /* none (the master could not), or not what was asked */
		return -1;
	}
	*auth_fd = got.auth_fd;
	*relay_fd = got.relay_fd;
	return 0;
}

void master_reused_last(void)
{
	here.last = true;
}

/* ---- the master's side ---------------------------------------------------------- */

/* Reuse on listeners that allow it (master_set_reuse), and the generation in force. */
static struct {
	unsigned max_use;
	unsigned idle_time;
	unsigned idle_accounts;
	unsigned gen;
} reuse;

void master_set_reuse(unsigned max_use, unsigned idle_time)
{
	reuse.max_use = max_use;
	reuse.idle_time = idle_time;
}

void master_set_account_reuse(unsigned idle_accounts)
{
	reuse.idle_accounts = idle_accounts;
}

void master_retire_reused(void)
{
	reuse.gen++;
}

/* A message of no bytes (read as the end, even while another process still holds a
 * copy of the socket), then the close. */
void master_reused_close(struct child *c)
{
	/* handed out no more: the hint (a SASL user, a certificate's fingerprint) goes */
	memset(c->hint, 0, sizeof(c->hint));
	if (c->tls_chan >= 0) /* the process's own copies end with it */
		close(c->tls_chan);
	if (c->keys_chan >= 0)
		close(c->keys_chan);
	c->tls_chan = c->keys_chan = -1;
	if (c->keys_fd >= 0) /* a connection's, never asked for */
		close(c->keys_fd);
	c->keys_fd = -1;
	for (int i = 0; i < 2; i++) {
		if (c->ctl[i] < 0)
			continue;
		(void)send(c->ctl[i], "", 0, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(c->ctl[i]);
		c->ctl[i] = -1;
		master_watch_changed(); /* master_run's set watched it */
	}
}

bool master_counts(const struct child *c)
{
	/* a pre-login process alone holds its connection's places until its session
	 * process has them (awaiting: per-account session processes) */
	return !c->reused || (c->busy && (!c->alone || c->awaiting));
}

/* A reused process's life: connections from the master, one at a time, until it has
 * served max_use of them, the master ends it, or the daemon stops. Each one runs as in
 * a freshly forked process (run_child), with its own session id in the log, then
 * whatever it left open is closed before the master hears it is done. tls_chan: the
 * process's own TLS key agent channel, given to each connection it runs (-1 without:
 * a session process never signs); keys_chan: its own account key agent channel, of
 * which each connection gets a copy (its store closes it after the connection), -1
 * without. */
static void serve_reused(const struct master_opts *o, struct listener *ls, size_t n, int ctl, bool prelogin,
                         const int *in_hand, int tls_chan, int keys_chan)
{
	struct session_info si;
	struct pool_conn pc;
	int fd;

	master_child_enter(o, ls, n);
	/* the libraries' freed buffers (libetpan's, expat's, libzip's, OpenSSL's) hold this
	 * connection's message for the next one's session otherwise */
	mem_wipe_freed_on();
	here.ls = ls;
	here.n = n;
	for (size_t i = 0; i < MASTER_POOL_FDS; i++)
		here.asked.fd[i] = -1;
	for (int i = 0; i < 2; i++) /* the connection the master is handing out: not here */
		if (in_hand[i] >= 0)
			close(in_hand[i]);
	if (!prelogin && o->privsep != NULL && o->privsep->on)
		privsep_drop_caps(); /* the session process: the daemons' user, nothing more */
	for (unsigned used = 0; used < reuse.max_use; used++) {
		master_session_signals();
		if (pool_recv(ctl, ls, n, &si, &fd, &pc) != 1)
			break;
		if (si.channel_fd < 0) /* not in pc: it stays after the connection */
			si.channel_fd = tls_chan;
		if (si.keys_fd < 0 && keys_chan >= 0) /* in pc: closed after, if left open */
			keep_copy(&pc, MASTER_POOL_FDS - 1, &si.keys_fd, keys_chan);
		log_set_session(si.session_id[0] ? si.session_id : NULL);
		if (prelogin)
			o->prelogin(fd, &si, o->arg);
		else
			o->session(fd, &si, o->arg);
		pool_release(&pc);
		pool_release(&here.asked);
		log_set_session(NULL);
		char done = here.last ? MASTER_POOL_LAST : MASTER_POOL_DONE;
		if (send(ctl, &done, 1, MSG_NOSIGNAL) != 1 || here.last)
			break;
	}
	if (o->reused_end != NULL)
		o->reused_end(o->arg);
	_exit(0);
}

/* The account key agent channel of a reused session process of l for its life, or -1
 * (none, or none made: the callee logged why). A pair reused whole (MASTER_REUSE_PAIR)
 * has one: its session process serves any peer, so its channel binds no account
 * (mss-smtpd's MX: kind mx); so has a session process for one account (fork_account:
 * its channel binds to that account at its first request, as the process itself
 * refuses any other). The agent's lines name it by an id the master draws and logs
 * here with the process. */
static int own_keys_channel(const struct master_opts *o, const struct listener *l,
                            char sid[LOG_SESSION_ID_SIZE])
{
	struct session_info si;

	if (o->keys_channel == NULL || l->reuse == MASTER_REUSE_NONE)
		return -1;
	memset(&si, 0, sizeof(si));
	si.listener = l;
	si.channel_fd = si.auth_fd = si.relay_fd = si.keys_fd = si.pool_fd = -1;
	log_new_session_id(sid);
	str_assert(str_copy(si.session_id, sizeof(si.session_id), sid), "LOG_SESSION_ID_SIZE both");
	return o->keys_channel(&si, o->arg);
}

/* Forks a reused process (pair) for l, idle: both processes, or the pre-login one
 * alone on a listener with MASTER_REUSE_PRELOGIN; in_hand: the client socket and key
 * agent channel of the connection the master holds (it sends them afterwards). The
 * process that runs handshakes gets its TLS key agent channel here, for its life (the
 * master keeps a copy, c->tls_chan). Returns it, or NULL. */
static struct child *fork_reused(const struct master_opts *o, struct master_state *m, struct listener *ls,
                                 size_t n, const struct listener *l, const int *in_hand)
{
	bool two = o->privsep != NULL && o->privsep->on;
	bool alone = two && l->reuse == MASTER_REUSE_PRELOGIN;
	int s0[2], s1[2] = {-1, -1};
	pid_t pre = 0, pid;
	int chan = o->session_channel ? o->session_channel(o->arg) : -1; /* the callee logs */
	int keys = -1;
	char sid[LOG_SESSION_ID_SIZE] = "";

	if (o->session_channel && chan < 0)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s0) < 0)
		goto fail;
	if (alone) {
		pid = fork();
		if (pid == 0) {
			close(s0[0]);
			serve_reused(o, ls, n, s0[1], true, in_hand, chan, -1);
		}
		close(s0[1]);
		if (pid < 0) {
			close(s0[0]);
			goto fail;
		}
		struct child *c = master_add_child(m, pid, 0, l, "");
		c->reused = c->alone = true;
		c->busy = false;
		c->ctl[0] = s0[0];
		c->tls_chan = chan;
		c->gen = reuse.gen;
		return c;
	}
	if (two && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s1) < 0) {
		close(s0[0]);
		close(s0[1]);
		goto fail;
	}
	if (two && (pre = fork()) == 0) {
		close(s0[0]);
		close(s0[1]);
		close(s1[0]);
		serve_reused(o, ls, n, s1[1], true, in_hand, chan, -1);
	}
	if (two)
		close(s1[1]);
	/* made after the pre-login process's fork: the account keys are the session
	 * process's alone */
	keys = pre < 0 ? -1 : own_keys_channel(o, l, sid);
	pid = pre < 0 || (o->keys_channel && keys < 0) ? -1 : fork();
	if (pid == 0) {
		close(s0[0]);
		if (two)
			close(s1[0]);
		if (two && chan >= 0) /* the session process never signs */
			close(chan);
		serve_reused(o, ls, n, s0[1], false, in_hand, two ? -1 : chan, keys);
	}
	close(s0[1]);
	if (pid < 0) {
		close(s0[0]);
		if (s1[0] >= 0)
			close(s1[0]);
		if (pre > 0)
			privsep_signal(pre, SIGKILL);
		goto fail;
	}
	struct child *c = master_add_child(m, pid, pre, l, "");
	c->reused = true;
	c->busy = false;
	c->ctl[0] = s0[0];
	c->ctl[1] = s1[0];
	c->tls_chan = chan;
	c->keys_chan = keys;
	c->gen = reuse.gen;
	if (keys >= 0) /* the name the account key agent's lines give its channel */
		log_info("master.reused", "pid=%ld keys_channel=%s", (long)pid, sid);
	return c;
fail:
	if (chan >= 0)
		close(chan);
	if (keys >= 0)
		close(keys);
	return NULL;
}

/* Whether an agent's end of the channel fd is gone: the agent died (its keeper starts
 * another, whose channels are new ones) or closed it on a refusal. */
static bool hung_up(int fd)
{
	struct pollfd p = {.fd = fd, .events = 0};

	return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

static bool agent_gone(const struct child *c)
{
	return hung_up(c->tls_chan) || hung_up(c->keys_chan);
}

/* An idle reused process (pair) of l that may take one more connection, or NULL. */
static struct child *idle_reused(struct master_state *m, const struct listener *l)
{
	for (size_t i = 0; i < m->nchildren; i++) {
		struct child *c = &m->children[i];
		if (!c->reused || c->account || c->busy || c->listener != l || c->gen != reuse.gen ||
		    c->ctl[0] < 0 || (c->prelogin != 0 && c->ctl[1] < 0) || c->uses >= reuse.max_use)
			continue;
		if (agent_gone(c)) { /* its handshakes would fail: it ends, a new one comes */
			master_reused_close(c);
			continue;
		}
		return c;
	}
	return NULL;
}

/* The session process of one connection to a reused pre-login process alone (fork_pair's
 * second fork): forked here with its ends of the connection's socketpairs (sess), and
 * recorded as a child whose pre-login process is pre. Returns 0, or -1 (none forked). */
static int fork_session(const struct master_opts *o, struct master_state *m, struct listener *ls, size_t n,
                        int fd, const struct session_info *sess, const int *theirs, pid_t pre)
{
	pid_t pid = fork();

	if (pid == 0) {
		close(fd); /* the session process never sees the client's bytes unrelayed */
		if (sess->channel_fd >= 0)
			close(sess->channel_fd);
		for (int i = 0; i < 2; i++)
			close(theirs[i]);
		struct session_info own = *sess;
		own.channel_fd = -1;
		log_set_session(own.session_id);
		master_run_child(o, ls, n, -1, &own);
	}
	if (pid < 0)
		return -1;
	struct child *c = master_add_child(m, pid, pre, sess->listener, sess->peer_ip);
	memcpy(c->session_id, sess->session_id, sizeof(c->session_id)); /* its pre-login process's too */
	return 0;
}

/* The descriptors of one connection, for a reused process (pair) as fork_pair makes
 * them for fresh ones, and for a pre-login process alone its connection's new session
 * process; sent, then closed here. c may move (a child added): *c is updated. Returns
 * 0 or -1. */
static int send_conn(const struct master_opts *o, struct master_state *m, struct child **c,
                     struct listener *ls, size_t n, int fd, struct session_info *si)
{
	int ach[2], rel[2], rc = -1;
	char sid[LOG_SESSION_ID_SIZE];
	size_t at = (size_t)(*c - m->children);

	log_new_session_id(sid);
	str_assert(str_copy(si->session_id, sizeof(si->session_id), sid), "LOG_SESSION_ID_SIZE both");
	if ((*c)->alone) /* which connection it runs (master.c, a session process's end) */
		memcpy((*c)->session_id, si->session_id, sizeof((*c)->session_id));
	if ((*c)->alone && reuse.idle_accounts > 0) {
		/* the session process comes when the pre-login process asks (attach_session):
		 * what that needs of the connection is kept (its account key agent channel is
		 * the session process's own, fork_account: refused now if it cannot be) */
		if (o->keys_gone && o->keys_gone(o->arg))
			return -1;
		memcpy((*c)->local_ip, si->local_ip, sizeof((*c)->local_ip));
		(*c)->peer_port = si->peer_port;
		return pool_send((*c)->ctl[0], si, fd, ls);
	}
	/* a pair reused whole has its own for its life (own_keys_channel) */
	if (o->keys_channel && (*c)->keys_chan < 0 && (si->keys_fd = o->keys_channel(si, o->arg)) < 0)
		return -1;
	if ((*c)->prelogin == 0 && !(*c)->alone) {
		rc = pool_send((*c)->ctl[0], si, fd, ls);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ach) < 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rel) < 0) {
		close(ach[0]);
		close(ach[1]);
		goto out;
	}
	pid_t pre_pid = (*c)->alone ? (*c)->pid : (*c)->prelogin;
	struct session_info pre = *si, sess = *si;
	pre.keys_fd = -1; /* the account keys are the session process's alone */
	pre.auth_fd = ach[1];
	pre.relay_fd = rel[1];
	sess.channel_fd = -1;
	sess.auth_fd = ach[0];
	sess.relay_fd = rel[0];
	sess.prelogin_pid = (long)pre_pid;
	if ((*c)->alone) {
		int theirs[2] = {ach[1], rel[1]};
		sess.channel_fd = si->channel_fd; /* closed in the session process */
		rc = fork_session(o, m, ls, n, fd, &sess, theirs, pre_pid);
		*c = &m->children[at];
		rc = rc == 0 ? pool_send((*c)->ctl[0], &pre, fd, ls) : -1;
	} else {
		rc = pool_send((*c)->ctl[1], &pre, fd, ls) == 0 && pool_send((*c)->ctl[0], &sess, -1, ls) == 0
		         ? 0
		         : -1;
	}
	for (int i = 0; i < 2; i++) {
		close(ach[i]);
		close(rel[i]);
	}
out:
	if (si->keys_fd >= 0)
		close(si->keys_fd);
	si->keys_fd = -1;
	return rc;
}

int master_reused_take(const struct master_opts *o, struct master_state *m, struct listener *ls, size_t n,
                       int fd, struct session_info *si)
{
	struct child *c = idle_reused(m, si->listener);
	int in_hand[2] = {fd, si->channel_fd};

	if (c == NULL)
		c = fork_reused(o, m, ls, n, si->listener, in_hand);
	if (c == NULL) {
		log_err("fork_failed", "error=\"%s\"", strerror(errno));
		return -1;
	}
	if (send_conn(o, m, &c, ls, n, fd, si) < 0) {
		log_err("master.pool", "pid=%ld error=\"cannot hand the connection over\" action=ended",
		        (long)c->pid);
		master_reused_close(c);
		return -1;
	}
	c->busy = true;
	c->pending = c->prelogin > 0 ? 2 : 1;
	c->uses++;
	/* alone: its session process holds the address's place, or the pre-login process
	 * itself until it asks for one (awaiting) */
	c->awaiting = c->alone && reuse.idle_accounts > 0;
	c->asked = false;
	str_assert(str_copy(c->ip, sizeof c->ip, si->peer_ip), "ip and peer_ip are both 64 bytes");
	return 0;
}

/* Whether an idle reused process's socket is quiet: one that died (its death not
 * reaped yet: the master reads requests before it reaps within one round of its loop)
 * has hung up, and one that speaks while idle breaks the protocol. */
static bool quiet(const struct child *c)
{
	struct pollfd p = {.fd = c->ctl[0], .events = POLLIN};

	return poll(&p, 1, 0) == 0;
}

/* An idle session process of l handed out before for hint, that may take one more
 * connection, or NULL. One found dead is closed, so that its account's connection gets
 * a fresh one instead of a temporary failure. */
static struct child *idle_account(struct master_state *m, const struct listener *l, const char *hint)
{
	for (size_t i = 0; i < m->nchildren; i++) {
		struct child *c = &m->children[i];
		if (!(c->account && !c->busy && c->listener == l && c->gen == reuse.gen && c->ctl[0] >= 0 &&
		      c->uses < reuse.max_use && strcmp(c->hint, hint) == 0))
			continue;
		if (quiet(c) && !agent_gone(c))
			return c;
		master_reused_close(c); /* dead, or its key agent channel is (a new one comes) */
	}
	return NULL;
}

/* A session process for one account, forked idle with its socket to the master
 * (serve_reused) and its account key agent channel for its life (own_keys_channel;
 * the master keeps a copy, c->keys_chan, to see the agent's end hang up). Returns it
 * (m->children may have moved), or NULL (an agent that made no channel: logged). */
static struct child *fork_account(const struct master_opts *o, struct master_state *m, struct listener *ls,
                                  size_t n, const struct listener *l)
{
	int s0[2];
	const int none[2] = {-1, -1};
	char sid[LOG_SESSION_ID_SIZE] = "";
	int keys = own_keys_channel(o, l, sid);

	if (o->keys_channel && keys < 0)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s0) < 0)
		goto fail;
	pid_t pid = fork();
	if (pid == 0) {
		close(s0[0]);
		serve_reused(o, ls, n, s0[1], false, none, -1, keys);
	}
	close(s0[1]);
	if (pid < 0) {
		close(s0[0]);
		goto fail;
	}
	struct child *c = master_add_child(m, pid, 0, l, "");
	c->reused = c->account = true;
	c->busy = false;
	c->ctl[0] = s0[0];
	c->keys_chan = keys;
	c->gen = reuse.gen;
	if (keys >= 0) /* the name the account key agent's lines give its channel */
		log_info("master.reused", "pid=%ld keys_channel=%s", (long)pid, sid);
	return c;
fail:
	if (keys >= 0)
		close(keys);
	return NULL;
}

/* Sends the pre-login process *pre its half of the connection's channels (auth, relay;
 * both -1: there is no session process for it). Returns 0 or -1. */
static int answer_ask(const struct child *pre, struct listener *ls, int auth_fd, int relay_fd)
{
	struct session_info si;

	memset(&si, 0, sizeof(si));
	si.listener = pre->listener;
	si.channel_fd = si.keys_fd = -1;
	si.auth_fd = auth_fd;
	si.relay_fd = relay_fd;
	return pool_send(pre->ctl[0], &si, -1, ls);
}

/* The session process of the connection the pre-login process at children[at] runs,
 * for hint: an idle one handed out for the same hint, else a fresh one; it gets the
 * connection's channels (authentication, relay, account keys) as fork_pair's second
 * process would, and the pre-login process its ends. The session process then holds
 * the connection's places. Returns 0, or -1 (the pre-login process was told none). */
static int attach_session(const struct master_opts *o, struct master_state *m, struct listener *ls, size_t n,
                          size_t at, const char *hint)
{
	struct child *pre = &m->children[at];
	struct session_info sess;
	int ach[2] = {-1, -1}, rel[2] = {-1, -1}, rc = -1;

	memset(&sess, 0, sizeof(sess));
	sess.listener = pre->listener;
	sess.peer_port = pre->peer_port;
	memcpy(sess.peer_ip, pre->ip, sizeof(sess.peer_ip));
	memcpy(sess.local_ip, pre->local_ip, sizeof(sess.local_ip));
	memcpy(sess.session_id, pre->session_id, sizeof(sess.session_id));
	sess.channel_fd = sess.keys_fd = -1;
	sess.prelogin_pid = (long)pre->pid;
	struct child *c = idle_account(m, pre->listener, hint);
	size_t ci = 0;
	if (c == NULL && (c = fork_account(o, m, ls, n, pre->listener)) == NULL)
		log_err("fork_failed", "error=\"%s\"", strerror(errno));
	else
		ci = (size_t)(c - m->children);
	pre = &m->children[at];
	/* the session process has its account key agent channel for its life (fork_account) */
	if (c == NULL || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ach) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rel) < 0)
		goto out;
	c = &m->children[ci];
	sess.auth_fd = ach[0];
	sess.relay_fd = rel[0];
	if (pool_send(c->ctl[0], &sess, -1, ls) < 0) {
		master_reused_close(c);
		goto out;
	}
	c->busy = true;
	c->pending = 1;
	c->uses++;
	c->prelogin = pre->pid;
	memcpy(c->session_id, pre->session_id, sizeof(c->session_id));
	memcpy(c->ip, pre->ip, sizeof(c->ip));
	str_assert(str_copy(c->hint, sizeof(c->hint), hint), "both MASTER_HINT_MAX, checked on receipt");
	pre->awaiting = false; /* the session process holds the places from now on */
	rc = 0;
out:
	if (answer_ask(pre, ls, rc == 0 ? ach[1] : -1, rc == 0 ? rel[1] : -1) < 0)
		master_reused_close(pre);
	for (int i = 0; i < 2; i++) {
		if (ach[i] >= 0)
			close(ach[i]);
		if (rel[i] >= 0)
			close(rel[i]);
	}
	return rc;
}

/* How many session processes for one account wait between connections. */
static unsigned idle_accounts(const struct master_state *m)
{
	unsigned k = 0;

	for (size_t i = 0; i < m->nchildren; i++)
		k += m->children[i].account && !m->children[i].busy && m->children[i].ctl[0] >= 0;
	return k;
}

/* A connection's end in children[at]: once every process of the pair has said so, it
 * waits for the next one, or ends when it may serve no more (last: one of them said
 * it ends; or, a session process for one account, when idle_accounts of them already
 * wait). */
static void reused_done(struct master_state *m, size_t at, bool last)
{
	struct child *c = &m->children[at];

	c->last |= last;
	if (--c->pending > 0)
		return;
	c->busy = false;
	c->awaiting = false;
	c->ip[0] = '\0';
	if (c->keys_fd >= 0) /* the connection ended before it asked for its session process */
		close(c->keys_fd);
	c->keys_fd = -1;
	c->idle_since = time(NULL);
	if (c->account)
		c->prelogin = 0; /* that pre-login process's end is no longer this one's */
	if (c->last || c->uses >= reuse.max_use || c->gen != reuse.gen ||
	    (c->account && idle_accounts(m) > reuse.idle_accounts))
		master_reused_close(c);
}

/* A reused process said something on its socket k: its connection ended, or (a
 * pre-login process alone, awaiting its session process) it asks for the session
 * process, once per connection. Anything else, or its going away, ends it: a
 * pre-login process is not believed beyond that, and what it names is a hint. */
static void reused_said(const struct master_opts *o, struct master_state *m, struct listener *ls, size_t n,
                        size_t at, int k)
{
	struct child *c = &m->children[at];
	struct pool_ask a;
	ssize_t r = recv(c->ctl[k], &a, sizeof(a), MSG_DONTWAIT | MSG_TRUNC);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r == 1 && (a.type == MASTER_POOL_DONE || a.type == MASTER_POOL_LAST) && c->busy &&
	    c->pending > 0) {
		reused_done(m, at, a.type == MASTER_POOL_LAST);
		return;
	}
	if (r == (ssize_t)sizeof(a) && a.type == MASTER_POOL_ASK && c->alone && c->busy && c->awaiting &&
	    !c->asked && memchr(a.hint, '\0', sizeof(a.hint)) != NULL) {
		c->asked = true;
		(void)attach_session(o, m, ls, n, at, a.hint);
		return;
	}
	master_reused_close(c); /* gone, or not speaking the protocol: ends */
}

void master_reused_tick(struct master_state *m)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < m->nchildren; i++) {
		struct child *c = &m->children[i];
		if (c->reused && !c->busy &&
		    (c->gen != reuse.gen || now - c->idle_since >= (time_t)reuse.idle_time))
			master_reused_close(c);
	}
}

size_t master_reused_watch(const struct master_state *m, const struct pollfd *pfd, size_t np,
                           struct pollfd **all, size_t *cap)
{
	size_t k = np;

	if (*cap < np + 2 * m->nchildren) {
		*cap = np + 2 * m->nchildren + 16;
		*all = xrealloc(*all, *cap * sizeof(**all));
	}
	memcpy(*all, pfd, np * sizeof(*pfd));
	for (size_t i = 0; i < m->nchildren; i++)
		for (int j = 0; j < 2; j++)
			if (m->children[i].reused && m->children[i].ctl[j] >= 0) {
				(*all)[k].fd = m->children[i].ctl[j];
				(*all)[k].events = POLLIN;
				(*all)[k++].revents = 0;
			}
	return k;
}

/* The reused process whose socket fd has something to say (the children may have
 * moved since the poll: a session process forked, so it is looked up anew). */
static void heard_on(const struct master_opts *o, struct master_state *m, struct listener *ls, size_t nls,
                     int fd)
{
	for (size_t c = 0; c < m->nchildren; c++)
		for (int j = 0; j < 2; j++)
			if (m->children[c].ctl[j] == fd) {
				reused_said(o, m, ls, nls, c, j);
				return;
			}
}

void master_reused_heard(const struct master_opts *o, struct master_state *m, struct listener *ls, size_t nls,
                         const struct pollfd *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i].revents)
			heard_on(o, m, ls, nls, p[i].fd);
}

bool master_reused_on(const struct master_opts *o, const struct listener *l)
{
	bool two = o->privsep != NULL && o->privsep->on;

	/* without privilege separation there is no pre-login process to reuse alone, and
	 * the one process of a connection is its session's */
	if (l->reuse == MASTER_REUSE_PRELOGIN && !two)
		return false;
	return l->reuse != MASTER_REUSE_NONE && reuse.max_use > 1;
}
