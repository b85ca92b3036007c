/* imapd.c: mss-imapd: reads the config, binds imap_listen (STARTTLS) and imaps_listen
 * (implicit TLS), loads the TLS material, drops privileges, and runs one process per
 * connection (lib/master). Usage: mss-imapd -c FILE [-d]. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vault/vault_access.h"
#include "auth/auth_chan.h"
#include "auth/oauth.h"
#include "imapd/imap_cmd.h"
#include "imapd/imap_reader.h"
#include "imapd/imap_session.h"
#include "imapd/imap_vault.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "audit/audit.h"
#include "lib/master.h"
#include "lib/privsep.h"
#include "lib/slots.h"
#include "lib/key_agent.h"
#include "lib/metrics.h"
#include "lib/str.h"
#include "policy/policy.h"
#include "store/store_agent.h"

enum { LISTEN_IMAP = 0, LISTEN_IMAPS = 1 };

struct imapd {
	struct mss_config cfg;
	struct tls_ctx *tls;
	struct oauth_keys *oauth;
	struct key_agent agent;  /* signs for tls: no process but the agent holds the key */
	struct store_agent keys; /* unwraps account keys: no process but it holds the master key */
	struct privsep privsep;  /* the pre-login processes' confinement */
};

static void usage(void)
{
	fprintf(stderr, "usage: mss-imapd -c FILE [-d]\n");
	exit(2);
}

/* The signer seals the log's end with a checkpoint at shutdown (issue 6) and exits. */
static void shutdown_checkpoint(void *arg)
{
	(void)arg;
	audit_signer_finish();
}

/* The client's side of a session: the handshake (implicit TLS) and the session setup
 * shared by the one-process layout and the pre-login process. Returns 0, or -1 when
 * the session is over (logged). */
static int session_start(struct imapd *d, struct imap_session *s, int fd, const struct session_info *si)
{
	char err[256];

	/* handshakes sign through this session's own agent channel (issue 12) */
	if (key_agent_enter_session(&d->agent, d->tls, si->channel_fd) < 0) {
		log_err("imap.key_agent", "peer=%s error=\"no key agent channel\"", si->peer_ip);
		close(fd);
		return -1;
	}
	memset(s, 0, sizeof(*s));
	s->cfg = &d->cfg;
	s->tls = d->tls;
	s->oauth = d->oauth;
	s->auth_fd = -1;
	s->implicit_tls = si->listener->kind == LISTEN_IMAPS;
	s->conn = conn_new(fd, si->peer_ip);
	signal(SIGPIPE, SIG_IGN);
	metrics_count1(METRICS_SESSIONS, si->listener->name);
	if (!s->implicit_tls)
		return 0;
	conn_set_timeout(s->conn, d->cfg.tls_handshake_timeout);
	if (conn_start_tls(s->conn, d->tls, err, sizeof(err)) < 0) {
		log_info("imap.tls_failed", "peer=%s error=\"%s\"", si->peer_ip, err);
		conn_free(s->conn);
		return -1;
	}
	return 0;
}

static void session_end(struct imap_session *s, const struct session_info *si)
{
	log_info("imap.disconnect", "peer=%s user=%s", si->peer_ip,
	         s->state == IMAP_STATE_NOT_AUTH ? "-" : s->account.address);
	store_close(s->store);
	conn_free(s->conn);
}

/* Without privilege separation (not started as root): the whole session in this
 * process, the store opened after fork (one database connection per session). */
static void session_whole(struct imapd *d, int fd, const struct session_info *si)
{
	struct imap_session s;
	char err[256];

	if (session_start(d, &s, fd, si) < 0)
		return;
	/* without the master key: account keys from the account key agent */
	s.store = store_open_nokeys(&d->cfg, err, sizeof(err));
	if (s.store == NULL) {
		log_err("imap.store_open", "error=\"%s\"", err);
		conn_puts(s.conn, "* BYE Service temporarily unavailable\r\n");
		conn_flush(s.conn);
		conn_free(s.conn);
		return;
	}
	store_use_agent(s.store, si->keys_fd);
	store_agent_bind(s.store);
	imap_login_tls_ready(&s);
	log_info("imap.connect", "peer=%s listener=%s", si->peer_ip, si->listener->name);
	imap_session_run(&s);
	session_end(&s, si);
}

/* The pre-login process (lib/privsep.h), forked by the master: chrooted, login_user,
 * no database; it asks its session process whether a login is good (si->auth_fd),
 * then relays cleartext to it (si->relay_fd). */
static void prelogin(int fd, const struct session_info *si, void *arg)
{
	struct imapd *d = arg;
	struct imap_session s;
	if (privsep_prelogin_begin(&d->privsep, fd, si, &d->agent, d->tls) < 0)
		return;
	if (session_start(d, &s, fd, si) < 0)
		return;
	s.auth_fd = si->auth_fd;
	imap_login_tls_ready(&s);
	log_info("imap.connect", "peer=%s listener=%s", si->peer_ip, si->listener->name);
	imap_session_run(&s);
	close(si->auth_fd);
	if (s.state == IMAP_STATE_AUTH) {
		imap_release_memory(&s); /* from here on a relay: the login's memory goes back */
		if (d->cfg.imap_relay_batch && privsep_relay_batch() < 0)
			log_warn("imap.relay_batch",
			         "peer=%s error=\"SCHED_BATCH: %s (imap_relay_batch = no stops trying)\"",
			         si->peer_ip, strerror(errno));
		privsep_relay(s.conn, si->relay_fd, d->cfg.imap_idle_timeout);
	}
	close(si->relay_fd);
	conn_free(s.conn);
}

/* Until a login: answers the pre-login process's requests. Returns 1 logged in (ok
 * says who), 0 when the connection ended before, -1 when the pre-login process sent
 * a forged message (logged). SIGTERM reaches the pre-login process from the master:
 * it says BYE and closes the channel. */
static int serve_logins(struct imap_session *s, const struct session_info *si, struct auth_reply *ok)
{
	struct auth_ctx c = {s->store, s->cfg, s->oauth, false, NULL};

	for (;;) {
		if (!auth_chan_wait(si->auth_fd))
			return 0;
		enum auth_chan_served sv = auth_chan_serve(si->auth_fd, (pid_t)si->prelogin_pid, &c, ok);
		if (sv == AUTH_CHAN_LOGGED_IN)
			return 1;
		if (sv == AUTH_CHAN_REFUSED)
			return -1;
		if (sv != AUTH_CHAN_ANSWERED)
			return 0;
	}
}

/* The session process (the daemons' user, the database): verifies its pre-login
 * process's logins, then runs the logged-in session on the cleartext relayed. */
static void session_split(struct imapd *d, const struct session_info *si)
{
	struct imap_session s;
	struct auth_reply ok;
	char err[256];
	int rc;

	/* the pre-login process runs every handshake: here the server's TLS context is only
	 * what it would give away (its ticket key), so it goes */
	tls_ctx_free(d->tls);
	d->tls = NULL;
	memset(&s, 0, sizeof(s));
	s.cfg = &d->cfg;
	s.oauth = d->oauth;
	s.auth_fd = -1;
	s.implicit_tls = si->listener->kind == LISTEN_IMAPS;
	/* never the master key here: account keys come from the account key agent over this
	 * process's own channel */
	s.store = store_open_nokeys(&d->cfg, err, sizeof(err));
	if (s.store == NULL) {
		log_err("imap.store_open", "error=\"%s\"", err);
		return; /* the pre-login process sees its channel close: BYE */
	}
	store_use_agent(s.store, si->keys_fd);
	store_agent_bind(s.store);
	rc = serve_logins(&s, si, &ok);
	close(si->auth_fd);
	if (rc != 1) {
		store_close(s.store);
		close(si->relay_fd);
		if (rc < 0)
			_exit(MASTER_EXIT_PEER_REFUSED); /* the master ends the pre-login process */
		return;
	}
	imap_login_done(&s, &ok);
	imap_vault_refresh(&s); /* at login, as imap_cmd_dispatch does in one process */
	s.conn = conn_new(si->relay_fd, si->peer_ip);
	imap_session_run(&s);
	session_end(&s, si);
}

static void session(int fd, const struct session_info *si, void *arg)
{
	struct imapd *d = arg;
	char sid[LOG_SESSION_ID_SIZE];

	if (si->auth_fd >= 0) { /* the master named the session for both processes */
		session_split(d, si);
		return;
	}
	log_new_session_id(sid);
	log_set_session(sid); /* every line of this session process names it */
	session_whole(d, fd, si);
}

/* Each session's own key agent channel (lib/master.h). */
static int session_channel(void *arg)
{
	struct imapd *d = arg;

	return key_agent_session_channel(&d->agent);
}

/* Each session process's own channel to the account key agent (store/store_agent.h),
 * bound to the account that logs in (the first whose key it asks for): a professional
 * reads a patient's granted documents with its own key (blob_keys), never the
 * patient's. */
static int keys_channel(const struct session_info *si, void *arg)
{
	struct imapd *d = arg;

	return store_agent_channel(&d->keys, STORE_AGENT_BOUND, si->session_id);
}

/* In every process the master forks: only the master makes channels. Its control
 * sockets to both agents and its own TLS agent channel go, so that no session process
 * can ask for a channel or a signature; a pre-login process signs through the channel
 * it was given (key_agent_enter_session). */
static void child_init(void *arg)
{
	struct imapd *d = arg;

	key_agent_close_master(&d->agent);
	store_agent_forget(&d->keys);
}

static void overload(int fd, const struct session_info *si, const char *why)
{
	char line[160];
	if (str_format(line, sizeof(line), "* BYE %s\r\n", why) < 0) /* never a line without its end */
		str_assert(str_copy(line, sizeof(line), "* BYE Service unavailable\r\n"),
		           "a constant into 160");
	if (si->listener->kind == LISTEN_IMAP) /* no TLS yet: a plain line can be read */
		(void)!write(fd, line, strlen(line));
}

/* The TLS files of cfg (IMAP logins need TLS). Returns 0, or -1 with err. */
static int tls_files_of(const struct mss_config *cfg, struct tls_files *f, char *err, size_t errlen)
{
	if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0') {
		if (str_format(err, errlen, "%s: tls_cert and tls_key are required (IMAP logins need TLS)",
		               cfg->path) < 0)
			str_error(err, errlen, "tls_cert and tls_key are required (IMAP logins need TLS)");
		return -1;
	}
	f->cert_file = cfg->tls_cert;
	f->key_file = cfg->tls_key;
	f->ca_file = cfg->tls_ca;
	f->crl_file = cfg->tls_crl;
	return 0;
}

static struct tls_ctx *load_tls(const struct mss_config *cfg, struct key_agent *agent)
{
	struct tls_files f;
	char err[512];

	if (tls_files_of(cfg, &f, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* the key stays in the agent (issue 12): neither the master nor a session holds it */
	if (key_agent_start(agent, cfg, err, sizeof(err)) < 0)
		fatal("TLS: %s", err);
	struct tls_server_opts o = {
	    .cert_file = f.cert_file,
	    .key_file = f.key_file,
	    .ca_file = f.ca_file,
	    .crl_file = f.crl_file,
	    .client_cert = TLS_CLIENT_CERT_OPTIONAL, /* professionals: AUTHENTICATE EXTERNAL */
	    .use_key_agent = true,
	    .key_agent_fd = agent->chan,
	};
	struct tls_ctx *t = tls_server_ctx_new(&o, err, sizeof(err));
	if (t == NULL)
		fatal("%s", err);
	return t;
}

/* Checks the store as the sessions will use it (as the daemons' user), so that a
 * missing or unwritable data_dir, or a schema this code does not match (mssctl migrate
 * not run after an upgrade), stops the daemon at start with the cause rather than
 * failing every session. */
static void check_store(const struct mss_config *cfg)
{
	char err[1024];
	if (policy_store_ready(cfg, err, sizeof(err)) < 0)
		fatal("store: %s", err);
}

/* A configured file that cannot be read stops the start, naming it and why. */
static void file_problem(void *arg, const char *why)
{
	fatal("%s: %s", (const char *)arg, why);
}

/* SIGHUP (DESIGN.md "Command line contract"): the config file, and the TLS
 * material, for the sessions forked afterwards, in the order both daemons share
 * (key_agent_sighup, lib/key_agent.h): everything is loaded before anything changes,
 * and a refused file keeps the old settings whole while the TLS material in force is
 * still re-read, so that a revocation never waits for a good config file. */
static void reload(void *arg)
{
	struct imapd *d = arg;
	static struct mss_config next; /* large: not on the stack */
	char err[CONFIG_PATH_MAX + 256];
	struct tls_files f;
	int restart = 0;
	bool ok = config_reload(&d->cfg, &next, &restart, err, sizeof(err)) == 0 &&
	          tls_files_of(&next, &f, err, sizeof(err)) == 0;

	if (!ok)
		key_agent_sighup_failed(err);
	if (key_agent_sighup(&d->agent, d->tls, ok ? &f : NULL, "imapd") < 0)
		ok = false;
	if (ok) {
		d->cfg = next;
		/* the limits and the hashing pool, for what starts from now on */
		master_set_limits(next.max_sessions, next.max_sessions_per_ip,
		                  (const unsigned[MASTER_MAX_POOLS]){0});
		(void)slots_resize(next.auth_hash_concurrency, next.auth_hash_wait * 1000);
	}
	(void)oauth_keys_sighup(&d->cfg, &d->oauth);
	key_agent_sighup_done(ok, restart);
}

/* A helper was started again (lib/keeper.h): the master's own TLS key agent channel
 * died with the agent that died (the next SIGHUP builds its context through it). */
static void helper_restart(void *arg)
{
	struct imapd *d = arg;

	(void)key_agent_renew(&d->agent, d->tls);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	int foreground = 0, opt;
	while ((opt = getopt(argc, argv, "c:d")) != -1) {
		if (opt == 'c')
			path = optarg;
		else if (opt == 'd')
			foreground = 1;
		else
			usage();
	}
	if (path == NULL || optind != argc)
		usage();
	static struct imapd d;
	vault_readers_install(); /* who besides the owner reads a message (blob_keys) */
	/* every file made from here on is 0600 / every directory 0700 (issue 12) */
	umask(077);
	char err[1024];
	config_defaults(&d.cfg);
	if (config_load(&d.cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "mss-imapd: %s\n", err);
		return 1;
	}
	if (foreground)
		d.cfg.log_stderr = 1;
	log_open("mss-imapd", d.cfg.log_stderr);
	if (crypto_init() < 0)
		fatal("libsodium initialisation failed");
	struct listener ls[2] = {
	    {.name = "imap", .kind = LISTEN_IMAP, .fd = -1},
	    {.name = "imaps", .kind = LISTEN_IMAPS, .fd = -1},
	};
	str_assert(str_copy(ls[0].addr, sizeof(ls[0].addr), d.cfg.imap_listen), "CONFIG_STR_MAX into 256");
	str_assert(str_copy(ls[1].addr, sizeof(ls[1].addr), d.cfg.imaps_listen), "CONFIG_STR_MAX into 256");
	if (ls[0].addr[0] == '\0' && ls[1].addr[0] == '\0')
		fatal("%s: neither imap_listen nor imaps_listen is set", path);
	config_check_files(&d.cfg, file_problem, d.cfg.path);
	d.tls = load_tls(&d.cfg, &d.agent);
	if (oauth_keys_for_config(&d.cfg, &d.oauth, err, sizeof(err)) < 0)
		fatal("OAuth: %s", err);
	if (policy_retention_start(&d.cfg) < 0) /* daily, in its own process */
		fatal("retention: cannot fork");
	/* Forked before the privilege drop: the master key is root's (issue 12). */
	store_master_key_warn(&d.cfg);
	if (store_agent_start(&d.keys, &d.cfg, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (master_bind(ls, 2, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* the store first (in a child as user): a data_dir not initialised is named as such
	 * before login_root is made in it */
	check_store(&d.cfg);
	if (privsep_prepare(&d.cfg, &d.privsep, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* Forked before the privilege drop: the audit key is not the daemons' user's. */
	if (audit_signer_start(&d.cfg, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* one pool of password-hashing places for all sessions (issue 12) */
	if (slots_init(d.cfg.auth_hash_concurrency, d.cfg.auth_hash_wait * 1000) < 0)
		fatal("cannot make the password hashing pool");
	if (privsep_drop(&d.privsep, d.cfg.user, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (store_agent_check(&d.keys, &d.cfg, err, sizeof(err)) < 0)
		fatal("store: %s", err);
	metrics_start(&d.cfg); /* after the drop: never as root */
	log_info("imapd.start", "imap=%s imaps=%s tls=%s", ls[0].addr[0] ? ls[0].addr : "-",
	         ls[1].addr[0] ? ls[1].addr : "-", tls_backend());
	struct master_opts mo = {
	    .max_sessions = d.cfg.max_sessions,
	    .max_sessions_per_ip = d.cfg.max_sessions_per_ip,
	    .user = d.cfg.user,
	    .session = session,
	    .privsep = &d.privsep,
	    .prelogin = prelogin,
	    .session_channel = session_channel,
	    .keys_channel = keys_channel,
	    .child_init = child_init,
	    .overload = overload,
	    .on_shutdown = shutdown_checkpoint,
	    .on_reload = reload,
	    .on_helper_restart = helper_restart,
	    .sessions_gauge = METRICS_IMAPD_SESSIONS,
	    .arg = &d,
	};
	int rc = master_run(&mo, ls, 2);
	tls_ctx_free(d.tls);
	oauth_keys_free(d.oauth);
	return rc == 0 ? 0 : 1;
}
