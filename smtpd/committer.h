/* committer.h: mss-smtpd's committer, one write transaction for several deliveries
 * (issue 15; doc/architecture.md "Durability", mss-smtpd(8)).
 *
 * With delivery_batch_max above 1 (SQLite only), the master forks one committer
 * process as the daemons' user, which listens on data_dir/run/committer. A session
 * process (the MX's, or submission's when the sender is not a patient) whose message
 * goes to local recipients only inspects it for the vault itself (policy_inspect: the
 * archives and CDA documents opened in its own peer's process) and hands it over with
 * the patients' copies decided from that (the envelope, the sender, its kept audit
 * records, the copies and the message: committer_msg.h), then waits for the answer.
 * The committer takes every request waiting when its previous commit ended, up to
 * delivery_batch_max (no timer: an idle committer commits a lone message at once),
 * prepares each before its transaction (policy_deliver_prepare with the session's
 * copies: the parse, the copies built, the sealing, the blobs written; no inspection),
 * opens one write transaction for their rows (policy_deliver_stage: a savepoint each,
 * so one failure undoes only itself), commits (the group WAL sync,
 * lib/sql_sqlite_sync.c, covers it) and only then answers each session, which files
 * the documents in the vault (policy_inspection_end) and says 250 or 451 as
 * policy_deliver would have made it. A commit that fails answers 451 to the whole batch and removes the
 * blob files it wrote. Last in its transaction a batch notes its deliveries by queue id
 * (store_batch_note): a session whose committer died before answering (the end of the
 * socket) looks its delivery up there, and answers 250 when the batch committed it (the
 * committer died after its COMMIT; the session makes it durable and files it first),
 * else 451 4.3.0 (committer.lost result=stored or not-stored); the master starts another
 * (after a pause that doubles while it keeps dying young, as the queue process).
 * A session with no answer after twice store_timeout asks the committer to withdraw its
 * delivery and waits as long again: not yet in a batch, it is answered 451 and never
 * stored; else the batch's outcome comes. A committer silent to both: the notes again,
 * 250 when found, else 451 with the outcome unknown (committer.lost result=unknown names
 * the queue id).
 * Sessions that cannot reach a committer (none running, or restarting) deliver
 * themselves, as with delivery_batch_max 0 or 1. */
#ifndef MSS_SMTPD_COMMITTER_H
#define MSS_SMTPD_COMMITTER_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "lib/config.h"
#include "lib/key_agent.h"
#include "lib/status.h"
#include "store/store.h"
#include "store/store_agent.h"
#include "vault/vault_message.h"

/* ---- the master's side ---- */
struct committer_process {
	const struct mss_config *cfg; /* the settings the process starts with */
	struct store_agent *keys;     /* its channel to the account key agent (public keys only) */
	struct key_agent *agent;      /* the TLS key agent: its control socket closed in the process */
	pid_t pid;                    /* 0: not running */
	time_t started;
	time_t restart_at; /* 0: no restart due */
	unsigned pause;    /* seconds before the next restart after a crash */
	bool ending;       /* asked to end (committer_reload): its exit is no crash */
	const int *close_fds;
	size_t nclose;
	/* In the process first (may be NULL): closes what the master holds for its other
	 * children (the TLS key agent channel of the relay's context, for the queue) */
	void (*child_init)(void *arg);
	void *child_arg;
};

/* Forks the committer when the settings ask for one (delivery_batch_max > 1 and a
 * SQLite store). Returns 0 (started, or not wanted: pid 0), -1 when fork failed. */
int committer_start(struct committer_process *cp, const struct mss_config *cfg, struct key_agent *agent,
                    struct store_agent *keys);
/* From master_opts.on_child_exit: true when pid was the committer (restart planned). */
bool committer_exited(struct committer_process *cp, pid_t pid, int status);
/* From master_opts.on_tick: starts the next committer when one is due. */
void committer_tick(struct committer_process *cp);
/* SIGHUP with new settings, or a helper started again (its key agent channel died with
 * the agent): the committer ends once it answered what it read, and the next one
 * starts with the settings in force (none when they turned it off). */
void committer_reload(struct committer_process *cp);

/* Whether settings have a committer run: delivery_batch_max above 1, on SQLite
 * (PostgreSQL groups its own commits). */
bool committer_runs(const struct mss_config *cfg);

/* ---- a session's side ---- */
/* Whether this delivery goes to the committer: settings ask for one and every
 * recipient is local. */
bool committer_wanted(const struct mss_config *cfg, const struct policy_message *m);
/* Hands m to the committer and waits for its answer: inspects the message for the
 * vault first, in this process (policy_inspect: the committer runs no parser of an
 * archive or a CDA), sends the patients' copies decided from it with the message, and
 * files the message in the vault once the answer says its rows are committed, before
 * the caller's 250. A message with documents for a patient, or one the committer
 * could not be sent, is delivered here with that inspection (policy_deliver_inspected:
 * never inspected twice). Returns 1 when no committer could be reached before the
 * inspection, or the inspection met a database error (the caller delivers itself),
 * else 0 with *rc and *st as policy_deliver gives them
 * (a committer lost after the request was sent: as its batch's note says, else 451
 * 4.3.0) and *batch the deliveries its transaction held (0 when lost). */
int committer_deliver(struct store *store, const struct policy_message *m, int *rc, struct mss_status *st,
                      unsigned *batch);

/* data_dir/run/committer into out. Returns 0, -1 when it does not fit. */
int committer_socket_path(const struct mss_config *cfg, char *out, size_t outlen);

#endif
