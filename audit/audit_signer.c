/* audit_signer.c: the process that holds the audit key (see audit.h, "Signing").
 *
 * Forked by a daemon's master or by mssctl before they drop privileges, so it keeps
 * the identity they started with (root in production) while everything else runs as
 * the daemons' user, who cannot read keys/audit.key. Writers only tell it "record N
 * exists" over a datagram socketpair; it reads the committed log itself and signs
 * what chains from the last head it signed (audit_sign.c). Nothing a writer sends is
 * signed: a notice is a fixed 16-byte message, checked on receipt; a malformed one is
 * dropped, logged with the sender's pid (SO_PASSCRED: the kernel's word, not the
 * sender's) and that sender is ended. */
#include "audit/audit.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/keeper.h"
#include "lib/log.h"
#include "lib/str.h"
#include "audit/audit_chain.h"
#include "store/store.h"

#define SIGNER_MAGIC 0x4d534153u /* "MSAS" */
#define SIGNER_VERSION 1
#define SIGNER_NOTIFY 1
#define SIGNER_FINAL 2
#define SIGNER_MSG_LEN 16
#define SIGNER_RECHECK_MS 300 /* a record inside a transaction commits soon after its notice */
#define SIGNER_RECHECK_FOR_MS 3000
#define SIGNER_FINISH_WAIT_MS 20000

struct signer_msg {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	int64_t seq;
};
_Static_assert(sizeof(struct signer_msg) == SIGNER_MSG_LEN, "signer message has no padding");

static int signer_fd = -1; /* the writers' end, inherited by every session */
static pid_t signer_pid = -1;
static volatile sig_atomic_t signer_final;

static void send_msg(uint16_t type, int64_t seq, int flags)
{
	struct signer_msg m = {SIGNER_MAGIC, SIGNER_VERSION, type, seq};
	if (signer_fd < 0)
		return;
	/* Never blocks a delivery: a full queue means the signer has notices waiting, and
	 * it looks again after each. */
	if (send(signer_fd, &m, sizeof m, flags | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
		log_warn("audit.signer_unreachable", "error=\"%s\"", strerror(errno));
}

void audit_signer_notify(int64_t seq)
{
	send_msg(SIGNER_NOTIFY, seq, MSG_DONTWAIT);
}

void audit_signer_forget(void)
{
	if (signer_fd >= 0)
		close(signer_fd);
	signer_fd = -1;
	signer_pid = -1;
}

static void on_final(int sig)
{
	(void)sig;
	signer_final = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One datagram: 1 for a notice (seq raised), 2 for the final request, 0 when none is
 * left, -1 for a malformed one (logged, its sender ended). */
static int receive_one(int fd, int64_t *want)
{
	struct signer_msg m;
	unsigned char extra[SIGNER_MSG_LEN + 1];
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {extra, sizeof extra};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return 0;
	pid_t from = 0;
	int passed_fd = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cr;
			memcpy(&cr, CMSG_DATA(c), sizeof cr);
			from = cr.pid;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			passed_fd = 1;
			int bad;
			memcpy(&bad, CMSG_DATA(c), sizeof bad);
			close(bad);
		}
	}
	memcpy(&m, extra, sizeof m < (size_t)n ? sizeof m : (size_t)n);
	const char *why = NULL;
	if (n != SIGNER_MSG_LEN || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		why = "wrong length";
	else if (passed_fd)
		why = "carries a descriptor";
	else if (m.magic != SIGNER_MAGIC || m.version != SIGNER_VERSION)
		why = "not a signer message";
	else if ((m.type != SIGNER_NOTIFY && m.type != SIGNER_FINAL) || m.seq < 0)
		why = "unknown type or record";
	if (why) {
		log_warn("audit.signer_refused", "pid=%ld bytes=%zd error=\"%s\"", (long)from, n, why);
		if (from > 1 && from != getpid())
			kill(from, SIGKILL);
		return -1;
	}
	if (m.seq > *want)
		*want = m.seq;
	return m.type == SIGNER_FINAL ? 2 : 1;
}

struct signer_loop {
	const struct mss_config *cfg;
	struct store *st;
	int64_t want;         /* highest record a writer named */
	int64_t signed_upto;  /* last head signed */
	int64_t recheck_till; /* look again until then (ms) */
	char last_err[256];   /* the last refusal logged, so a refused log is named once */
};

static void sign_now(struct signer_loop *l, int final)
{
	char err[256];
	int64_t seq = 0;
	if (l->st == NULL) {
		l->st = store_open_nokeys(l->cfg, err, sizeof err);
		if (l->st == NULL) { /* logged once per cause: tried again each idle second */
			if (strcmp(err, l->last_err) != 0)
				log_err("audit.sign_failed", "error=\"%s\"", err);
			str_error(l->last_err, sizeof l->last_err, "%s", err);
			return;
		}
	}
	if (audit_sign(l->st, final, &seq, err, sizeof err) != 0) {
		if (strcmp(err, l->last_err) != 0)
			log_err("audit.sign_refused", "error=\"%s\"", err);
		str_error(l->last_err, sizeof l->last_err, "%s", err);
		return;
	}
	l->last_err[0] = '\0';
	l->signed_upto = seq;
}

/* Whether the committed log goes past the last head signed: a notice is only a hint.
 * One can be lost (a writer never waits for a full queue) for a record that commits
 * after the signer last read the log, and no other notice may follow for a long time;
 * so each idle second the signer reads the log's tail (one indexed read), and the
 * promise "signed within a second or two" does not rest on notices. */
static bool unsigned_committed(struct signer_loop *l)
{
	char err[256];
	int64_t tail = 0;

	if (l->st == NULL)
		return true; /* sign_now opens the store (and logs why it cannot) */
	if (audit_tail_seq(l->st, &tail, err, sizeof err) != 0)
		return false; /* the next notice or tick tries again */
	return tail > l->signed_upto;
}

/* parent: its keeper (lib/keeper.h), root like it, which ends once the master is gone
 * and sends SIGUSR1 first. The loop also looks at its parent each turn (at most a
 * second apart): a master that stops on a start-up error leaves no root orphan behind. */
static void signer_loop(int fd, const struct mss_config *cfg, pid_t parent)
{
	struct signer_loop l = {.cfg = cfg};
	struct pollfd p = {fd, POLLIN, 0};

	/* started again (lib/keeper.h): the records committed while no signer ran are
	 * signed now, not at the next notice */
	if (keeper_restarts() > 0)
		sign_now(&l, 0);

	while (!signer_final && getppid() == parent) {
		int64_t now = now_ms();
		int timeout = l.recheck_till > now ? SIGNER_RECHECK_MS : 1000;
		int r = poll(&p, 1, timeout);
		int got = 0, final = 0, rc;
		if (r > 0)
			while ((rc = receive_one(fd, &l.want)) != 0) {
				got |= rc > 0;
				final |= rc == 2;
			}
		if (final)
			break;
		if (got)
			l.recheck_till = now_ms() + SIGNER_RECHECK_FOR_MS;
		if (got || (r == 0 && l.recheck_till > now && l.want > l.signed_upto))
			sign_now(&l, 0);
		else if (r == 0 && unsigned_committed(&l))
			sign_now(&l, 0);
		if (l.want <= l.signed_upto && !got)
			l.recheck_till = 0;
	}
	sign_now(&l, 1);
	store_close(l.st);
}

/* In the child: only the channel, stdio (the log when -d) and syslog's socket. */
static void close_others(int keep)
{
	closelog(); /* reopened on the next line logged */
	if (keep > 3)
		close_range(3, (unsigned)keep - 1, 0);
	close_range((unsigned)keep + 1, ~0U, 0);
}

int audit_signer_start(const struct mss_config *cfg, char *err, size_t errlen)
{
	int sv[2];
	int one = 1;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
		str_error(err, errlen, "audit signer: socketpair: %s", strerror(errno));
		return -1;
	}
	/* restarted when it dies (a failed WAL sync ends it on purpose, sql_sqlite_sync.c):
	 * by a keeper, since the master that drops to the daemons' user could not */
	struct keeper k = {"audit-signer", "mss-audit-keep", SIGUSR1, cfg->child_restart_max, sv[0]};
	pid_t pid = keeper_fork(&k);
	if (pid < 0) {
		str_error(err, errlen, "audit signer: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[1]);
		close_others(sv[0]);
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_final;
		sigaction(SIGUSR1, &sa, NULL);
		/* SIGTERM to the process group reaches the sessions first: the signer waits
		 * for the master's final request (or the master's end) to seal the log. */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGCHLD, SIG_DFL);
		/* its parent is its keeper, which ends once the master is gone */
		pid_t parent = getppid();
		prctl(PR_SET_PDEATHSIG, SIGUSR1);
		if (getppid() != parent)
			signer_final = 1;
		prctl(PR_SET_NAME, "mss-audit-sign");
		signer_loop(sv[0], cfg, parent);
		_exit(0);
	}
	close(sv[0]);
	signer_fd = sv[1];
	signer_pid = pid;
	return 0;
}

void audit_signer_finish(void)
{
	if (signer_pid <= 0)
		return;
	send_msg(SIGNER_FINAL, 0, 0);
	pid_t pid = signer_pid;
	audit_signer_forget();
	for (int waited = 0; waited < SIGNER_FINISH_WAIT_MS; waited += 50) {
		pid_t r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return;
		usleep(50000);
	}
	log_err("audit.sign_failed", "error=\"the signer did not finish in time\"");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
