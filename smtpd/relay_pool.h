/* relay_pool.h: the queue process's delivery workers (issue 13), as Postfix's qmgr
 * hands a destination's mail to up to default_destination_concurrency_limit smtp(8)
 * processes at once. Each worker is a child of the queue process that carries one
 * claimed batch for one destination domain over one connection (several messages),
 * records each outcome with its audit record through a store connection of its own.
 * At most relay_max_connections workers run at once, and at most relay_max_per_domain
 * of them for one domain.
 *
 * Connection reuse (Postfix's smtp_connection_cache_on_demand): a worker that finished
 * its batch with its connection still open tells the queue process so over its control
 * socket and waits there, idle, for the next batch of its domain; the queue process
 * gives that domain's next batch to it before it starts another worker. Only the queue
 * process ends an idle worker (it closes the control socket after
 * relay_connection_reuse_time, to free the slot for another domain, or at SIGHUP), so a
 * batch is never sent to a worker that is leaving. An idle worker counts against
 * relay_max_per_domain like a busy one.
 *
 * Each slot owns a channel to the key agent (made by the master for this queue
 * process): a SEQPACKET channel answers requests in order, so two processes sharing
 * one would read each other's signatures. A worker ends with the queue process
 * (PR_SET_PDEATHSIG); whatever it had claimed and not recorded is given back when it
 * ends (relay_pool_set_done), and after a crash of the queue process itself, by the
 * next one (queue.h "Claims"). */
#ifndef MSS_RELAY_POOL_H
#define MSS_RELAY_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/types.h>

#include "lib/config.h"
#include "lib/mss_limits.h"

/* The channels a queue process gets for its workers, one of each per worker. */
struct relay_chans {
	int tls[RELAY_CONNECTIONS_MAX];  /* to the TLS key agent (handshakes) */
	int keys[RELAY_CONNECTIONS_MAX]; /* to the account key agent (the queue's key, reports) */
	size_t n;
};

struct relay_slot {
	pid_t pid;          /* 0: free */
	int ctl;            /* the queue process's end of the worker's control socket, -1: closed */
	bool idle;          /* the worker waits on ctl for a batch, holding its connection */
	int64_t idle_since; /* CLOCK_MONOTONIC ms */
	int chan;           /* this slot's key agent channel, -1: the context's own (a pool of one) */
	int keys;           /* this slot's account key agent channel */
	char domain[MSS_DOMAIN_SIZE];
	void *job; /* a copy of the batch it carries (NULL: none), for relay_pool_set_done */
	size_t job_len;
};

struct relay_pool {
	struct relay_slot *slot;
	size_t n;            /* slots: relay_max_connections, fewer when fewer channels came */
	unsigned per_domain; /* relay_max_per_domain */
	unsigned reuse_ms;   /* relay_connection_reuse_time in ms, 0: workers end after a batch */
	void (*done)(void *arg, const void *job, size_t len, const char *why);
	void *done_arg;
};

/* max slots (relay_max_connections), per_domain; w: the slots' channels (max is cut to
 * w->n; none at all: one slot that signs through the context's own channel and asks
 * keys over own_keys, the queue process's, which then uses no key itself). Aborts
 * when out of memory. */
void relay_pool_init(struct relay_pool *p, unsigned max, unsigned per_domain, const struct relay_chans *w,
                     int own_keys);
/* Workers keep their connection idle for up to seconds (0: off). */
void relay_pool_set_reuse(struct relay_pool *p, unsigned seconds);
/* fn(arg, job, len, why) for every batch that ended: its worker said it is idle (why
 * "batch ended") or ended (why names the signal or status). The queue process gives
 * back there what the batch left claimed (queue_release): a worker records each
 * outcome itself, so what is still claimed then was not recorded. */
void relay_pool_set_done(struct relay_pool *p,
                         void (*fn)(void *arg, const void *job, size_t len, const char *why), void *arg);
/* Reaps the workers that ended, waiting for one when block and one runs. A worker that
 * ended on a signal or a status other than 0 is logged (relay.worker result=ended). */
void relay_pool_reap(struct relay_pool *p, bool block);
/* Whether a batch for domain may go now: to an idle worker of domain, else to a new
 * worker when fewer than per_domain of them run for it and a slot is free. True with
 * the slot in *slot. With no slot free, the longest idle worker of another domain is
 * ended (its slot frees when it is reaped). */
bool relay_pool_free_slot(struct relay_pool *p, const char *domain, size_t *slot);
/* Gives batch job (len bytes) for domain to slot i: over the control socket to its idle
 * worker, or to fn(arg, chan, keys, ctl) in a forked worker that exits 0 after it (the
 * child never returns here; SIGHUP ignored, SIGCHLD and SIGHUP unblocked in it). When
 * fork fails, fn runs in this process, logged, with ctl -1. Returns 0, or -1 when the
 * idle worker could not take it (it is ended; the batch stays the caller's). */
int relay_pool_start(struct relay_pool *p, size_t i, const char *domain, const void *job, size_t len,
                     void (*fn)(void *arg, int chan, int keys, int ctl), void *arg);
/* In a worker, after a batch: tells the queue process it is idle and waits for the next
 * batch on ctl. Returns its length with *job (malloc'd, the caller frees it), or 0 when
 * the queue process ended the wait (ctl closed) or ctl is -1. */
size_t relay_pool_next(int ctl, void **job);
/* Workers running (for domain, or all when domain is NULL), idle ones included. */
size_t relay_pool_running(const struct relay_pool *p, const char *domain);
/* Workers running and not idle. */
size_t relay_pool_busy(const struct relay_pool *p);
/* The control sockets to watch (busy workers that may turn idle) into fds[0..max).
 * Returns their number; *timeout_ms lowered to the next idle worker's end. */
size_t relay_pool_watch(const struct relay_pool *p, struct pollfd *fds, size_t max, int *timeout_ms);
/* After the wait: marks the workers that said they are idle, and ends those idle for
 * relay_connection_reuse_time. */
void relay_pool_update(struct relay_pool *p, const struct pollfd *fds, size_t n);
/* Ends every worker after its batch (SIGHUP): idle ones now (QUIT), busy ones when done. */
void relay_pool_end_all(struct relay_pool *p);
/* Waits for every worker to end (SIGHUP's handover: the round in hand is finished). */
void relay_pool_wait_all(struct relay_pool *p);
void relay_pool_free(struct relay_pool *p);

#endif
