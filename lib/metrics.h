/* metrics.h: counters shared by every process of both daemons, for metrics_listen.
 *
 * One fixed-layout file, data_dir/run/metrics, mapped MAP_SHARED by each daemon's
 * master before it forks: every session of mss-smtpd and mss-imapd adds to the same
 * page with atomic operations, without a lock and without a message to anyone (the
 * model is Postfix's anvil, without its round trip). The file outlives restarts, so a
 * counter only goes back to zero when the layout version changes, which OpenMetrics
 * allows (a counter reset).
 *
 * Three kinds of series, each row of a family table (metrics.c) with its name, type,
 * help and label names:
 * - labelled counters, whose label values are short fixed strings of the code (a
 *   listener's name, a reply's name, an enhanced status code), never client input: a
 *   slot is claimed the first time a label set is counted (up to METRICS_SLOTS);
 * - gauges, one value per daemon;
 * - histograms of durations with fixed buckets (METRICS_BUCKETS, in seconds).
 * Every function is a no-op before metrics_open (a daemon without metrics_listen, the
 * tests, mssctl): counting never fails a session. */
#ifndef MSS_METRICS_H
#define MSS_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/buf.h"

struct mss_config;

#define METRICS_SLOTS 256     /* distinct label sets of all counter families */
#define METRICS_LABELS_MAX 96 /* one label set, values joined by '\x1f' */

enum metrics_counter {
	METRICS_SESSIONS,      /* listener */
	METRICS_DELIVERIES,    /* result: stored, refused, failed */
	METRICS_SMTP_REFUSALS, /* reason, code, enhanced */
	METRICS_AUTH_FAILURES, /* protocol, result: failed, locked */
	METRICS_IMAP_REFUSALS, /* result: NO, BAD */
	METRICS_COUNTER_FAMILIES
};

enum metrics_gauge {
	METRICS_NO_GAUGE,       /* 0: what a zeroed master_opts says (mss-webd: none) */
	METRICS_SMTPD_SESSIONS, /* sessions running now, per daemon */
	METRICS_IMAPD_SESSIONS,
	METRICS_GAUGES
};

enum metrics_histogram {
	METRICS_SMTP_COMMAND, /* one SMTP command, DATA's transfer excluded */
	METRICS_IMAP_COMMAND, /* one IMAP command, IDLE excluded */
	METRICS_DELIVERY,     /* end of DATA to the reply: policy, vault, store */
	METRICS_HISTOGRAMS
};

/* Maps (creating it at the right size if needed) the shared file at path, as the
 * daemons' user. Returns 0 or -1 with err. Before fork: the children inherit it. */
int metrics_open(const char *path, char *err, size_t errlen);
/* data_dir/run/metrics of cfg's data_dir into out. Returns 0 or -1 (does not fit). */
int metrics_path(const struct mss_config *cfg, char *out, size_t outlen);

/* Adds one to the family's series of the given label values (as many as the family
 * has label names; each at most a few dozen characters). */
void metrics_count(enum metrics_counter f, const char *const *values);
/* Shorthand for a family with one label. */
void metrics_count1(enum metrics_counter f, const char *value);
void metrics_gauge_set(enum metrics_gauge g, uint64_t value);
/* Records one duration, in microseconds. */
void metrics_observe(enum metrics_histogram h, uint64_t usec);
/* Microseconds of a monotonic clock, for durations. */
uint64_t metrics_now_usec(void);

/* Appends the whole page as OpenMetrics text (ending in "# EOF\n"). Returns 0, or -1
 * when out's limit is reached or nothing is mapped. */
int metrics_render(struct buf *out);

/* Starts the process that serves metrics_listen (libmicrohttpd), when set: forked
 * from a master that already runs as the daemons' user (never root), it binds the
 * address, retrying every few seconds while the other daemon's holds it, so one
 * process per host serves and the other takes over when that daemon stops. Ends with
 * the daemon that started it. Returns the pid, 0 when metrics_listen is empty, -1 if
 * it cannot fork. */
pid_t metrics_serve_start(const struct mss_config *cfg);
/* What a daemon's master calls once, after its privilege drop and before forking
 * sessions: metrics_open of data_dir/run/metrics, then metrics_serve_start. Metrics
 * never stop mail: a failure is logged and the daemon runs on without them. */
void metrics_start(const struct mss_config *cfg);

#endif
