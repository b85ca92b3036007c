/* smtpd.c: mss-smtpd, the SMTP server (MX and submission). See mss-smtpd(8).
 *
 * The master reads the configuration, loads TLS material and the SPF zone, binds the
 * three listeners, then lib/master drops privileges and forks one session per
 * connection (smtp_session.c). */

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vault/vault_access.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "audit/audit.h"
#include "lib/master.h"
#include "lib/privsep.h"
#include "lib/slots.h"
#include "lib/metrics.h"
#include "lib/str.h"
#include "lib/tls.h"
#include "auth/oauth.h"
#include "policy/policy.h"
#include "smtpd/committer.h"
#include "smtpd/relay_process.h"
#include "smtpd/smtp_session.h"
#include "smtpd/smtp_spf.h"
#include "store/store.h"
#include "store/store_agent.h"

static struct mss_config cfg;
static struct relay_process relay;         /* the queue process, watched by the master */
static struct committer_process committer; /* MX deliveries' batches (committer.h) */
static int listener_fds[3];

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

/* The TLS files of c. Every listener needs TLS: the MX refuses MAIL before STARTTLS,
 * and submission never takes a password in the clear. Returns 0, or -1 with err. */
static int tls_files_of(const struct mss_config *c, struct tls_files *f, char *err, size_t errlen)
{
	if (!c->tls_cert[0] || !c->tls_key[0]) {
		if (str_format(err, errlen, "%s: tls_cert and tls_key are required by mss-smtpd", c->path) <
		    0)
			str_error(err, errlen, "tls_cert and tls_key are required by mss-smtpd");
		return -1;
	}
	f->cert_file = c->tls_cert;
	f->key_file = c->tls_key;
	f->ca_file = c->tls_ca;
	f->crl_file = c->tls_crl;
	return 0;
}

static struct tls_ctx *load_tls(struct key_agent *agent)
{
	struct tls_server_opts o;
	struct tls_files f;
	struct tls_ctx *tls;
	char err[512];

	if (tls_files_of(&cfg, &f, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* the key stays in the agent (issue 12): neither the master nor a session holds it */
	if (key_agent_start(agent, &cfg, err, sizeof(err)) < 0)
		fatal("TLS: %s", err);
	memset(&o, 0, sizeof(o));
	o.cert_file = f.cert_file;
	o.key_file = f.key_file;
	o.ca_file = f.ca_file;
	o.crl_file = f.crl_file;
	o.client_cert = TLS_CLIENT_CERT_OPTIONAL;
	o.use_key_agent = true;
	o.key_agent_fd = agent->chan;
	o.ticket_lifetime = cfg.smtp_tls_ticket_lifetime;
	o.session_cache = cfg.smtp_tls_session_cache;
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

/* The signer seals the log's end with a checkpoint at shutdown (issue 6) and exits. */
static void shutdown_checkpoint(void *arg)
{
	(void)arg;
	audit_signer_finish();
}

/* The session limits and the password hashing pool of c (at start and on SIGHUP):
 * MX and submission have their own places (issue 12), so idle MX connections cannot
 * lock a professional out of submission. */
static void limits_of(const struct mss_config *c, unsigned pool_max[MASTER_MAX_POOLS])
{
	memset(pool_max, 0, MASTER_MAX_POOLS * sizeof(*pool_max));
	pool_max[0] = c->smtp_max_sessions;
	pool_max[1] = c->submission_max_sessions;
}

static void apply_limits(const struct mss_config *c)
{
	unsigned pool_max[MASTER_MAX_POOLS];

	limits_of(c, pool_max);
	master_set_limits(c->max_sessions, c->max_sessions_per_ip, pool_max);
	master_set_reuse(c->smtp_session_max_use, c->smtp_session_idle_time);
	master_set_account_reuse(c->submission_idle_sessions);
	(void)slots_resize(c->auth_hash_concurrency, c->auth_hash_wait * 1000);
}

/* Each session's own key agent channel (lib/master.h). */
static int session_channel(void *arg)
{
	struct smtpd_ctx *c = arg;

	return key_agent_session_channel(&c->agent);
}

/* Each session process's own channel to the account key agent (store/store_agent.h).
 * Delivery and filing write to public keys (doc/architecture.md, "Who can decrypt";
 * the vaccination book is rebuilt by the patient's own session, vault_vacc.h), so an MX
 * session may have no account key at all; a submission session, the key of the one
 * account that logged in (a patient's profile section sent to themselves reads their
 * Profil, vault_profile_mail.c). */
static int keys_channel(const struct session_info *si, void *arg)
{
	struct smtpd_ctx *c = arg;
	enum store_agent_kind kind = si->listener->kind == SMTP_KIND_MX ? STORE_AGENT_MX : STORE_AGENT_BOUND;

	return store_agent_channel(&c->keys, kind, si->session_id);
}

/* A submission connection whose session process has its own channel, or forks with
 * one when it asks (lib/master_pool.c fork_account): refused at once, as a failed
 * channel is, when the agent is gone for good. */
static bool keys_gone(void *arg)
{
	struct smtpd_ctx *c = arg;

	if (!store_agent_gone(&c->keys))
		return false;
	log_err("keyagent.channel_failed", "error=\"the account key agent is gone\"");
	return true;
}

/* In the committer: the channel of the relay's TLS context, which the master keeps for
 * the queue processes it forks, is not its (it signs nothing). */
static void forget_relay(void *arg)
{
	relay_process_forget(arg);
}

/* In every process the master forks: only the master makes channels. Its control
 * sockets to both agents, its own TLS agent channel and the queue's go, so that no
 * session process can ask for a channel or a signature; a pre-login process signs
 * through the channel it was given (key_agent_enter_session). */
static void child_init(void *arg)
{
	struct smtpd_ctx *c = arg;

	key_agent_close_master(&c->agent);
	relay_process_forget(&relay);
	store_agent_forget(&c->keys);
}

/* SIGHUP's new settings: the file (data_dir, user and the listeners kept: *restart
 * set when they differ) and the SPF zone it names, nothing in force changed yet.
 * Returns 0, or -1 with err. */
static int next_settings(struct mss_config *next, struct smtp_spf **spf, int *restart, char *err,
                         size_t errlen)
{
	char why[CONFIG_PATH_MAX + 256];

	if (config_reload(&cfg, next, restart, err, errlen) < 0)
		return -1;
	*spf = smtp_spf_new(next->spf_zone_file, why, sizeof(why));
	if (*spf == NULL) {
		if (str_format(err, errlen, "SPF: %s", why) < 0)
			str_error(err, errlen, "SPF zone file does not load");
		return -1;
	}
	return 0;
}

/* SIGHUP (DESIGN.md "Command line contract"): the config file, the SPF zone and the TLS
 * material, for the sessions forked afterwards, in the order both daemons share
 * (key_agent_sighup, lib/key_agent.h): everything is loaded before anything changes,
 * and a refused file keeps the old settings whole while the TLS material in force is
 * still re-read, so that a revocation never waits for a good config file. */
static void reload(void *arg)
{
	struct smtpd_ctx *c = arg;
	static struct mss_config next; /* large: not on the stack */
	char err[CONFIG_PATH_MAX + 256];
	struct smtp_spf *spf = NULL;
	struct tls_files f;
	int restart = 0;
	bool ok = next_settings(&next, &spf, &restart, err, sizeof(err)) == 0 &&
	          tls_files_of(&next, &f, err, sizeof(err)) == 0;

	if (!ok)
		key_agent_sighup_failed(err);
	if (key_agent_sighup(&c->agent, c->tls, ok ? &f : NULL, "smtpd") < 0)
		ok = false;
	if (ok) {
		cfg = next;
		apply_limits(&cfg);
		tls_ctx_set_ticket_lifetime(c->tls, cfg.smtp_tls_ticket_lifetime);
		smtp_spf_free(c->spf);
		c->spf = spf;
		spf = NULL;
	}
	smtp_spf_free(spf);
	(void)oauth_keys_sighup(c->cfg, &c->oauth);
	key_agent_sighup_done(ok, restart);
	relay_process_reload(&relay, ok);
	if (ok)
		committer_reload(&committer);
	/* reused MX processes hold the material they were forked with (and the CRL in
	 * force then): the next connections get processes forked with what is in force now */
	master_retire_reused();
}

/* A helper was started again (lib/keeper.h): the master's own TLS key agent channel
 * and the queue process's channels (to both agents) died with the agent that died. The
 * queue process ends its round and the next one starts with new ones, as after SIGHUP. */
static void helper_restart(void *arg)
{
	struct smtpd_ctx *c = arg;

	(void)key_agent_renew(&c->agent, c->tls);
	relay_process_reload(&relay, true);
	committer_reload(&committer);
}

/* The queue process ended: restarted (lib/master.h on_child_exit, relay_process.h). */
static void child_exit(pid_t pid, int status, void *arg)
{
	(void)arg;
	if (!relay_process_exited(&relay, pid, status))
		(void)committer_exited(&committer, pid, status);
}

/* Whether the CRL file changed since the last call (a stat; unreadable counts as a
 * state of its own). The reused MX pre-login processes settled the CRL when they
 * entered their empty root (lib/privsep.h): a new file needs new processes. */
static bool crl_changed(const char *path)
{
	static struct stat last;
	static bool seen;
	struct stat st;

	if (path[0] == '\0')
		return false;
	if (stat(path, &st) < 0)
		memset(&st, 0, sizeof(st));
	bool changed =
	    seen && (st.st_dev != last.st_dev || st.st_ino != last.st_ino || st.st_size != last.st_size ||
	             st.st_mtim.tv_sec != last.st_mtim.tv_sec || st.st_mtim.tv_nsec != last.st_mtim.tv_nsec ||
	             st.st_ctim.tv_sec != last.st_ctim.tv_sec || st.st_ctim.tv_nsec != last.st_ctim.tv_nsec);
	last = st;
	seen = true;
	return changed;
}

static void tick(void *arg)
{
	struct smtpd_ctx *c = arg;

	relay_process_tick(&relay);
	committer_tick(&committer);
	/* a new ticket key or CRL: reused processes hold the old one */
	if (crl_changed(cfg.tls_crl) || tls_ctx_rotate_tickets(c->tls) > 0)
		master_retire_reused();
}

int main(int argc, char **argv)
{
	struct listener ls[3] = {
	    /* the MX's pairs are reused whole; on submission only the pre-login process is:
	       a submission session process is bound to the account that logged in and ends
	       with its connection (master.h reuse) */
	    {"smtp", "", SMTP_KIND_MX, -1, 0, MASTER_REUSE_PAIR},
	    {"submission", "", SMTP_KIND_SUBMISSION, -1, 1, MASTER_REUSE_PRELOGIN},
	    {"submissions", "", SMTP_KIND_SUBMISSIONS, -1, 1, MASTER_REUSE_PRELOGIN},
	};
	struct smtpd_ctx ctx;
	struct master_opts mo;
	char err[512];
	int rc;

	load_config(argc, argv);
	vault_readers_install(); /* who besides the owner reads a message (blob_keys) */
	/* every file made from here on is 0600 / every directory 0700 (issue 12) */
	umask(077);
	log_open("mss-smtpd", cfg.log_stderr);
	if (crypto_init() < 0)
		fatal("libsodium initialisation failed");
	str_assert(str_copy(ls[0].addr, sizeof(ls[0].addr), cfg.smtp_listen), "CONFIG_STR_MAX into 256");
	str_assert(str_copy(ls[1].addr, sizeof(ls[1].addr), cfg.submission_listen),
	           "CONFIG_STR_MAX into 256");
	str_assert(str_copy(ls[2].addr, sizeof(ls[2].addr), cfg.submissions_listen),
	           "CONFIG_STR_MAX into 256");
	if (!ls[0].addr[0] && !ls[1].addr[0] && !ls[2].addr[0])
		fatal("%s: no listener (smtp_listen, submission_listen, submissions_listen)", cfg.path);

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = &cfg;
	config_check_files(&cfg, file_problem, cfg.path);
	ctx.tls = load_tls(&ctx.agent);
	ctx.spf = smtp_spf_new(cfg.spf_zone_file, err, sizeof(err));
	if (ctx.spf == NULL)
		fatal("SPF: %s", err);
	if (oauth_keys_for_config(&cfg, &ctx.oauth, err, sizeof(err)) < 0)
		fatal("OAuth: %s", err);
	check_store();
	/* the store first (in a child as user): a data_dir not initialised is named as such
	 * before login_root is made in it */
	if (privsep_prepare(&cfg, &ctx.privsep, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (policy_retention_start(&cfg) < 0) /* daily, in its own process */
		fatal("retention: cannot fork");
	/* Forked before the privilege drop: the master key is root's (issue 12). */
	store_master_key_warn(&cfg);
	if (store_agent_start(&ctx.keys, &cfg, err, sizeof(err)) < 0)
		fatal("%s", err);

	/* the queue process: forked before binding (it keeps no listener); one restarted
	 * later by the master closes the listeners first */
	if (relay_process_start(&relay, &cfg, &ctx.agent, &ctx.keys, err, sizeof(err)) < 0)
		fatal("relay: %s", err[0] ? err : "cannot fork the queue process");
	/* the committer likewise: forked before binding, a later one closes the listeners */
	committer.child_init = forget_relay;
	committer.child_arg = &relay;
	if (committer_start(&committer, &cfg, &ctx.agent, &ctx.keys) < 0)
		fatal("committer: cannot fork");
	if (master_bind(ls, 3, err, sizeof(err)) < 0)
		fatal("%s", err);
	for (size_t i = 0; i < 3; i++)
		listener_fds[i] = ls[i].fd;
	relay.close_fds = listener_fds;
	relay.nclose = 3;
	committer.close_fds = listener_fds;
	committer.nclose = 3;
	signal(SIGPIPE, SIG_IGN);
	/* Forked before the privilege drop: the audit key is not the daemons' user's
	 * (issue 12). */
	if (audit_signer_start(&cfg, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* one pool of password-hashing places for all sessions (issue 12) */
	if (slots_init(cfg.auth_hash_concurrency, cfg.auth_hash_wait * 1000) < 0)
		fatal("cannot make the password hashing pool");
	/* Dropped before the start is logged, so that "started" means "running as user". */
	if (privsep_drop(&ctx.privsep, cfg.user, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (store_agent_check(&ctx.keys, &cfg, err, sizeof(err)) < 0)
		fatal("store: %s", err);
	metrics_start(&cfg); /* after the drop: never as root */

	memset(&mo, 0, sizeof(mo));
	mo.max_sessions = cfg.max_sessions;
	mo.max_sessions_per_ip = cfg.max_sessions_per_ip;
	limits_of(&cfg, mo.pool_max);
	master_set_reuse(cfg.smtp_session_max_use, cfg.smtp_session_idle_time);
	master_set_account_reuse(cfg.submission_idle_sessions);
	(void)crl_changed(cfg.tls_crl); /* the state the first processes settle */
	mo.user = cfg.user;
	mo.session = smtp_session_main;
	mo.privsep = &ctx.privsep;
	mo.prelogin = smtp_session_prelogin;
	mo.reused_end = smtp_session_reused_end;
	mo.session_channel = session_channel;
	mo.keys_channel = keys_channel;
	mo.keys_gone = keys_gone;
	mo.child_init = child_init;
	mo.overload = smtp_session_overload;
	mo.on_shutdown = shutdown_checkpoint;
	mo.on_reload = reload;
	mo.on_child_exit = child_exit;
	mo.on_tick = tick;
	mo.on_helper_restart = helper_restart;
	mo.sessions_gauge = METRICS_SMTPD_SESSIONS;
	mo.arg = &ctx;
	log_info("smtpd.start", "smtp=%s submission=%s submissions=%s tls=%s",
	         ls[0].addr[0] ? ls[0].addr : "-", ls[1].addr[0] ? ls[1].addr : "-",
	         ls[2].addr[0] ? ls[2].addr : "-", tls_backend());
	rc = master_run(&mo, ls, 3);
	smtp_spf_free(ctx.spf);
	oauth_keys_free(ctx.oauth);
	tls_ctx_free(ctx.tls);
	relay_process_free(&relay);
	return rc == 0 ? 0 : 1;
}
