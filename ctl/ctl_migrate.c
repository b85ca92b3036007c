/* ctl_migrate.c: mssctl migrate: brings the store's schema up to this code's.
 *
 * mssctl init creates the schema, migrate upgrades it after MSS is upgraded, and the
 * daemons (and mssctl's other commands) refuse to run on an older or newer one, so a
 * schema change always happens once, by the administrator's hand, never as a side
 * effect of a daemon starting. */
#include <stdio.h>

#include "ctl/ctl.h"
#include "policy/policy.h"
#include "lib/str.h"

int ctl_migrate(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	char err[512], detail[64];
	int applied = 0;
	if (argc != 1)
		return ctl_usage("migrate takes no arguments");
	if (ctl_open_store_unchecked(c) < 0)
		return CTL_REFUSED;
	int rc = policy_schema_check(c->store, err, sizeof err);
	if (rc == 0) {
		printf("store schema: up to date\n");
		return CTL_OK;
	}
	if (rc != 1)
		return ctl_fail("%s", err);
	if (policy_schema_migrate(c->store, &applied, err, sizeof err) < 0)
		return ctl_fail("migrate: %s", err);
	if (str_format(detail, sizeof detail, "steps=%d", applied) != 0)
		detail[0] = '\0';
	ctl_audit_action(c, "admin.migrate", c->cfg.data_dir, detail, "ok", NULL);
	printf("store schema: %d migration%s applied\n", applied, applied == 1 ? "" : "s");
	return CTL_OK;
}
