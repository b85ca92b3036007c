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
 * master makes them again (but for what the helper kept as records, below).
 * keeper_fork makes a caller that does not handle SIGUSR2 ignore it.
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
	bool records;       /* the helper keeps records with the keeper (keeper_record), each
	                       with a descriptor, handed to the helper started again */
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

/* Records (keeper.records): what a helper serves that must outlive it (the account key
 * agent's channels to its sessions, each with its kind and binding), kept by its keeper
 * and handed to the next helper, so that a restart ends none of them. A record is at
 * most KEEPER_RECORD_MAX octets named by id (not 0); one with a descriptor keeps a copy
 * of it in the keeper. */
#define KEEPER_RECORD_MAX 512
/* In the helper: sets record id to data (len > 0; fd >= 0: the descriptor it goes with,
 * -1: the one it had) or drops it (len 0, its descriptor closed in the keeper).
 * Returns 0, or -1 when there is no keeper to keep it. */
int keeper_record(uint64_t id, const void *data, size_t len, int fd);
/* In a helper started again: the next record kept for it (its data in data, its
 * descriptor in *fd, -1 if none). Returns its length, 0 after the last one, -1 on
 * error. */
ssize_t keeper_replayed(uint64_t *id, void *data, size_t cap, int *fd);
/* In the helper: its descriptor to the keeper's records (to be kept open), -1 without. */
int keeper_records_fd(void);

#endif
