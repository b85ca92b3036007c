/* relay_queue.h: the queue process of mss-smtpd (DESIGN.md "Relay out to the trust
 * space"). Forked by the master after the TLS key agent and before the privilege
 * drop, it switches to cfg->user, ends with the master (PR_SET_PDEATHSIG), and loops:
 * claim the due recipients (queue_due, one index range scan), group them by domain,
 * split each domain's messages into up to relay_max_per_domain batches and hand each
 * to a delivery worker (relay_pool.h: at most relay_max_connections at once), which
 * opens one connection to the domain's next hop (relay_client.h), sends its messages
 * over it, then records each recipient's outcome with its audit record: delivered
 * (relay.deliver), deferred with backoff (relay.defer: queue_retry, doubling, at most
 * 1 h), or failed for good (relay.fail: a 5yz reply, a domain no longer in the trust
 * list, a null MX, or queue_lifetime passed).
 *
 * At least once, never lost: a claim only moves the next attempt forward by the lease
 * (relay_lease below) and names this process (queue.h "Claims"), and a recipient leaves
 * the queue only after the remote server's 250 to the final dot; a process killed at
 * any moment leaves its claimed recipients to the next queue process, which releases
 * them at its start (queue_release_gone), and a worker's unrecorded ones are given
 * back as a deferral when it ends. Never twice at once: while this process lives,
 * nothing (mssctl queue flush included) hands out again what it claimed. */
#ifndef MSS_RELAY_QUEUE_H
#define MSS_RELAY_QUEUE_H

#include <stdint.h>
#include <sys/types.h>

#include "lib/config.h"
#include "lib/key_agent.h"
#include "lib/tls.h"
#include "smtpd/relay_pool.h"
#include "store/store_agent.h"

/* Claimed recipients per round. */
#define RELAY_BATCH 100

/* The lease of a claim: one hour (the longest backoff), longer than an attempt lasts
 * but for a peer that stalls every stage of a large batch. */
int64_t relay_lease(const struct mss_config *cfg);
/* The wait after a temporary failure, for a recipient tried attempts times already:
 * queue_retry doubled per attempt, at most 3600 s. */
int64_t relay_backoff(const struct mss_config *cfg, unsigned attempts);

/* The queue process's exit status after a SIGHUP: it ends its round, then exits so that
 * the master starts a new one with the reloaded settings. */
#define RELAY_EXIT_RELOAD 75

/* Forks the queue process (ctx: the client TLS context, signing through its own key
 * agent channel; w: a key agent channel and an account key agent channel per delivery
 * worker, relay_pool.h); the child closes the n descriptors of close_fds first (the
 * master's listeners when it is restarted from the accept loop), the TLS key agent's
 * control socket and the master's own channel (tls_agent: the queue asks for no channel
 * and no reload) and the account key agent's control socket (keys), and opens the store without the master
 * key: its keys come over keys_fd, its own channel (the child owns it). Returns its pid, or -1 when fork
 * failed. */
pid_t relay_queue_start(const struct mss_config *cfg, struct tls_ctx *ctx, const int *close_fds, size_t n,
                        struct key_agent *tls_agent, struct store_agent *keys, int keys_fd,
                        const struct relay_chans *w);

#endif
