/* mssctl: the administration tool (see doc/mssctl.8). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vault/vault_access.h"
#include "ctl/ctl.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/master.h"
#include "lib/str.h"
#include "audit/audit.h"
#include "policy/policy.h"

struct ctl_command {
	const char *name;
	int (*run)(struct ctl *c, int argc, char **argv);
	const char *usage;
	/* Runs with the invoker's privileges: init (creates data_dir and gives it to user)
	 * and config (reads the TLS files as the daemons' masters do, then checks the store
	 * as user in a child process). Every other command switches to user first. */
	bool keep_privileges;
	/* What a command must do with the invoker's privileges before that switch: backup
	 * opens keys/ (root's). NULL: nothing. */
	int (*before_switch)(struct ctl *c, int argc, char **argv);
};

/* usage: one line per form, separated by '\n' (mssctl -h prints them all). */
static const struct ctl_command commands[] = {
    {"init", ctl_init, "init", true, NULL},
    {"account", ctl_account,
     "account add ADDRESS --role patient|professional|organisation [--name NAME] [--rpps ID]\n"
     "      [--finess ID] [--cert-sha256 HEX] [--password-stdin]\n"
     "account list\n"
     "account show|disable|enable|delete ADDRESS\n"
     "account passwd ADDRESS --password-stdin\n"
     "account set-cert ADDRESS --cert-sha256 HEX",
     false, NULL},
    {"directory", ctl_directory,
     "directory import FILE [--strict]\n"
     "directory show ADDRESS\n"
     "directory search TEXT [--limit N]\n"
     "directory disable|enable ADDRESS",
     false, NULL},
    {"trust", ctl_trust, "trust import FILE\ntrust list", false, NULL},
    {"access", ctl_access, "access grant|revoke|block|unblock PATIENT PRO\naccess list PATIENT", false, NULL},
    {"history", ctl_history, "history PATIENT", false, NULL},
    {"audit", ctl_audit, "audit verify [--anchor FILE|-]\naudit anchor", false, NULL},
    {"migrate", ctl_migrate, "migrate", false, NULL},
    {"config", ctl_config, "config check\nconfig show", true, NULL},
    {"backup", ctl_backup, "backup DIR", false, ctl_backup_open_keys},
    {"retention", ctl_retention, "retention run [--dry-run]", false, NULL},
    {"queue", ctl_queue, "queue list\nqueue show|delete ID\nqueue flush [ID]", false, NULL},
    {"store", ctl_store, "store sweep [--dry-run]", false, NULL},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char default_config[] = MSS_CONFIG_FILE; /* configure --with-config-file */

static void usage(FILE *f)
{
	fprintf(f, "usage: mssctl [-c FILE] COMMAND ...   (default FILE: %s)\ncommands:\n", default_config);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		for (const char *p = commands[i].usage; *p;) {
			size_t n = strcspn(p, "\n");
			fprintf(f, "  %.*s\n", (int)n, p);
			p += n + (p[n] == '\n');
		}
	}
}

int ctl_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("mssctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CTL_REFUSED;
}

int ctl_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("mssctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (mssctl -h for usage)\n", stderr);
	va_end(ap);
	return CTL_USAGE;
}

/* As the daemons' user with an agent: the store without the master key, account keys
 * over the ADMIN channel, the agent's key checked against the store's. */
static struct store *open_with_agent(struct ctl *c, char *err, size_t errlen)
{
	if (store_agent_check(&c->keys, &c->cfg, err, errlen) < 0)
		return NULL;
	struct store *st = store_open_nokeys(&c->cfg, err, errlen);
	if (st == NULL)
		return NULL;
	store_use_agent(st, c->keys_fd);
	c->keys_fd = -1; /* the store's now */
	return st;
}

int ctl_open_store_unchecked(struct ctl *c)
{
	if (c->store)
		return 0;
	char err[512];
	c->store =
	    c->keys_fd >= 0 ? open_with_agent(c, err, sizeof err) : store_open(&c->cfg, err, sizeof err);
	if (c->store == NULL) {
		if (c->keys_err[0]) /* the agent's reason says more than "permission denied" */
			ctl_fail("%s", c->keys_err);
		else
			ctl_fail("%s", err);
		return -1;
	}
	return 0;
}

/* Started as root, for a command run as the daemons' user: the account key agent, as
 * the daemons fork theirs (issue 12). A failure is only remembered: commands that
 * open no store do not need it. */
static void start_keys(struct ctl *c)
{
	c->keys.ctl = c->keys_fd = -1;
	if (geteuid() != 0)
		return;
	if (store_agent_start(&c->keys, &c->cfg, c->keys_err, sizeof c->keys_err) < 0)
		return;
	c->keys_fd = store_agent_channel(&c->keys, STORE_AGENT_ADMIN, "mssctl");
}

int ctl_open_store(struct ctl *c)
{
	char err[512];
	if (ctl_open_store_unchecked(c) < 0)
		return -1;
	if (policy_schema_check(c->store, err, sizeof err) != 0) {
		ctl_fail("%s", err);
		return -1;
	}
	return 0;
}

int ctl_audit_action(struct ctl *c, const char *action, const char *target, const char *detail,
                     const char *result, const char *patient)
{
	char err[256];
	struct audit_event ev = {.actor = "mssctl",
	                         .auth = "local",
	                         .action = action,
	                         .target = target,
	                         .detail = detail,
	                         .result = result,
	                         .peer = "",
	                         .patient = patient ? patient : ""};
	if (audit_append(c->store, &ev, err, sizeof err) < 0) {
		fprintf(stderr, "mssctl: warning: audit record not written: %s\n", err);
		return -1;
	}
	return 0;
}

const char *ctl_date(int64_t when, char *out, size_t outlen)
{
	struct tm tm;
	time_t t = (time_t)when;
	if (when <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		str_assert(str_copy(out, outlen, when <= 0 ? "never" : "?"), "out holds CTL_DATE_MAX bytes");
	return out;
}

static const struct ctl_command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const char *conf = default_config;
	int opt;
	vault_readers_install(); /* who besides the owner reads a message (blob_keys) */
	while ((opt = getopt(argc, argv, "+c:h")) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	const struct ctl_command *cmd = find_command(argv[optind]);
	if (cmd == NULL)
		return ctl_usage("unknown command \"%s\"", argv[optind]);
	log_open("mssctl", 1);
	/* every file made from here on is 0600 / every directory 0700 (issue 12) */
	umask(077);
	if (crypto_init() < 0)
		return ctl_fail("libsodium could not be initialised");
	struct ctl c;
	memset(&c, 0, sizeof c);
	config_defaults(&c.cfg);
	char err[1024];
	if (config_load(&c.cfg, conf, err, sizeof err) < 0)
		return ctl_fail("%s", err);
	/* The audit signer keeps mssctl's starting identity (root): the daemons' user
	 * cannot read the audit key it holds (issue 12). */
	if (audit_signer_start(&c.cfg, err, sizeof err) < 0)
		return ctl_fail("%s", err);
	c.started_as_root = geteuid() == 0;
	if (!cmd->keep_privileges)
		start_keys(&c);
	else
		c.keys.ctl = c.keys_fd = -1;
	if (cmd->before_switch != NULL && cmd->before_switch(&c, argc - optind, argv + optind) != CTL_OK) {
		audit_signer_finish();
		return CTL_REFUSED;
	}
	/* Everything but init works as the daemons' user, so that no file mssctl creates
	 * (database journal, blobs, keys) ends up owned by root and unusable by them. */
	if (!cmd->keep_privileges && master_drop_privileges(c.cfg.user, err, sizeof err) < 0) {
		store_backup_keys_close(&c.backup_keys);
		audit_signer_finish();
		return ctl_fail("%s", err);
	}
	int rc = cmd->run(&c, argc - optind, argv + optind);
	store_backup_keys_close(&c.backup_keys);
	if (c.store)
		store_close(c.store);
	if (c.keys_fd >= 0)
		close(c.keys_fd);
	store_agent_forget(&c.keys); /* the agent ends with it */
	audit_signer_finish();       /* signs this run's records and seals them with a checkpoint */
	return rc;
}
