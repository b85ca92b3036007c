/* master_pool.h: how lib/master hands connections to reused session processes
 * (internal to lib/master*.c; master.h says what reuse is).
 *
 * A reused process (pair) is forked with nothing but its end of a SOCK_SEQPACKET
 * socketpair to the master. For each connection the master sends one message on it:
 * what session_info says of the connection (listener, peer, session id, the pre-login
 * process's pid) and, as SCM_RIGHTS, that connection's own descriptors (the client
 * socket, its authentication and relay socketpairs, its account key agent channel),
 * made for it alone as for a forked process. The TLS key agent channel is the
 * process's own, made when the master forks it and kept for its life (fork_reused):
 * the agent serves every channel alike, and the process would be given a new one for
 * its next peer anyway, so a channel per connection protected nothing and cost the
 * agent two wake-ups and the master a socketpair per connection (issue 15). So is the
 * account key agent channel of a pair reused whole (MASTER_REUSE_PAIR, the MX): its
 * session process serves any peer, its channel binds none (own_keys_channel); each
 * connection gets a copy. The master keeps a copy of both, and hands a process whose
 * agent's end hung up (the agent died, or refused and closed it) no more connections. The process runs the
 * connection exactly as a fresh one would, closes whatever the connection left open,
 * and answers one byte before it waits for the next. So nothing of a connection (its
 * descriptors, its session id, its peer, its transaction) reaches the next one but
 * through memory the session code freed, and the buffers its bytes went through are
 * overwritten first (buf_wipe in conn_free and the relay, SSL_OP_CLEANSE_PLAINTEXT,
 * GnuTLS's records in tls_read).
 *
 * On a listener with MASTER_REUSE_PRELOGIN the reused process is the pre-login process
 * alone (struct child.alone): for each connection the master forks a fresh session
 * process with its ends of the connection's socketpairs, as fork_pair's second fork
 * does, records it as a child of its own (which holds the connection's session place
 * and names the pre-login process, so that a refused hand-off or a crash ends that
 * too), then sends the pre-login process its half. With master_set_account_reuse, it
 * sends the pre-login process its connection alone; at its first authentication
 * request the pre-login process asks for its session process (a struct pool_ask naming
 * a hint), and the master hands it out (attach_session): an idle one of the same hint,
 * else a fresh one forked idle as the MX's, with the connection's channels; the answer
 * carries the pre-login process's ends. The session process alone decides whose it
 * is (smtpd: it refuses any account but the first it logged in). Its account key agent
 * channel is its own for its life, as the MX session process's (fork_account): bound
 * by the agent to the first account asked, which is the process's own for good. */
#ifndef MSS_MASTER_POOL_H
#define MSS_MASTER_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/master_int.h"

struct pollfd;

/* Whether connections of l go to reused processes (its reuse set, max_use above 1; a
 * pre-login process alone only with privilege separation on). */
bool master_reused_on(const struct master_opts *o, const struct listener *l);
/* A connection of a listener with reuse (fd, si as accept filled it, the master's
 * key agent channel in si->channel_fd): to an idle process (pair), or to a new one. The
 * caller closes fd and the channel afterwards. Returns 0, or -1 when the connection was
 * not handed over (logged; the caller tells the client). */
int master_reused_take(const struct master_opts *o, struct master_state *m, struct listener *ls, size_t n,
                       int fd, struct session_info *si);
/* Ends a reused process (pair): it exits at its next wait for a connection (now when
 * idle, after its connection when busy) and is dispatched no more. */
void master_reused_close(struct child *c);
/* About once a second: reused processes idle for idle_time, or forked before
 * master_retire_reused, end. */
void master_reused_tick(struct master_state *m);
/* The descriptors to poll: pfd's np listeners first, then the sockets of the reused
 * processes, in *all (grown as needed, *cap). Returns their count. */
size_t master_reused_watch(const struct master_state *m, const struct pollfd *pfd, size_t np,
                           struct pollfd **all, size_t *cap);
/* What the reused processes said (the n entries of the poll after the listeners):
 * a connection's end, or a pre-login process's request for its session process
 * (master_session_ask), which may fork one (ls, nls: the daemon's listeners). */
void master_reused_heard(const struct master_opts *o, struct master_state *m, struct listener *ls, size_t nls,
                         const struct pollfd *p, size_t n);

#endif
