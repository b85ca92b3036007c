/* ctl_backup.c: mssctl backup DIR: a consistent copy of data_dir while the daemons
 * run (store_backup), recorded in the audit log. Restoring: doc/operations.md. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "lib/str.h"

int ctl_backup(struct ctl *c, int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-')
		return ctl_usage("backup needs a DIR (new or empty)");
	if (argv[1][0] != '/')
		return ctl_usage("backup DIR must be an absolute path");
	if (ctl_open_store(c) < 0)
		return CTL_REFUSED;
	char err[1024], detail[128];
	struct store_backup_report r;
	int rc = store_backup(c->store, argv[1], &c->backup_keys, &r, err, sizeof err);
	if (rc != 0) {
		ctl_audit_action(c, "admin.backup", argv[1], NULL, "failed", NULL);
		return ctl_fail("backup: %s", err);
	}
	if (str_format(detail, sizeof detail, "blobs=%zu keys=%zu", r.blobs, r.keys) != 0)
		detail[0] = '\0';
	ctl_audit_action(c, "admin.backup", argv[1], detail, "ok", NULL);
	printf("backup of %s in %s: database, %zu blobs, %zu keys, MANIFEST\n"
	       "check it with: cd %s && sha256sum -c --quiet MANIFEST\n",
	       c->cfg.data_dir, argv[1], r.blobs, r.keys, argv[1]);
	return CTL_OK;
}

int ctl_backup_open_keys(struct ctl *c, int argc, char **argv)
{
	char err[1024];
	(void)argc;
	(void)argv;
	if (store_backup_keys_open(&c->cfg, &c->backup_keys, err, sizeof err) < 0)
		return ctl_fail("backup: %s%s", err,
		                geteuid() == 0 ? ""
		                               : " (the master key is root's: run mssctl backup as root)");
	return CTL_OK;
}
