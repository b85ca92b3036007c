/* webd.c: mss-webd: reads the config, forks the TLS key agent (the only process that
 * reads the server's private key), binds web_listen, reads the server certificate,
 * drops privileges, and serves the patient's space over HTTPS (lib/master): started as
 * root, two processes per connection, a front process (login_user, chrooted: TLS and
 * HTTP) and a session process (user: the pages on the database); otherwise one
 * (privsep.reduced). Usage: mss-webd -c FILE [-d]. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vault/vault_access.h"
#include "audit/audit.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "lib/crypto.h"
#include "lib/key_agent.h"
#include "lib/log.h"
#include "lib/master.h"
#include "lib/privsep.h"
#include "lib/slots.h"
#include "lib/str.h"
#include "policy/policy.h"
#include "webd/web.h"
#include "webd/web_tls.h"

#define PEM_MAX (1u << 20)

static void usage(void)
{
	fprintf(stderr, "usage: mss-webd -c FILE [-d]\n");
	exit(2);
}

/* The signer seals the log's end with a checkpoint at shutdown and exits. */
static void shutdown_checkpoint(void *arg)
{
	(void)arg;
	audit_signer_finish();
}

/* The handshakes sign through this connection's own agent channel (issue 12).
 * Returns 0, or -1 (logged, fd closed). */
static int tls_ready(const struct webd *d, int fd, const struct session_info *si)
{
	char err[512];

	if (si->channel_fd >= 0 && web_tls_load(d->cert_pem, si->channel_fd, err, sizeof(err)) == 0)
		return 0;
	log_err("web.key_agent", "peer=%s error=\"%s\"", si->peer_ip,
	        si->channel_fd < 0 ? "no key agent channel" : err);
	close(fd);
	return -1;
}

/* Not started as root (privsep.reduced): the whole connection in this process, the
 * store opened after fork (one database connection per session). */
static void session_whole(const struct webd *d, int fd, const struct session_info *si)
{
	char err[512];

	key_agent_close_master((struct key_agent *)&d->agent);
	if (tls_ready(d, fd, si) < 0)
		return;
	/* never the master key: account keys from the account key agent, over this
	 * connection's own channel, bound to its one account */
	struct store *st = store_open_nokeys(&d->cfg, err, sizeof(err));
	if (st == NULL) {
		log_err("web.store_open", "peer=%s error=\"%s\"", si->peer_ip, err);
		close(fd);
		return;
	}
	store_use_agent(st, si->keys_fd);
	store_agent_bind(st);
	web_serve(d, st, fd, si->peer_ip, -1);
	store_close(st);
}

/* The front process (lib/privsep.h), forked by the master: chrooted in the empty
 * root, login_user, no capability, no database and no key; its descriptors are the
 * client socket, its key agent channel and its channel to the session process. It runs
 * libmicrohttpd (TLS, HTTP, forms) and sends each request to the session process. */
static void front(int fd, const struct session_info *si, void *arg)
{
	const struct webd *d = arg;
	int keep[] = {fd, si->channel_fd, si->relay_fd};
	char err[256];

	signal(SIGPIPE, SIG_IGN);
	privsep_close_others(keep, sizeof(keep) / sizeof(keep[0])); /* the agent's, the auth channel */
	if (privsep_enter(&d->privsep, err, sizeof(err)) < 0) {
		log_err("privsep.enter", "peer=%s error=\"%s\"", si->peer_ip, err);
		return;
	}
	if (tls_ready(d, fd, si) < 0)
		return;
	web_serve(d, NULL, fd, si->peer_ip, si->relay_fd);
	close(si->relay_fd);
}

/* The session process (user, the database opened without the master key: account
 * keys come from the account key agent over si->keys_fd): the pages, for the requests its front process
 * sends; a forged one ends the front process (MASTER_EXIT_PEER_REFUSED). */
static void session_split(const struct webd *d, const struct session_info *si)
{
	char err[512];

	key_agent_close_master((struct key_agent *)&d->agent);
	close(si->auth_fd); /* mss-webd's processes speak over relay_fd alone */
	struct store *st = store_open_nokeys(&d->cfg, err, sizeof(err));
	if (st == NULL) {
		log_err("web.store_open", "peer=%s error=\"%s\"", si->peer_ip, err);
		return; /* the front process sees its channel close and ends the connection */
	}
	store_use_agent(st, si->keys_fd);
	store_agent_bind(st);
	int rc = web_session_serve(d, st, si->relay_fd, si->peer_ip, si->prelogin_pid);
	store_close(st);
	close(si->relay_fd);
	if (rc < 0)
		_exit(MASTER_EXIT_PEER_REFUSED); /* the master ends the front process */
}

static void session(int fd, const struct session_info *si, void *arg)
{
	const struct webd *d = arg;

	signal(SIGPIPE, SIG_IGN);
	if (si->auth_fd >= 0)
		session_split(d, si);
	else
		session_whole(d, fd, si);
}

/* Each connection's own channel to the account key agent, bound to the first account
 * it asks for: a connection serves one account (web_bind), so its process never needs
 * another's key. */
static int keys_channel(const struct session_info *si, void *arg)
{
	struct webd *d = arg;

	return store_agent_channel(&d->keys, STORE_AGENT_BOUND, si->session_id);
}

/* In every process the master forks: only the master makes channels. */
static void child_init(void *arg)
{
	struct webd *d = arg;

	store_agent_forget(&d->keys);
}

/* Each session's own key agent channel (lib/master.h). */
static int session_channel(void *arg)
{
	struct webd *d = arg;

	return key_agent_session_channel(&d->agent);
}

/* No TLS yet when the master refuses: closing is all a browser can be told. */
static void overload(int fd, const struct session_info *si, const char *why)
{
	log_info("web.overload", "peer=%s error=\"%s\"", si->peer_ip, why);
}

/* The whole file path (a PEM text for libmicrohttpd, which wants it in memory). */
static char *read_pem(const char *path)
{
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		fatal("%s: cannot open: %m", path);
	buf_init(&b, PEM_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n) < 0)
			fatal("%s: larger than %u bytes", path, PEM_MAX);
	if (ferror(f))
		fatal("%s: read error", path);
	fclose(f);
	char *s = buf_strdup(&b);
	buf_free(&b);
	return s;
}

static void check_store(const struct webd *d)
{
	const struct mss_config *cfg = &d->cfg;
	char err[512];
	if (store_agent_check(&d->keys, cfg, err, sizeof(err)) < 0)
		fatal("store: %s", err);
	struct store *st = store_open_nokeys(cfg, err, sizeof(err));
	if (st == NULL)
		fatal("store: %s", err);
	int rc = policy_schema_check(st, err, sizeof(err));
	store_close(st);
	if (rc != 0)
		fatal("store: %s", err);
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
	static struct webd d;
	char err[1024];
	vault_readers_install(); /* who besides the owner reads a message (blob_keys) */
	config_defaults(&d.cfg);
	if (config_load(&d.cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "mss-webd: %s\n", err);
		return 1;
	}
	if (foreground)
		d.cfg.log_stderr = 1;
	/* every file made from here on is 0600 / every directory 0700, as in the other
	 * daemons: mss-webd writes mss.db and may be the one to create its WAL (issue 12) */
	umask(077);
	log_open("mss-webd", d.cfg.log_stderr);
	if (crypto_init() < 0)
		fatal("libsodium initialisation failed");
	struct listener ls[1] = {{.name = "web", .kind = 0, .fd = -1}};
	if (str_copy(ls[0].addr, sizeof(ls[0].addr), d.cfg.web_listen) < 0 || ls[0].addr[0] == '\0')
		fatal("%s: web_listen is not set", path);
	if (d.cfg.tls_cert[0] == '\0' || d.cfg.tls_key[0] == '\0')
		fatal("%s: tls_cert and tls_key are required (mss-webd serves HTTPS only)", path);
	d.cert_pem = read_pem(d.cfg.tls_cert);
	/* the key stays in the agent (issue 12): neither the master nor a session holds it;
	 * forked before the privilege drop, root may own the key file */
	if (key_agent_start(&d.agent, &d.cfg, err, sizeof(err)) < 0)
		fatal("TLS: %s", err);
	if (web_tls_check(d.cert_pem, d.cfg.tls_cert, d.cfg.tls_key, d.agent.chan, err, sizeof(err)) < 0)
		fatal("TLS: %s", err);
	if (master_bind(ls, 1, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* the front processes' empty root and login_user (not root: privsep.reduced) */
	if (privsep_prepare(&d.cfg, &d.privsep, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* As the other daemons: the audit signer forked before the privilege drop (the
	 * audit key is not the daemons' user's), one password-hashing pool for all
	 * sessions (issue 12). */
	if (audit_signer_start(&d.cfg, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (slots_init(d.cfg.auth_hash_concurrency, d.cfg.auth_hash_wait * 1000) < 0)
		fatal("cannot make the password hashing pool");
	/* the master key root's, read by the agent alone (issue 12) */
	store_master_key_warn(&d.cfg);
	if (store_agent_start(&d.keys, &d.cfg, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (privsep_drop(&d.privsep, d.cfg.user, err, sizeof(err)) < 0)
		fatal("%s", err);
	check_store(&d);
	log_info("webd.start", "web=%s", ls[0].addr);
	struct master_opts mo = {
	    .max_sessions = d.cfg.max_sessions,
	    .max_sessions_per_ip = d.cfg.max_sessions_per_ip,
	    .user = d.cfg.user,
	    .session = session,
	    .privsep = &d.privsep,
	    .prelogin = front,
	    .session_channel = session_channel,
	    .keys_channel = keys_channel,
	    .child_init = child_init,
	    .overload = overload,
	    .on_shutdown = shutdown_checkpoint,
	    .arg = &d,
	};
	int rc = master_run(&mo, ls, 1);
	return rc == 0 ? 0 : 1;
}
