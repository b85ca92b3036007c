/* blob_sweeper.h: mss-smtpd's periodic blob sweep (store.h, store_blob_sweep_pass;
 * doc/architecture.md "Durability", mss-smtpd(8)).
 *
 * One long-lived process that holds the store runs it: the committer when one runs
 * (SQLite, delivery_batch_max above 1), else the queue process (PostgreSQL, where
 * every host's queue process sweeps the shared blob_dir, or SQLite without batching).
 * Every store_blob_sweep_interval it makes one pass of at most store_blob_sweep_batch
 * names, between two pieces of its own work, so that a delivery waits for one bounded
 * pass at most; the first pass is due as the process starts. A pass that removed
 * something, or failed, logs one line (EVENT result=ok|failed removed=N looked=N):
 * counts only, never a name. */
#ifndef MSS_SMTPD_BLOB_SWEEPER_H
#define MSS_SMTPD_BLOB_SWEEPER_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config.h"
#include "store/store.h"

struct blob_sweeper {
	const struct mss_config *cfg;
	const char *event; /* the log line's event: "committer.sweep", "relay.sweep" */
	struct store_sweep at;
	uint64_t due_usec; /* metrics_now_usec of the next pass; 0 with no interval */
};

/* Whether the queue process sweeps (no committer runs), or the committer. */
bool blob_sweeper_in_queue(const struct mss_config *cfg);
/* Sets s up for cfg (store_blob_sweep_interval 0: never due), the first pass due now. */
void blob_sweeper_init(struct blob_sweeper *s, const struct mss_config *cfg, const char *event);
/* How long a wait of wait_ms (-1: none) may last so as not to pass the next pass's
 * time: wait_ms, or less. */
int blob_sweeper_wait_ms(const struct blob_sweeper *s, int wait_ms);
/* Whether a pass is due now. */
bool blob_sweeper_due(const struct blob_sweeper *s);
/* One pass if one is due (logged as above), and the next one's time; st NULL (the
 * store unreachable, which its caller logged): only the next one's time. */
void blob_sweeper_run(struct blob_sweeper *s, struct store *st);

#endif
