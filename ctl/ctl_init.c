/* ctl_init.c: mssctl init: data directory, keys, database. */
#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdio.h>

#include "ctl/ctl.h"
#include "lib/str.h"
#include "policy/policy.h"

/* Gives data_dir to the daemons' user, so that they can run after dropping root. */
static int chown_tree(const struct mss_config *cfg)
{
	struct passwd *pw = getpwnam(cfg->user);
	if (pw == NULL)
		return ctl_fail("user \"%s\" (config key user) does not exist: create it or change the config",
				cfg->user);
	if (pw->pw_uid == geteuid())
		return 0;
	static const char *const parts[] = {"", "/mss.db", "/blobs", "/keys", "/keys/master.key", "/run"};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		char path[CONFIG_PATH_MAX + 32];
		if (str_format(path, sizeof path, "%s%s", cfg->data_dir, parts[i]) < 0)
			return ctl_fail("data_dir path is too long");
		if (chown(path, pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT)
			return ctl_fail("cannot give %s to %s: %s", path, cfg->user, strerror(errno));
	}
	return 0;
}

int ctl_init(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return ctl_usage("init takes no arguments");
	if (getpwnam(c->cfg.user) == NULL)
		return ctl_fail("user \"%s\" (config key user) does not exist: create it or change the config",
				c->cfg.user);
	char err[1024];
	if (store_create_data_dir(&c->cfg, err, sizeof err) < 0)
		return ctl_fail("%s", err);
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	if (policy_schema_migrate(store_db(c->store), err, sizeof err) < 0)
		return ctl_fail("%s", err);
	int rc = chown_tree(&c->cfg);
	if (rc != 0)
		return rc;
	ctl_audit_action(c, "admin.init", c->cfg.data_dir, NULL, "ok", NULL);
	printf("initialised %s\n", c->cfg.data_dir);
	return CTL_OK;
}
