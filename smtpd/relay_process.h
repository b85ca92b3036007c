/* relay_process: the master's side of mss-smtpd's queue process (DESIGN.md "Relay out
 * to the trust space"): its client TLS context, its start, its restart when it ends
 * (a crash is restarted after a pause that doubles while it keeps failing, up to
 * child_restart_max, so a process that cannot run does not fork in a loop), and
 * SIGHUP: the settings and the TLS context are rebuilt and the running process is
 * asked to end its round and exit, so the next one starts with them. */
#ifndef MSS_SMTPD_RELAY_PROCESS_H
#define MSS_SMTPD_RELAY_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "lib/config.h"
#include "lib/key_agent.h"
#include "store/store_agent.h"
#include "lib/tls.h"

struct relay_process {
	const struct mss_config *cfg; /* the master's settings in force (changed by SIGHUP) */
	struct key_agent *agent;
	struct store_agent *keys; /* the account key agent: each queue process gets a channel */
	struct tls_ctx *tls;      /* NULL: relaying cannot work here (logged), no process */
	int agent_fd;             /* the context's channel to the key agent (the context does not own it) */
	pid_t pid;                /* 0: not running */
	time_t started;
	time_t restart_at;    /* 0: no restart due */
	unsigned pause;       /* seconds before the next restart after a crash */
	const int *close_fds; /* the master's listeners, closed in a process started later */
	size_t nclose;
};

/* Builds the client context and forks the first queue process. Returns 0, 1 when
 * relaying is off here (no tls_ca, no agent channel: logged), -1 with err. */
int relay_process_start(struct relay_process *rp, const struct mss_config *cfg, struct key_agent *agent,
                        struct store_agent *keys, char *err, size_t errlen);
/* From master_opts.on_child_exit: returns true when pid was the queue process. */
bool relay_process_exited(struct relay_process *rp, pid_t pid, int status);
/* From master_opts.on_tick: starts the next process when one is due. */
void relay_process_tick(struct relay_process *rp);
/* From the SIGHUP handler, after the settings were reloaded (ok: the new ones are in
 * force): rebuilds the context and asks the running process to hand over. */
void relay_process_reload(struct relay_process *rp, bool ok);
/* Frees the context. */
void relay_process_free(struct relay_process *rp);
/* In a process the master forks (a session): closes the context's key agent channel,
 * which signs with the relay's key and is the queue process's alone. */
void relay_process_forget(struct relay_process *rp);

#endif
