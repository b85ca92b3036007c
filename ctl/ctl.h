/* ctl.h: shared state and helpers of mssctl subcommands.
 *
 * Each subcommand is `int ctl_X(struct ctl *c, int argc, char **argv)` where argv[0]
 * is the subcommand name, and returns the exit status: 0 success, 1 refused (one line
 * on stderr saying why, via ctl_fail), 2 usage error (via ctl_usage). */
#ifndef MSS_CTL_H
#define MSS_CTL_H

#include <stdint.h>

#include "lib/config.h"
#include "store/store.h"
#include "store/store_agent.h"

#define CTL_OK 0
#define CTL_REFUSED 1
#define CTL_USAGE 2

struct ctl {
	struct mss_config cfg;
	struct store *store; /* opened by ctl_open_store */
	int started_as_root; /* mssctl ran as root before switching to the daemons' user */
	/* Started as root: the account key agent forked before the switch (the master key
	 * is root's), and this process's ADMIN channel to it; keys_fd -1 without (keys_err
	 * says why, "" when not root). */
	struct store_agent keys;
	int keys_fd;
	char keys_err[512];
	/* backup: keys/ opened before the switch (ctl_backup_open_keys) */
	struct store_backup_keys backup_keys;
};

/* Opens the store (database and keys) and checks that its schema is this code's
 * (else names mssctl migrate). Returns 0, or prints why and returns -1. */
int ctl_open_store(struct ctl *c);
/* The same without the schema check: for init (creates it) and migrate. */
int ctl_open_store_unchecked(struct ctl *c);
/* Prints "mssctl: <message>" on stderr; returns CTL_REFUSED. */
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "mssctl: <message>" and a usage hint on stderr; returns CTL_USAGE. */
int ctl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Appends an audit record for an administrative action (actor "mssctl"). Returns 0/-1. */
int ctl_audit_action(struct ctl *c, const char *action, const char *target, const char *detail,
                     const char *result, const char *patient);

/* Writes a Unix time as "2026-12-04 21:30:00 UTC" ("never" for 0) into out, which holds at
 * least CTL_DATE_MAX bytes; returns out. */
#define CTL_DATE_MAX 32
const char *ctl_date(int64_t when, char *out, size_t outlen);

int ctl_init(struct ctl *c, int argc, char **argv);
int ctl_account(struct ctl *c, int argc, char **argv);
int ctl_directory(struct ctl *c, int argc, char **argv);
int ctl_trust(struct ctl *c, int argc, char **argv);
int ctl_access(struct ctl *c, int argc, char **argv);
int ctl_history(struct ctl *c, int argc, char **argv);
int ctl_audit(struct ctl *c, int argc, char **argv);
int ctl_migrate(struct ctl *c, int argc, char **argv);
int ctl_config(struct ctl *c, int argc, char **argv);
int ctl_backup(struct ctl *c, int argc, char **argv);
/* Before the switch to the daemons' user: opens keys/ for the backup (master.key is
 * root's, 0400). Returns CTL_OK or prints why and returns CTL_REFUSED. */
int ctl_backup_open_keys(struct ctl *c, int argc, char **argv);
int ctl_retention(struct ctl *c, int argc, char **argv);
int ctl_queue(struct ctl *c, int argc, char **argv);
int ctl_store(struct ctl *c, int argc, char **argv);

#endif
