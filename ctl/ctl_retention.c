/* ctl_retention.c: mssctl retention run [--dry-run]: the daemons' daily retention
 * (policy_retention_run), now. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "policy/policy.h"

static void print_action(void *arg, const char *address, const char *action, int64_t idle_days)
{
	const bool *dry = arg;
	printf("%s%s %s (no login for %lld days)\n", *dry ? "would " : "", action, address,
	       (long long)idle_days);
}

int ctl_retention(struct ctl *c, int argc, char **argv)
{
	bool dry = argc == 3 && strcmp(argv[2], "--dry-run") == 0;
	if (argc < 2 || strcmp(argv[1], "run") != 0 || (argc == 3 && !dry) || argc > 3)
		return ctl_usage("retention needs run [--dry-run]");
	if (c->cfg.inactive_delete == 0)
		return ctl_fail("retention is off (inactive_delete = 0)");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	int lock = policy_retention_lock(&c->cfg);
	if (lock < 0)
		return ctl_fail("a retention run is in progress (data_dir/run/retention.lock)");
	struct policy_retention_opts o = {.dry_run = dry, .each = print_action, .arg = &dry};
	struct policy_retention_report r;
	int rc = policy_retention_run(c->store, (int64_t)time(NULL), &o, &r);
	close(lock);
	if (dry)
		printf("retention (dry run): %zu accounts checked, nothing changed\n", r.accounts);
	else
		printf("retention: %zu accounts checked, %zu warned, %zu deleted\n", r.accounts, r.warned,
		       r.deleted);
	return rc == 0 ? CTL_OK : ctl_fail("retention: some accounts could not be handled (see the log)");
}
