/* ctl_access.c: mssctl access grant|revoke|block|unblock PATIENT PRO, access list PATIENT. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "directory/account.h"
#include "vault/vault_access.h"
#include "vault/vault_history.h"

static const struct vault_actor ctl_actor = {"mssctl", "local", ""};

struct access_cmd {
	const char *name;
	int (*run)(struct store *st, const struct vault_actor *who, const char *patient, const char *pro,
	           char *err, size_t errlen);
	const char *done; /* printed on success */
};

static const struct access_cmd access_cmds[] = {
    {"grant", vault_access_grant, "granted"},
    {"revoke", vault_access_revoke, "revoked"},
    {"block", vault_access_block, "blocked"},
    {"unblock", vault_access_unblock, "unblocked"},
};

static int list_one(const struct vault_access_entry *e, void *arg)
{
	char since[32] = "-";
	(*(int *)arg)++;
	if (e->granted)
		vault_history_time(e->granted, since, sizeof since);
	/* an inactive entry's grant stays, without effect (vault_may_read): said after it */
	printf("%-40s %-6s %-8s %s%s\n", e->professional, e->rights[0] ? e->rights : "-",
	       e->blocked ? "blocked" : "-", since,
	       e->inactive && e->rights[0] ? "  (suspended: inactive in the directory)" : "");
	return 0;
}

static int access_list(struct ctl *c, const char *patient)
{
	struct account a;
	int n = 0;
	int r = account_get(c->store, patient, &a);
	if (r < 0)
		return ctl_fail("access list: database error");
	if (r == 0 || a.role != ROLE_PATIENT)
		return ctl_fail("access list: %s is not a patient account here", patient);
	printf("%-40s %-6s %-8s %s\n", "PROFESSIONAL", "RIGHTS", "BLOCKED", "GRANTED (UTC)");
	if (vault_access_list(c->store, a.address, list_one, &n) != 0)
		return ctl_fail("access list: database error");
	if (n == 0)
		printf("(no grant and no block)\n");
	return CTL_OK;
}

int ctl_access(struct ctl *c, int argc, char **argv)
{
	char err[256];
	if (argc == 3 && strcmp(argv[1], "list") == 0) {
		if (ctl_open_store(c) != 0)
			return CTL_REFUSED;
		return access_list(c, argv[2]);
	}
	for (size_t i = 0; argc == 4 && i < sizeof access_cmds / sizeof access_cmds[0]; i++) {
		if (strcmp(argv[1], access_cmds[i].name) != 0)
			continue;
		if (ctl_open_store(c) != 0)
			return CTL_REFUSED;
		int r = access_cmds[i].run(c->store, &ctl_actor, argv[2], argv[3], err, sizeof err);
		if (r > 0)
			return ctl_fail("access %s %s %s: %s", argv[1], argv[2], argv[3], err);
		if (r < 0)
			return ctl_fail("access %s: internal error: %s", argv[1], err);
		printf("%s: %s for %s\n", access_cmds[i].done, argv[3], argv[2]);
		return CTL_OK;
	}
	return ctl_usage("usage: access grant|revoke|block|unblock PATIENT PRO | access list PATIENT");
}
