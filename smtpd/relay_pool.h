/* relay_pool.h: the queue process's delivery workers (issue 13), as Postfix's qmgr
 * hands a destination's mail to up to default_destination_concurrency_limit smtp(8)
 * processes at once. Each worker is a child of the queue process that carries one
 * claimed batch for one destination domain over one connection (several messages),
 * records each outcome with its audit record through a store connection of its own,
 * and exits. At most relay_max_connections workers run at once, and at most
 * relay_max_per_domain of them for one domain.
 *
 * Each slot owns a channel to the key agent (made by the master for this queue
 * process): a SEQPACKET channel answers requests in order, so two processes sharing
 * one would read each other's signatures. A worker ends with the queue process
 * (PR_SET_PDEATHSIG); whatever it had claimed and not recorded comes due again when
 * the lease ends, as after a crash of the queue process itself. */
#ifndef MSS_RELAY_POOL_H
#define MSS_RELAY_POOL_H

#include <stdbool.h>
#include <stddef.h>
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
	pid_t pid; /* 0: free */
	int chan;  /* this slot's key agent channel, -1: the context's own (a pool of one) */
	int keys;  /* this slot's account key agent channel */
	char domain[MSS_DOMAIN_SIZE];
};

struct relay_pool {
	struct relay_slot *slot;
	size_t n;            /* slots: relay_max_connections, fewer when fewer channels came */
	unsigned per_domain; /* relay_max_per_domain */
};

/* max slots (relay_max_connections), per_domain; w: the slots' channels (max is cut to
 * w->n; none at all: one slot that signs through the context's own channel and asks
 * keys over own_keys, the queue process's, which then uses no key itself). Aborts
 * when out of memory. */
void relay_pool_init(struct relay_pool *p, unsigned max, unsigned per_domain, const struct relay_chans *w,
                     int own_keys);
/* Reaps the workers that ended, waiting for one when block and one runs. A worker that
 * ended on a signal or a status other than 0 is logged (relay.worker result=ended). */
void relay_pool_reap(struct relay_pool *p, bool block);
/* Whether a worker may start for domain now (fewer than per_domain of them run for it,
 * a slot is free): true with the free slot in *slot. */
bool relay_pool_free_slot(const struct relay_pool *p, const char *domain, size_t *slot);
/* Starts fn(arg, chan, keys) for domain in slot i, in a forked worker that exits 0 after it
 * (the child never returns here; SIGHUP ignored, SIGCHLD and SIGHUP unblocked in it).
 * When fork fails, fn runs in this process, logged. */
void relay_pool_start(struct relay_pool *p, size_t i, const char *domain,
                      void (*fn)(void *arg, int chan, int keys), void *arg);
/* Workers running (for domain, or all when domain is NULL). */
size_t relay_pool_running(const struct relay_pool *p, const char *domain);
/* Waits for every worker to end (SIGHUP's handover: the round in hand is finished). */
void relay_pool_wait_all(struct relay_pool *p);
void relay_pool_free(struct relay_pool *p);

#endif
