/* master_watch.c: the master's wait for its listeners and its reused processes'
 * sockets, from an epoll set kept between waits (issue 15).
 *
 * poll(2) over them all (two sockets a reused pair: 40-odd with 20 MX sessions) made
 * the kernel look at every socket, hang the master on each one's wait queue and take
 * it off them all again, at every wake-up: about once a connection, a third of the
 * master's CPU with a connection per message (bench/README.md "connrow"). The set
 * is made once and kept while the watched descriptors stay the same: epoll looks only
 * at the ready ones. It is made again when the caller names other descriptors, or
 * when the master closed one (master_watch_changed): epoll forgets a closed socket,
 * and a new one given the same number would otherwise never be watched. The answer
 * is poll's (revents in the caller's array), so the callers read it as before. */
#include "lib/master_watch.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/buf.h"

static unsigned changes; /* descriptors the master closed while watched */

void master_watch_changed(void)
{
	changes++;
}

void master_watch_init(struct master_watch *w)
{
	memset(w, 0, sizeof(*w));
	w->ep = -1;
}

void master_watch_free(struct master_watch *w)
{
	if (w->ep >= 0)
		close(w->ep);
	w->ep = -1;
	free(w->fds);
	free(w->ev);
	w->fds = NULL;
	w->ev = NULL;
	w->n = w->cap = 0;
}

static bool same(const struct master_watch *w, const struct pollfd *p, size_t n)
{
	if (w->ep < 0 || w->gen != changes || w->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (w->fds[i] != p[i].fd)
			return false;
	return true;
}

/* A new set for p (every entry waited for POLLIN). Returns 0, or -1 (no set: the
 * caller polls). */
static int make(struct master_watch *w, const struct pollfd *p, size_t n)
{
	if (w->ep >= 0)
		close(w->ep);
	w->ep = -1;
	w->n = 0;
	if (n == 0 || n > UINT32_MAX)
		return -1;
	if (w->cap < n) {
		w->fds = xrealloc(w->fds, n * sizeof(*w->fds));
		w->ev = xrealloc(w->ev, n * sizeof(struct epoll_event));
		w->cap = n;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		if (p[i].events != POLLIN || epoll_ctl(ep, EPOLL_CTL_ADD, p[i].fd, &e) < 0) {
			close(ep);
			return -1;
		}
		w->fds[i] = p[i].fd;
	}
	w->ep = ep;
	w->n = n;
	w->gen = changes;
	return 0;
}

static short revents_of(uint32_t e)
{
	return (short)(((e & EPOLLIN) ? POLLIN : 0) | ((e & EPOLLHUP) ? POLLHUP : 0) |
	               ((e & EPOLLERR) ? POLLERR : 0));
}

int master_watch_wait(struct master_watch *w, struct pollfd *p, size_t n, int timeout_ms)
{
	if (!same(w, p, n) && make(w, p, n) < 0)
		return poll(p, n, timeout_ms);
	struct epoll_event *ev = w->ev;
	for (size_t i = 0; i < n; i++)
		p[i].revents = 0;
	int r = epoll_wait(w->ep, ev, (int)n, timeout_ms);
	if (r <= 0)
		return r;
	int ready = 0;
	for (int j = 0; j < r; j++) {
		uint32_t i = ev[j].data.u32;
		if (i < n && (p[i].revents = revents_of(ev[j].events)) != 0)
			ready++;
	}
	return ready;
}
