/* smtpd.c: mss-smtpd, the SMTP server (MX and submission). See mss-smtpd(8).
 *
 * The master reads the configuration, loads TLS material and the SPF zone, binds the
 * three listeners, then lib/master drops privileges and forks one session per
 * connection (smtp_session.c). */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "audit/audit.h"
#include "lib/master.h"
#include "lib/metrics.h"
#include "lib/str.h"
#include "lib/tls.h"
#include "auth/oauth.h"
#include "policy/policy.h"
#include "smtpd/smtp_session.h"
#include "smtpd/smtp_spf.h"
#include "store/store.h"

static struct mss_config cfg;

static void usage(void)
{
	fprintf(stderr, "usage: mss-smtpd -c FILE [-d]\n");
	exit(2);
}

static void load_config(int argc, char **argv)
{
	const char *path = NULL;
	char err[CONFIG_PATH_MAX + 256];
	int c, foreground = 0;

	while ((c = getopt(argc, argv, "c:d")) != -1) {
		if (c == 'c')
			path = optarg;
		else if (c == 'd')
			foreground = 1;
		else
			usage();
	}
	if (path == NULL || optind != argc)
		usage();
	config_defaults(&cfg);
	if (config_load(&cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "mss-smtpd: %s\n", err);
		exit(1);
	}
	if (foreground)
		cfg.log_stderr = 1;
}

static struct tls_ctx *load_tls(void)
{
	struct tls_server_opts o;
	struct tls_ctx *tls;
	char err[512];

	/* Every listener needs TLS: the MX refuses MAIL before STARTTLS, and
	 * submission never takes a password in the clear. */
	if (!cfg.tls_cert[0] || !cfg.tls_key[0])
		fatal("%s: tls_cert and tls_key are required by mss-smtpd", cfg.path);
	memset(&o, 0, sizeof(o));
	o.cert_file = cfg.tls_cert;
	o.key_file = cfg.tls_key;
	o.ca_file = cfg.tls_ca;
	o.crl_file = cfg.tls_crl;
	o.client_cert = TLS_CLIENT_CERT_OPTIONAL;
	tls = tls_server_ctx_new(&o, err, sizeof(err));
	if (tls == NULL)
		fatal("TLS: %s", err);
	return tls;
}

/* Checks the store as the sessions will use it (as the daemons' user), so that a
 * missing or unwritable data_dir, or a schema this code does not match (mssctl migrate
 * not run after an upgrade), stops the daemon at start with the cause rather than
 * failing every session. */
static void check_store(void)
{
	char err[1024];

	if (policy_store_ready(&cfg, err, sizeof(err)) < 0)
		fatal("store: %s", err);
}

/* A configured file that cannot be read stops the start, naming it and why. */
static void file_problem(void *arg, const char *why)
{
	fatal("%s: %s", (const char *)arg, why);
}

/* A signed audit checkpoint at shutdown, so the log's end is sealed (issue 6). */
static void shutdown_checkpoint(void *arg)
{
	const struct smtpd_ctx *c = arg;
	audit_shutdown_checkpoint(c->cfg);
}

/* SIGHUP (DESIGN.md "Command line contract"): the material reloaded here is used by the
 * sessions forked afterwards; whatever does not load stays as it was. */
static void reload(void *arg)
{
	struct smtpd_ctx *c = arg;

	(void)tls_ctx_sighup(c->tls, "smtpd");
	(void)oauth_keys_sighup(c->cfg, &c->oauth);
}

int main(int argc, char **argv)
{
	struct listener ls[3] = {
	    {"smtp", "", SMTP_KIND_MX, -1},
	    {"submission", "", SMTP_KIND_SUBMISSION, -1},
	    {"submissions", "", SMTP_KIND_SUBMISSIONS, -1},
	};
	struct smtpd_ctx ctx;
	struct master_opts mo;
	char err[512];
	int rc;

	load_config(argc, argv);
	log_open("mss-smtpd", cfg.log_stderr);
	if (crypto_init() < 0)
		fatal("libsodium initialisation failed");
	str_copy(ls[0].addr, sizeof(ls[0].addr), cfg.smtp_listen);
	str_copy(ls[1].addr, sizeof(ls[1].addr), cfg.submission_listen);
	str_copy(ls[2].addr, sizeof(ls[2].addr), cfg.submissions_listen);
	if (!ls[0].addr[0] && !ls[1].addr[0] && !ls[2].addr[0])
		fatal("%s: no listener (smtp_listen, submission_listen, submissions_listen)", cfg.path);

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = &cfg;
	config_check_files(&cfg, file_problem, cfg.path);
	ctx.tls = load_tls();
	ctx.spf = smtp_spf_new(cfg.spf_zone_file, err, sizeof(err));
	if (ctx.spf == NULL)
		fatal("SPF: %s", err);
	if (oauth_keys_for_config(&cfg, &ctx.oauth, err, sizeof(err)) < 0)
		fatal("OAuth: %s", err);
	check_store();
	if (policy_retention_start(&cfg) < 0) /* daily, in its own process */
		fatal("retention: cannot fork");
	if (master_bind(ls, 3, err, sizeof(err)) < 0)
		fatal("%s", err);
	signal(SIGPIPE, SIG_IGN);
	if (master_drop_privileges(cfg.user, err, sizeof(err)) < 0)
		fatal("%s", err);
	metrics_start(&cfg); /* after the drop: never as root */

	memset(&mo, 0, sizeof(mo));
	mo.max_sessions = cfg.max_sessions;
	mo.max_sessions_per_ip = cfg.max_sessions_per_ip;
	mo.user = cfg.user;
	mo.session = smtp_session_main;
	mo.overload = smtp_session_overload;
	mo.on_shutdown = shutdown_checkpoint;
	mo.on_reload = reload;
	mo.sessions_gauge = METRICS_SMTPD_SESSIONS;
	mo.arg = &ctx;
	log_info("smtpd.start", "smtp=%s submission=%s submissions=%s tls=%s",
	         ls[0].addr[0] ? ls[0].addr : "-", ls[1].addr[0] ? ls[1].addr : "-",
	         ls[2].addr[0] ? ls[2].addr : "-", tls_backend());
	rc = master_run(&mo, ls, 3);
	smtp_spf_free(ctx.spf);
	oauth_keys_free(ctx.oauth);
	tls_ctx_free(ctx.tls);
	return rc == 0 ? 0 : 1;
}
