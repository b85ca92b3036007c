/* relay_pool.c: the queue process's delivery workers (relay_pool.h). */
#include "smtpd/relay_pool.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/fd_io.h"
#include "lib/log.h"
#include "lib/str.h"

void relay_pool_init(struct relay_pool *p, unsigned max, unsigned per_domain, const struct relay_chans *w,
                     int own_keys)
{
	p->n = w->n == 0 ? 1 : (max < w->n ? max : w->n);
	p->per_domain = per_domain ? per_domain : 1;
	p->slot = calloc(p->n, sizeof *p->slot);
	if (p->slot == NULL)
		abort();
	for (size_t i = 0; i < p->n; i++) {
		p->slot[i].ctl = -1;
		p->slot[i].chan = w->n == 0 ? -1 : w->tls[i];
		p->slot[i].keys = w->n == 0 ? own_keys : w->keys[i];
	}
	if (w->n < max)
		log_warn("relay.workers", "wanted=%u channels=%zu action=fewer-workers", max, w->n);
}

void relay_pool_set_reuse(struct relay_pool *p, unsigned seconds)
{
	p->reuse_ms = seconds * 1000u;
}

void relay_pool_set_done(struct relay_pool *p,
                         void (*fn)(void *arg, const void *job, size_t len, const char *why), void *arg)
{
	p->done = fn;
	p->done_arg = arg;
}

/* Slot s's batch ended (why): handed to the done callback, then forgotten. */
static void batch_done(struct relay_pool *p, struct relay_slot *s, const char *why)
{
	if (s->job != NULL && p->done != NULL)
		p->done(p->done_arg, s->job, s->job_len, why);
	free(s->job);
	s->job = NULL;
	s->job_len = 0;
}

/* Keeps a copy of the batch given to slot s. */
static void batch_keep(struct relay_slot *s, const void *job, size_t len)
{
	free(s->job);
	s->job = malloc(len);
	if (s->job == NULL)
		abort();
	memcpy(s->job, job, len);
	s->job_len = len;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The worker ends after its batch (busy) or now (idle: it reads EOF, QUITs, exits). */
static void end_worker(struct relay_slot *s)
{
	if (s->ctl >= 0)
		close(s->ctl);
	s->ctl = -1;
	s->idle = false;
}

size_t relay_pool_busy(const struct relay_pool *p)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		k += p->slot[i].pid > 0 && !p->slot[i].idle;
	return k;
}

size_t relay_pool_running(const struct relay_pool *p, const char *domain)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->slot[i].pid > 0 && (domain == NULL || strcmp(p->slot[i].domain, domain) == 0))
			k++;
	return k;
}

static void ended(struct relay_pool *p, pid_t pid, int status)
{
	char why[128];
	for (size_t i = 0; i < p->n; i++) {
		if (p->slot[i].pid != pid)
			continue;
		p->slot[i].pid = 0;
		end_worker(&p->slot[i]);
		if (WIFSIGNALED(status))
			log_warn("relay.worker", "pid=%ld domain=%s result=ended signal=%d", (long)pid,
			         p->slot[i].domain, WTERMSIG(status));
		else if (WEXITSTATUS(status) != 0)
			log_warn("relay.worker", "pid=%ld domain=%s result=ended status=%d", (long)pid,
			         p->slot[i].domain, WEXITSTATUS(status));
		/* what it claimed and did not record is given back (a deferral, flushable) */
		if (WIFSIGNALED(status))
			str_error(why, sizeof why, "local: the delivery worker ended on signal %d",
			          WTERMSIG(status));
		else
			str_error(why, sizeof why, "local: the delivery worker ended (status %d)",
			          WEXITSTATUS(status));
		batch_done(p, &p->slot[i], why);
		return;
	}
}

void relay_pool_reap(struct relay_pool *p, bool block)
{
	int status;
	pid_t pid;
	bool wait_one = block && relay_pool_running(p, NULL) > 0;
	while ((pid = waitpid(-1, &status, wait_one ? 0 : WNOHANG)) != 0) {
		if (pid < 0) {
			if (errno == EINTR)
				continue; /* SIGHUP: the caller finishes the round all the same */
			return;
		}
		ended(p, pid, status);
		wait_one = false; /* then whatever else already ended */
	}
}

bool relay_pool_free_slot(struct relay_pool *p, const char *domain, size_t *slot)
{
	struct relay_slot *oldest = NULL;
	for (size_t i = 0; i < p->n; i++) {
		if (p->slot[i].idle && strcmp(p->slot[i].domain, domain) == 0) {
			*slot = i;
			return true;
		}
	}
	if (relay_pool_running(p, domain) >= p->per_domain)
		return false;
	for (size_t i = 0; i < p->n; i++) {
		if (p->slot[i].pid == 0) {
			*slot = i;
			return true;
		}
		if (p->slot[i].idle && (oldest == NULL || p->slot[i].idle_since < oldest->idle_since))
			oldest = &p->slot[i];
	}
	/* every slot taken: another domain's idle connection makes room (reaped later) */
	if (oldest != NULL)
		end_worker(oldest);
	return false;
}

/* The batch to an idle worker: its length, then its bytes. */
static int give(struct relay_slot *s, const void *job, size_t len)
{
	s->idle = false;
	batch_keep(s, job, len);
	if (fd_write_all(s->ctl, &len, sizeof len) < 0 || fd_write_all(s->ctl, job, len) < 0) {
		log_warn("relay.reuse", "pid=%ld domain=%s result=failed error=\"worker gone\"", (long)s->pid,
		         s->domain);
		end_worker(s);
		free(s->job); /* the batch stays the caller's */
		s->job = NULL;
		return -1;
	}
	return 0;
}

size_t relay_pool_next(int ctl, void **job)
{
	size_t len = 0;
	*job = NULL;
	if (ctl < 0 || fd_write_all(ctl, "i", 1) < 0 || fd_read_exact(ctl, &len, sizeof len) < 0 || len == 0)
		return 0;
	*job = malloc(len);
	if (*job == NULL)
		abort();
	if (fd_read_exact(ctl, *job, len) < 0) {
		free(*job);
		*job = NULL;
		return 0;
	}
	return len;
}

size_t relay_pool_watch(const struct relay_pool *p, struct pollfd *fds, size_t max, int *timeout_ms)
{
	size_t k = 0;
	int64_t now = now_ms();
	for (size_t i = 0; i < p->n; i++) {
		const struct relay_slot *s = &p->slot[i];
		if (s->pid > 0 && s->ctl >= 0 && !s->idle && k < max)
			fds[k++] = (struct pollfd){.fd = s->ctl, .events = POLLIN};
		if (s->idle) {
			int64_t left = s->idle_since + p->reuse_ms - now;
			if (left < *timeout_ms)
				*timeout_ms = left > 0 ? (int)left : 0;
		}
	}
	return k;
}

void relay_pool_update(struct relay_pool *p, const struct pollfd *fds, size_t n)
{
	int64_t now = now_ms();
	for (size_t i = 0; i < p->n; i++) {
		struct relay_slot *s = &p->slot[i];
		for (size_t j = 0; j < n && s->pid > 0; j++) {
			char b;
			if (fds[j].fd != s->ctl || s->ctl < 0 ||
			    !(fds[j].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (read(s->ctl, &b, 1) == 1) {
				s->idle = true;
				s->idle_since = now;
				batch_done(p, s, "local: the outcome was not recorded");
			} else {
				end_worker(s); /* it is ending: reaped later */
			}
		}
		if (s->idle && now - s->idle_since >= (int64_t)p->reuse_ms)
			end_worker(s); /* relay_connection_reuse_time passed */
	}
}

void relay_pool_end_all(struct relay_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		end_worker(&p->slot[i]);
}

/* A killed predecessor's unread answers: the ids restart from the context's count
 * in each worker, so an old answer could pass for a new one. */
static void drain(int chan)
{
	char b[512];
	while (chan >= 0 && recv(chan, b, sizeof b, MSG_DONTWAIT) > 0)
		;
}

int relay_pool_start(struct relay_pool *p, size_t i, const char *domain, const void *job, size_t len,
                     void (*fn)(void *arg, int chan, int keys, int ctl), void *arg)
{
	struct relay_slot *s = &p->slot[i];
	if (s->idle)
		return give(s, job, len);
	pid_t parent = getpid();
	int sv[2] = {-1, -1};
	if (str_copy(s->domain, sizeof s->domain, domain) != 0)
		s->domain[0] = '\0'; /* queue domains fit: MSS_DOMAIN_SIZE both */
	if (p->reuse_ms > 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		sv[0] = sv[1] = -1; /* no reuse for this worker */
	pid_t pid = fork();
	if (pid < 0) {
		log_err("relay.worker", "domain=%s result=failed error=\"fork failed\" action=in-process",
		        domain);
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
		fn(arg, s->chan, dup(s->keys), -1); /* the store closes its copy */
		return 0;
	}
	if (pid > 0) {
		batch_keep(s, job, len);
		s->pid = pid;
		s->ctl = sv[0];
		s->idle = false;
		if (sv[1] >= 0)
			close(sv[1]);
		return 0;
	}
	/* the other workers' sockets: a copy here would keep them from seeing their end */
	for (size_t j = 0; j < p->n; j++)
		if (p->slot[j].ctl >= 0)
			close(p->slot[j].ctl);
	if (sv[0] >= 0)
		close(sv[0]);
	prctl(PR_SET_NAME, "mss-relay");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	signal(SIGHUP, SIG_IGN); /* the handover is the queue process's: the worker ends its batch */
	signal(SIGCHLD, SIG_DFL);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	drain(s->chan);
	drain(s->keys);
	fn(arg, s->chan, s->keys, sv[1]);
	_exit(0);
}

void relay_pool_wait_all(struct relay_pool *p)
{
	while (relay_pool_running(p, NULL) > 0)
		relay_pool_reap(p, true);
}

void relay_pool_free(struct relay_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->slot[i].job);
	free(p->slot);
	p->slot = NULL;
	p->n = 0;
}
