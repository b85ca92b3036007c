/* keeper.h: a daemon's long-lived helper process, started again when it dies
 * (doc/architecture.md "Helpers restarted when they end").
 *
 * The daemons fork their root helpers (the TLS key agent, the account key agent, the
 * audit signer) and the retention process before the master drops to the daemons'
 * user, which can then no longer start a root process. So each helper runs under a
 * keeper of its own, forked at the same point with the same identity: a loop that only
 * forks the helper, waits for it and, when it ends while the master still runs and not
 * with status 0, logs one line (child.ended name=... pid=... status=N or signal=N
 * restart_in=S) and forks it again after a pause that doubles while the helper keeps
 * dying young (1 s, 2 s, ... up to pause_max, child_restart_max), so that a helper that
 * cannot start is never forked in a loop. The next start logs child.restarted and
 * sends the master SIGUSR2 (master_opts.on_helper_restart): what the master made for
 * its processes with the helper that died (their channels to it) is dead, and the
 * master makes them again. keeper_fork makes a caller that does not handle SIGUSR2
 * ignore it.
 *
 * The keeper holds what the helper was started with (its sockets to the master), so
 * the master's ends stay valid across a restart: what the master sends meanwhile waits
 * in the socket for the next helper. It has no database, no key and no client socket,
 * ignores SIGTERM, SIGINT and SIGHUP (the master ends it, as before the helper: by its
 * own end), and ends once the master is gone (looked at each second: a master that
 * dropped to the daemons' user cannot signal a root process), after it sent the
 * helper stop_signal and waited for it, or when the helper exits with status 0.
 *
 *   master (user) -- keeper (root, "mss-*-keep") -- helper (root or user)
 *                 <-------- the helper's sockets ------->
 */
#ifndef MSS_KEEPER_H
#define MSS_KEEPER_H

#include <sys/types.h>

struct keeper {
	const char *name;   /* the helper's name in the log lines ("audit-signer") */
	const char *title;  /* the keeper's process name (at most 15 bytes) */
	int stop_signal;    /* sent to the helper once the master is gone (and its death
	                       signal should the keeper die); 0: none, the helper sees its
	                       sockets close */
	unsigned pause_max; /* seconds: the longest pause before a restart */
	int keep;           /* >= 0: the keeper closes every descriptor but 0-2 and this one
	                       (the helper's socket), so that it holds none of the master's
	                       listeners; -1: it closes none */
};

/* Instead of fork() for a helper: forks the keeper, which forks the helper. Returns
 * the keeper's pid in the caller, 0 in the helper (each time it is started), -1 when
 * the keeper cannot be forked (errno set). The helper is the keeper's child: its
 * getppid() is the keeper's pid, and it runs with SIGCHLD as the caller had it. */
pid_t keeper_fork(const struct keeper *k);
/* In the process that called keeper_fork: the helper's name when pid is one of its
 * keepers, else NULL (lib/master logs a keeper's end: nothing restarts it, since the
 * master runs as the daemons' user by then). */
const char *keeper_of(pid_t pid);
/* In a helper: how many times it was started before (0 the first time), so that a
 * restarted one can skip what only the first start does (the answer its master waits
 * for at start) and catch up with what happened while it was down. */
unsigned keeper_restarts(void);

#endif
