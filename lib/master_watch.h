/* master_watch.h: the master's wait for its listeners and its reused processes'
 * sockets (master.c's loop), poll's answer from a kept epoll set. */
#ifndef MSS_MASTER_WATCH_H
#define MSS_MASTER_WATCH_H

#include <poll.h>
#include <stddef.h>

struct master_watch {
	int ep;   /* the epoll set, -1 until made */
	int *fds; /* what it watches, in the caller's order (data.u32 is the index) */
	size_t n, cap;
	unsigned gen; /* master_watch_changed's count when it was made */
	void *ev;     /* room for n epoll events */
};

/* An empty watch (its set is made at the first wait). */
void master_watch_init(struct master_watch *w);

/* Says that the master closed a descriptor it watches: the next wait makes its set
 * again (a number closed and handed out anew is a socket epoll never saw). */
void master_watch_changed(void);

/* poll(p, n, timeout_ms) for descriptors waited for POLLIN: the same return and
 * revents. The set is made again only when p names other descriptors than last time,
 * or one was closed since (master_watch_changed); without epoll, poll itself. */
int master_watch_wait(struct master_watch *w, struct pollfd *p, size_t n, int timeout_ms);

/* Closes the set (the master at its end; a child, which must not wait on the
 * master's sockets, right after fork: master_close_in_child). */
void master_watch_free(struct master_watch *w);

#endif
