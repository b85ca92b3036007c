/* master_int.h: lib/master's state, shared by master.c (the accept loop, forks, limits)
 * and master_pool.c (the reused processes). Internal to lib/master*.c. */
#ifndef MSS_MASTER_INT_H
#define MSS_MASTER_INT_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "lib/master.h"
#include "lib/master_watch.h"

/* The running sessions, to enforce limits and to signal them at shutdown. */
struct child {
	pid_t pid;
	int pool;
	char ip[64];
	pid_t prelogin; /* its pre-login process, 0 none (privilege separation) */
	/* A reused process (pair) of a listener with reuse (master.h): its sockets to the
	 * master ([0] the session process's, [1] the pre-login process's; -1 closed, which
	 * ends the process once idle), whether it runs a connection now and how many of
	 * its processes still have to say it ended, its connections so far, since when it
	 * waits, and the reuse generation it was forked in (master_retire_reused). */
	bool reused;
	/* A reused pre-login process alone (MASTER_REUSE_PRELOGIN): pid is its own
	 * (login_user's, signalled with privsep_signal), ctl[0] its socket; it never counts
	 * against the limits, the session process forked for its connection does (a child
	 * of its own whose prelogin names it). */
	bool alone;
	/* Per-account session processes (master_set_reuse's idle_accounts above 0): a
	 * pre-login process alone gets no session process at accept; it asks for one at its
	 * first authentication request (master_pool.h). Until then (awaiting) it holds the
	 * connection's places itself, and asked says it did (once per connection). The
	 * connection's session id, local address and port are kept for that request. */
	bool awaiting;
	bool asked;
	/* the connection's account key agent channel, made at accept (a connection the
	 * agent cannot serve is refused there) and kept here for its session process */
	int keys_fd;
	/* A reused process that runs handshakes (the pre-login one, or the only one without
	 * privilege separation): the master's copy of its TLS key agent channel, made once
	 * for its life (master_pool.c fork_reused), -1 without. The master
	 * never reads it: it looks whether the agent's end hung up (the agent died) before
	 * it hands the process a connection. */
	int tls_chan;
	/* A reused session process of a pair (MASTER_REUSE_PAIR: it serves any peer, so its
	 * channel binds no account): the master's copy of its account key agent channel,
	 * made once for its life and looked at as tls_chan is, -1 without. */
	int keys_chan;
	/* the connection a pre-login process alone runs, or that a session process of such
	 * a pre-login process was given (whether its end is that pre-login process's) */
	char session_id[16];
	char local_ip[64];
	unsigned peer_port;
	/* A session process reused for one account (account): the hint its pre-login
	 * processes named when it was handed out (a certificate's fingerprint or a SASL
	 * user; only the session process decides whose it is). */
	bool account;
	char hint[MASTER_HINT_MAX];
	/* one of its processes said its connection was its last (master_reused_last) */
	bool last;
	bool busy;
	int ctl[2];
	unsigned pending;
	unsigned uses;
	time_t idle_since;
	unsigned gen;
	const struct listener *listener;
};

struct master_state {
	struct child *children;
	size_t nchildren;
	size_t cap;
	const struct master_opts *opts; /* for on_child_exit; NULL once shutdown began */
	struct master_watch watch;      /* master_run's wait (master_watch.h) */
};

/* In every child first: closes what only the master may hold (listeners, the sockets
 * of the reused processes), sets a session's signals, runs the daemon's child_init. */
void master_child_enter(const struct master_opts *o, struct listener *ls, size_t n);
/* A session's SIGTERM and SIGINT (conn_request_stop), SIGHUP ignored. */
void master_session_signals(void);
/* Runs a forked child's connection (the pre-login side when it has the client socket
 * and an auth channel, else the session side) and exits. */
void master_run_child(const struct master_opts *o, struct listener *ls, size_t n, int fd,
                      const struct session_info *si) __attribute__((noreturn));
/* Sends sig to a child's first process (privsep_signal for a pre-login process). */
void master_signal(const struct child *c, int sig);
/* Records a child running a connection of l from ip ("" none yet). */
struct child *master_add_child(struct master_state *m, pid_t pid, pid_t pre, const struct listener *l,
                               const char *ip);
/* Whether a child counts against the session limits (a reused one waiting does not). */
bool master_counts(const struct child *c);

#endif
