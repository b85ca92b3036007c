/* ctl_store.c: mssctl store sweep [--dry-run]: mss-smtpd's periodic blob sweep
 * (store_blob_sweep_pass), a whole round now. */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

static void print_file(void *arg, const char *path)
{
	const bool *dry = arg;
	printf("%s %s\n", *dry ? "would remove" : "removed", path);
}

static int sweep(struct ctl *c, bool dry)
{
	char err[1024];
	struct store_sweep at = {0};
	struct store_sweep_opts o = {
	    .min_age = c->cfg.store_blob_sweep_age, .dry_run = dry, .each = print_file, .arg = &dry};
	struct store_sweep_report r;
	/* max_files 0: the whole round in one pass, from 00 (mssctl holds nothing the
	 * daemons wait for: a directory's lookups share one read transaction, no write lock) */
	int rc = store_blob_sweep_pass(c->store, &at, &o, &r, err, sizeof err);
	printf("store sweep%s: %zu blob files looked at, %zu %s, %zu could not be removed\n",
	       dry ? " (dry run)" : "", r.looked, r.removed, dry ? "would be removed" : "removed", r.failed);
	if (rc == 0)
		return CTL_OK;
	if (r.failed > 0)
		return ctl_fail("%s (blob_dir and its files must belong to the daemons' user, %s: "
		                "give them back to it with chown -R, then run mssctl store sweep again)",
		                err, c->cfg.user);
	return ctl_fail("%s (check that blob_dir is readable by the daemons' user, %s, and that the "
	                "database answers, then run mssctl store sweep again)",
	                err, c->cfg.user);
}

int ctl_store(struct ctl *c, int argc, char **argv)
{
	bool dry = argc == 3 && strcmp(argv[2], "--dry-run") == 0;
	if (argc < 2 || strcmp(argv[1], "sweep") != 0 || (argc == 3 && !dry) || argc > 3)
		return ctl_usage("store needs sweep [--dry-run]");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	return sweep(c, dry);
}
