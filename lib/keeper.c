/* keeper.c: a helper process started again when it dies (see keeper.h). */
#include "lib/keeper.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

/* Once the master is gone, how long a helper has to end after stop_signal (the audit
 * signer's final checkpoint takes up to 20 s, audit_signer_finish) before SIGKILL. */
#define KEEPER_STOP_WAIT_S 30

/* The keepers this process forked (the daemons fork at most five). */
#define KEEPERS_MAX 8
static struct {
	pid_t pid;
	const char *name;
} keepers[KEEPERS_MAX];

static unsigned restarts;

const char *keeper_of(pid_t pid)
{
	for (size_t i = 0; i < KEEPERS_MAX; i++)
		if (pid > 0 && keepers[i].pid == pid)
			return keepers[i].name;
	return NULL;
}

unsigned keeper_restarts(void)
{
	return restarts;
}

static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* The signals the keeper ignores, and what the helper gets back. */
static const int quiet[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE};
#define NQUIET (sizeof(quiet) / sizeof(quiet[0]))

struct saved {
	sigset_t mask;
	struct sigaction act[NQUIET];
	struct sigaction chld;
};

/* In the new helper: the caller's signal state back, and the keeper's end followed. */
static void helper_enter(const struct keeper *k, const struct saved *s)
{
	pid_t keeper = getppid();

	for (size_t i = 0; i < NQUIET; i++)
		sigaction(quiet[i], &s->act[i], NULL);
	sigaction(SIGCHLD, &s->chld, NULL);
	sigprocmask(SIG_SETMASK, &s->mask, NULL);
	if (k->stop_signal != 0) {
		prctl(PR_SET_PDEATHSIG, k->stop_signal);
		if (getppid() != keeper)
			raise(k->stop_signal);
	}
}

/* Waits for the helper pid to end and returns its status. Once the master is gone:
 * stop_signal, then SIGKILL after KEEPER_STOP_WAIT_S. */
static int wait_helper(const struct keeper *k, pid_t pid, pid_t master)
{
	sigset_t chld;
	struct timespec one = {1, 0};
	int64_t stop_at = 0;
	int status = 0;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return status;
		if (stop_at == 0 && getppid() != master) {
			stop_at = now_s() + KEEPER_STOP_WAIT_S;
			if (k->stop_signal != 0)
				kill(pid, k->stop_signal);
		} else if (stop_at != 0 && now_s() >= stop_at) {
			kill(pid, SIGKILL);
		}
		/* SIGCHLD is blocked: one that came since waitpid is pending and ends this at once */
		(void)sigtimedwait(&chld, NULL, &one);
	}
}

/* Sleeps seconds, looking at the master each second. Returns false once it is gone. */
static bool pause_while_master(unsigned seconds, pid_t master)
{
	for (unsigned i = 0; i < seconds; i++) {
		if (getppid() != master)
			return false;
		sleep(1);
	}
	return getppid() == master;
}

static void log_ended(const struct keeper *k, pid_t pid, int status, unsigned pause)
{
	if (pid < 0)
		log_err("child.ended", "name=%s error=\"cannot fork: %s\" restart_in=%u", k->name,
		        strerror(errno), pause);
	else if (WIFSIGNALED(status))
		log_err("child.ended", "name=%s pid=%ld signal=%d restart_in=%u", k->name, (long)pid,
		        WTERMSIG(status), pause);
	else
		log_err("child.ended", "name=%s pid=%ld status=%d restart_in=%u", k->name, (long)pid,
		        WIFEXITED(status) ? WEXITSTATUS(status) : -1, pause);
}

/* The keeper's loop; returns only in a helper it forked. */
static void keeper_loop(const struct keeper *k, pid_t master)
{
	struct saved s;
	sigset_t chld;
	unsigned pause = 1;

	prctl(PR_SET_NAME, k->title);
	if (k->keep >= 0) {
		closelog(); /* reopened at the next line logged */
		if (k->keep > 3)
			close_range(3, (unsigned)k->keep - 1, 0);
		close_range((unsigned)k->keep + 1, ~0U, 0);
	}
	for (size_t i = 0; i < NQUIET; i++) {
		struct sigaction ign;
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		sigaction(quiet[i], &ign, &s.act[i]);
	}
	{
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGCHLD, &dfl, &s.chld);
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &s.mask);
	if (getppid() != master)
		_exit(0);
	for (;;) {
		int64_t started = now_s();
		pid_t pid = fork();
		if (pid == 0) {
			helper_enter(k, &s);
			return;
		}
		if (pid > 0 && restarts > 0) {
			log_info("child.restarted", "name=%s pid=%ld restarts=%u", k->name, (long)pid,
			         restarts);
			kill(master, SIGUSR2); /* its channels to the helper that died are dead */
		}
		int status = pid > 0 ? wait_helper(k, pid, master) : 0;
		if (getppid() != master)
			_exit(0);
		if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			_exit(0); /* done as asked (the final checkpoint, the master's sockets closed) */
		/* a helper that lived a while starts again after a second */
		if (now_s() - started >= (int64_t)k->pause_max)
			pause = 1;
		log_ended(k, pid, status, pause);
		if (!pause_while_master(pause, master))
			_exit(0);
		pause = pause * 2 > k->pause_max ? k->pause_max : pause * 2;
		restarts++;
	}
}

pid_t keeper_fork(const struct keeper *k)
{
	pid_t master = getpid();
	struct sigaction was;

	/* SIGUSR2 would end a caller that has no use for it (mssctl, a daemon before
	 * master_run handles it) */
	if (sigaction(SIGUSR2, NULL, &was) == 0 && was.sa_handler == SIG_DFL)
		signal(SIGUSR2, SIG_IGN);
	pid_t pid = fork();

	for (size_t i = 0; pid > 0 && i < KEEPERS_MAX; i++)
		if (keepers[i].pid == 0) {
			keepers[i].pid = pid;
			keepers[i].name = k->name;
			break;
		}
	if (pid != 0)
		return pid;
	keeper_loop(k, master);
	return 0;
}
