/* relay_pool.c: the queue process's delivery workers (relay_pool.h). */
#include "smtpd/relay_pool.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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
		p->slot[i].chan = w->n == 0 ? -1 : w->tls[i];
		p->slot[i].keys = w->n == 0 ? own_keys : w->keys[i];
	}
	if (w->n < max)
		log_warn("relay.workers", "wanted=%u channels=%zu action=fewer-workers", max, w->n);
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
	for (size_t i = 0; i < p->n; i++) {
		if (p->slot[i].pid != pid)
			continue;
		p->slot[i].pid = 0;
		/* what it claimed and did not record waits for its lease (or mssctl queue flush) */
		if (WIFSIGNALED(status))
			log_warn("relay.worker", "pid=%ld domain=%s result=ended signal=%d", (long)pid,
			         p->slot[i].domain, WTERMSIG(status));
		else if (WEXITSTATUS(status) != 0)
			log_warn("relay.worker", "pid=%ld domain=%s result=ended status=%d", (long)pid,
			         p->slot[i].domain, WEXITSTATUS(status));
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

bool relay_pool_free_slot(const struct relay_pool *p, const char *domain, size_t *slot)
{
	if (relay_pool_running(p, domain) >= p->per_domain)
		return false;
	for (size_t i = 0; i < p->n; i++) {
		if (p->slot[i].pid == 0) {
			*slot = i;
			return true;
		}
	}
	return false;
}

/* A killed predecessor's unread answers: the ids restart from the context's count
 * in each worker, so an old answer could pass for a new one. */
static void drain(int chan)
{
	char b[512];
	while (chan >= 0 && recv(chan, b, sizeof b, MSG_DONTWAIT) > 0)
		;
}

void relay_pool_start(struct relay_pool *p, size_t i, const char *domain,
                      void (*fn)(void *arg, int chan, int keys), void *arg)
{
	struct relay_slot *s = &p->slot[i];
	pid_t parent = getpid();
	if (str_copy(s->domain, sizeof s->domain, domain) != 0)
		s->domain[0] = '\0'; /* queue domains fit: MSS_DOMAIN_SIZE both */
	pid_t pid = fork();
	if (pid < 0) {
		log_err("relay.worker", "domain=%s result=failed error=\"fork failed\" action=in-process",
		        domain);
		fn(arg, s->chan, dup(s->keys)); /* the store closes its copy */
		return;
	}
	if (pid > 0) {
		s->pid = pid;
		return;
	}
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
	fn(arg, s->chan, s->keys);
	_exit(0);
}

void relay_pool_wait_all(struct relay_pool *p)
{
	while (relay_pool_running(p, NULL) > 0)
		relay_pool_reap(p, true);
}

void relay_pool_free(struct relay_pool *p)
{
	free(p->slot);
	p->slot = NULL;
	p->n = 0;
}
