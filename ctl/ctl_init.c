/* ctl_init.c: mssctl init: data directory, keys, database. */
#include <errno.h>
#include <ftw.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdio.h>

#include "audit/audit.h"
#include "ctl/ctl.h"
#include "lib/str.h"
#include "policy/policy.h"

static uid_t owner_uid;
static gid_t owner_gid;

/* audit.key, audit.pub, and the temporary files they are written to (".audit.key.PID"),
 * since the signer may be creating them while init walks the tree. */
static int is_audit_key(const char *name)
{
	if (name[0] == '.')
		name++;
	return strncmp(name, "audit.key", 9) == 0 || strncmp(name, "audit.pub", 9) == 0;
}

static int give_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	/* The audit key pair stays with whoever runs init (root): only the audit signer,
	 * which keeps that identity, may sign (issue 12). */
	const char *name = path + ftw->base;
	if (ftw->level == 2 && is_audit_key(name) && ftw->base >= 5 &&
	    strncmp(path + ftw->base - 5, "keys/", 5) == 0)
		return 0;
	/* So does the master key (0400): the daemons' account key agent reads it as root,
	 * their user never (issue 12). */
	if (ftw->level == 2 && strcmp(name, "master.key") == 0 && ftw->base >= 5 &&
	    strncmp(path + ftw->base - 5, "keys/", 5) == 0)
		return 0;
	if (lchown(path, owner_uid, owner_gid) < 0) {
		ctl_fail("cannot give %s to the daemons' user: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Gives the data_dir to the daemons' user, as the last step of init, so that every
 * file init made (database, blobs) is theirs; but not the audit key pair nor the
 * master key. */
static int chown_tree(const struct mss_config *cfg)
{
	struct passwd *pw = getpwnam(cfg->user);
	if (pw == NULL)
		return ctl_fail(
		    "user \"%s\" (config key user) does not exist: create it or change the config",
		    cfg->user);
	if (pw->pw_uid == geteuid())
		return 0;
	owner_uid = pw->pw_uid;
	owner_gid = pw->pw_gid;
	return nftw(cfg->data_dir, give_one, 16, FTW_PHYS) == 0 ? 0 : CTL_REFUSED;
}

int ctl_init(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return ctl_usage("init takes no arguments");
	if (getpwnam(c->cfg.user) == NULL)
		return ctl_fail(
		    "user \"%s\" (config key user) does not exist: create it or change the config",
		    c->cfg.user);
	char err[1024];
	if (store_create_data_dir(&c->cfg, err, sizeof err) < 0)
		return ctl_fail("%s", err);
	if (ctl_open_store_unchecked(c) < 0)
		return CTL_REFUSED;
	if (policy_schema_migrate(c->store, NULL, err, sizeof err) < 0)
		return ctl_fail("%s", err);
	ctl_audit_action(c, "admin.init", c->cfg.data_dir, NULL, "ok", NULL);
	store_close(c->store); /* closes the database so that no journal is left behind */
	c->store = NULL;
	/* The signer (root) signs admin.init and ends before the walk: a file it created
	 * after nftw had read the directory (mss.db-sync, -wal, -shm while mss.db was still
	 * root's) stayed root's 0600, and every later mssctl, as the daemons' user, got
	 * "Permission denied". */
	audit_signer_finish();
	int rc = chown_tree(&c->cfg);
	if (rc != 0)
		return rc;
	printf("initialised %s\n", c->cfg.data_dir);
	return CTL_OK;
}
