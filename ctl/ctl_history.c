/* ctl_history.c: mssctl history PATIENT: when, who, what, which document. */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "directory/account.h"
#include "vault/vault_history.h"

static int print_entry(const struct vault_history_entry *e, void *arg)
{
	char when[32];
	(*(int *)arg)++;
	vault_history_time(e->time, when, sizeof when);
	printf("%-19s  %-36s  %-40s  %s%s%s\n", when, e->who, e->what, e->document[0] ? e->document : "-",
	       strcmp(e->result, "ok") == 0 ? "" : "  ", strcmp(e->result, "ok") == 0 ? "" : e->result);
	return 0;
}

int ctl_history(struct ctl *c, int argc, char **argv)
{
	struct account a;
	int n = 0;
	if (argc != 2)
		return ctl_usage("usage: history PATIENT");
	if (ctl_open_store(c) != 0)
		return CTL_REFUSED;
	int r = account_get(c->store, argv[1], &a);
	if (r < 0)
		return ctl_fail("history: database error");
	if (r == 0 || a.role != ROLE_PATIENT)
		return ctl_fail("history: %s is not a patient account here", argv[1]);
	printf("%-19s  %-36s  %-40s  %s\n", "WHEN (UTC)", "WHO", "WHAT", "DOCUMENT");
	if (vault_history_foreach(c->store, a.address, 0, print_entry, &n) != 0)
		return ctl_fail("history: database error");
	if (n == 0)
		printf("(nothing recorded)\n");
	return CTL_OK;
}
