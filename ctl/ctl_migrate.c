/* ctl_migrate.c: mssctl migrate: brings the store's schema up to this code's.
 *
 * mssctl init creates the schema, migrate upgrades it after MSS is upgraded, and the
 * daemons (and mssctl's other commands) refuse to run on an older or newer one, so a
 * schema change always happens once, by the administrator's hand, never as a side
 * effect of a daemon starting. */
#include <stdio.h>
#include <sys/stat.h>

#include "ctl/ctl.h"
#include "policy/policy.h"
#include "queue/queue.h"
#include "vault/vault_access.h"
#include "lib/str.h"

/* Messages stored in plaintext by an older MSS get their metadata sealed (issue 12),
 * also when an earlier migrate was cut short after the schema step. */
static int seal_metadata(struct ctl *c)
{
	char err[512], detail[64];
	size_t sealed = 0;
	if (store_meta_seal_all(c->store, &sealed, err, sizeof err) < 0)
		return ctl_fail("migrate: sealing message metadata: %s", err);
	if (sealed == 0)
		return CTL_OK;
	if (str_format(detail, sizeof detail, "sealed=%zu", sealed) != 0)
		detail[0] = '\0';
	ctl_audit_action(c, "admin.migrate", c->cfg.data_dir, detail, "ok", NULL);
	printf("store metadata: %zu message%s sealed\n", sealed, sealed == 1 ? "" : "s");
	return CTL_OK;
}

/* Accounts made before store migration 8 get their key pair's public half, so that
 * delivery to them needs no secret (issue 12); also when an earlier migrate was cut
 * short after the schema step. Their old messages stay under the account key. */
static int fill_keypairs(struct ctl *c)
{
	char err[512], detail[64];
	size_t filled = 0;
	if (store_keypairs_fill(c->store, &filled, err, sizeof err) < 0)
		return ctl_fail("migrate: account key pairs: %s", err);
	if (filled == 0)
		return CTL_OK;
	if (str_format(detail, sizeof detail, "keypairs=%zu", filled) != 0)
		detail[0] = '\0';
	ctl_audit_action(c, "admin.migrate", c->cfg.data_dir, detail, "ok", NULL);
	printf("account key pairs: %zu made\n", filled);
	return CTL_OK;
}

/* Grants made before store migration 9: each granted document's key sealed to the
 * professional too (blob_keys), so that the professional never needs the patient's
 * key (a document of the old form, under the patient's account key, is first
 * rewritten under a key of its own); rows no longer due (a revocation, a mask)
 * removed. */
static int fill_readers(struct ctl *c)
{
	char err[512], detail[64];
	struct store_readers_report rep;
	if (vault_readers_fill_all(c->store, &rep, err, sizeof err) < 0)
		return ctl_fail("migrate: readers' message keys: %s", err);
	if (rep.added == 0 && rep.removed == 0 && rep.rekeyed == 0)
		return CTL_OK;
	if (str_format(detail, sizeof detail, "reader_keys=%zu removed=%zu rekeyed=%zu", rep.added,
	               rep.removed, rep.rekeyed) != 0)
		detail[0] = '\0';
	ctl_audit_action(c, "admin.migrate", c->cfg.data_dir, detail, "ok", NULL);
	if (rep.rekeyed > 0)
		printf("shared messages of the old form: %zu rewritten under keys of their own\n",
		       rep.rekeyed);
	printf("readers' message keys: %zu made, %zu removed\n", rep.added, rep.removed);
	return CTL_OK;
}

/* Account keys wrapped by an older MSS (bound to no account) are wrapped again for
 * their account (issue 12: the key agent has no database to check whose a wrapped key
 * is); also when an earlier migrate was cut short after the schema step. First: the
 * passes after it read account keys. */
static int bind_wraps(struct ctl *c)
{
	char err[512], detail[64];
	size_t bound = 0;
	if (store_wraps_bind(c->store, &bound, err, sizeof err) < 0)
		return ctl_fail("migrate: account keys: %s", err);
	if (bound == 0)
		return CTL_OK;
	if (str_format(detail, sizeof detail, "wraps=%zu", bound) != 0)
		detail[0] = '\0';
	ctl_audit_action(c, "admin.migrate", c->cfg.data_dir, detail, "ok", NULL);
	printf("account keys: %zu wrapped for their account\n", bound);
	return CTL_OK;
}

/* Messages queued by an older MSS, under the master key's "mssqueue" subkey, written
 * again under keys of their own sealed to the queue's public key (issue 12: only the
 * queue process reads the queue); also when an earlier migrate was cut short. */
static int reseal_queue(struct ctl *c)
{
	char err[512], detail[64];
	size_t resealed = 0;
	if (queue_reseal_all(c->store, &resealed, err, sizeof err) < 0)
		return ctl_fail("migrate: outbound queue: %s", err);
	if (resealed == 0)
		return CTL_OK;
	if (str_format(detail, sizeof detail, "queue_resealed=%zu", resealed) != 0)
		detail[0] = '\0';
	ctl_audit_action(c, "admin.migrate", c->cfg.data_dir, detail, "ok", NULL);
	printf("outbound queue: %zu message%s resealed\n", resealed, resealed == 1 ? "" : "s");
	return CTL_OK;
}

/* The master key file should be root's alone (0400): the daemons started as root read
 * it in their key agent, never as their user. Said, not changed: daemons started as
 * their user (no privilege separation) read it themselves. */
static void master_key_private(struct ctl *c)
{
	char path[CONFIG_PATH_MAX + 64];
	struct stat sb;

	if (config_master_key_file(&c->cfg, path, sizeof path) < 0 || stat(path, &sb) < 0 ||
	    (sb.st_uid == 0 && !(sb.st_mode & 0277)))
		return;
	fprintf(stderr,
	        "mssctl: warning: %s is readable or writable by more than root (owner %ld, mode %03o): "
	        "the daemons' user should not read it; fix: chown root:root %s && chmod 0400 %s\n",
	        path, (long)sb.st_uid, (unsigned)(sb.st_mode & 0777), path, path);
}

/* The passes over existing data, after the schema step. */
static int migrate_data(struct ctl *c)
{
	int rc = bind_wraps(c);
	master_key_private(c);
	if (rc == CTL_OK)
		rc = fill_keypairs(c);
	if (rc == CTL_OK)
		rc = seal_metadata(c);
	if (rc == CTL_OK)
		rc = reseal_queue(c);
	return rc != CTL_OK ? rc : fill_readers(c);
}

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
		return migrate_data(c);
	}
	if (rc != 1)
		return ctl_fail("%s", err);
	if (policy_schema_migrate(c->store, &applied, err, sizeof err) < 0)
		return ctl_fail("migrate: %s", err);
	if (str_format(detail, sizeof detail, "steps=%d", applied) != 0)
		detail[0] = '\0';
	ctl_audit_action(c, "admin.migrate", c->cfg.data_dir, detail, "ok", NULL);
	printf("store schema: %d migration%s applied\n", applied, applied == 1 ? "" : "s");
	return migrate_data(c);
}
