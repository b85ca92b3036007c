/* key_agent.c: a daemon's TLS key agent process (see key_agent.h). */
#include "lib/key_agent.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/keeper.h"
#include "lib/log.h"
#include "lib/str.h"
#include "lib/tls.h"

/* The agent's first datagram on the control socket: "" when the key loaded, or why
 * not. */
#define START_MSG_MAX 512
#define START_WAIT_MS 30000

/* The keys the agent holds: tls_key, and relay_key when the relay presents another
 * certificate (DESIGN.md "Relay out to the trust space"). Returns their number. */
static size_t key_files(const struct mss_config *cfg, const char *keys[2])
{
	keys[0] = cfg->tls_key;
	keys[1] = cfg->relay_key;
	return cfg->relay_key[0] && strcmp(cfg->relay_key, cfg->tls_key) != 0 ? 2 : 1;
}

/* In the agent, before each reload: the key file the configuration names now. */
static int reread_config(struct tls_agent *a, void *arg)
{
	const char *path = arg;
	static struct mss_config next; /* large: not on the stack */
	char err[CONFIG_PATH_MAX + 256], q[CONFIG_PATH_MAX + 300];
	const char *keys[2];

	config_defaults(&next);
	if (config_load(&next, path, err, sizeof(err)) < 0) {
		log_err("tls.agent_reload_failed", "error=%s action=previous-kept",
		        log_quote(q, sizeof(q), err));
		return -1;
	}
	tls_agent_set_key_files(a, keys, key_files(&next, keys));
	return 0;
}

static void agent_main(int ctl, const struct mss_config *cfg)
{
	const char *keys[2];
	size_t nkeys = key_files(cfg, keys);
	char err[START_MSG_MAX] = "";
	struct tls_agent *a;

	/* The master's SIGHUP reaches the agent through the control socket, not as a
	 * signal sent to the process group. */
	prctl(PR_SET_NAME, "mss-tls-agent");
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* nor SIGTERM to the group: sessions finishing their work at shutdown still
	 * handshake; it ends at its control socket's EOF (the master's end) */
	signal(SIGTERM, SIG_IGN);
	/* started again (lib/keeper.h): the key files the configuration names now, no
	 * answer (the master waits for none: a stray one would read as a reload's), and
	 * what the master sent meanwhile (new channels) waits in the control socket */
	bool again = keeper_restarts() > 0;
	a = tls_agent_new(keys, nkeys, err, sizeof(err));
	if (a && again && reread_config(a, (void *)cfg->path) == 0 &&
	    tls_agent_reload(a, err, sizeof(err)) < 0)
		log_err("tls.agent_start", "result=failed error=\"%s\" action=start-keys-kept", err);
	if (!a && again)
		log_err("tls.agent_start", "result=failed error=\"%s\"", err);
	if (!a || (!again && send(ctl, err, strlen(err) + 1, MSG_NOSIGNAL) < 0))
		_exit(1);
	tls_agent_on_reload(a, reread_config, (void *)cfg->path);
	(void)tls_agent_run(a, ctl);
	tls_agent_free(a);
	_exit(0);
}

/* Reads the agent's start answer. Returns 0, or -1 with err. */
static int start_answer(int ctl, char *err, size_t errlen)
{
	char msg[START_MSG_MAX + 1];
	struct pollfd p = {.fd = ctl, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, START_WAIT_MS) <= 0) {
		str_error(err, errlen, "TLS key agent: no answer at start");
		return -1;
	}
	n = recv(ctl, msg, sizeof(msg) - 1, 0);
	if (n <= 0 || msg[n - 1] != '\0') {
		str_error(err, errlen, "TLS key agent: ended at start");
		return -1;
	}
	if (msg[0] == '\0')
		return 0;
	str_error(err, errlen, "%s", msg);
	return -1;
}

int key_agent_start(struct key_agent *ka, const struct mss_config *cfg, char *err, size_t errlen)
{
	int sv[2];

	ka->ctl = ka->chan = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		str_error(err, errlen, "TLS key agent: %s", strerror(errno));
		return -1;
	}
	/* restarted when it dies, by a keeper: the master, once the daemons' user, could not */
	struct keeper k = {"tls-key-agent", "mss-tls-keep", 0, cfg->child_restart_max, sv[1]};
	ka->pid = keeper_fork(&k);
	if (ka->pid < 0) {
		str_error(err, errlen, "TLS key agent: cannot fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (ka->pid == 0) {
		close(sv[0]);
		agent_main(sv[1], cfg);
	}
	close(sv[1]);
	ka->ctl = sv[0];
	if (start_answer(ka->ctl, err, errlen) < 0)
		return -1;
	ka->chan = tls_agent_channel(ka->ctl, err, errlen);
	return ka->chan < 0 ? -1 : 0;
}

int key_agent_session_channel(struct key_agent *ka)
{
	char err[256];
	int fd = tls_agent_channel(ka->ctl, err, sizeof(err));

	if (fd < 0)
		log_err("tls.agent_channel_failed", "error=\"%s\"", err);
	return fd;
}

int key_agent_renew(struct key_agent *ka, struct tls_ctx *tls)
{
	int fd = key_agent_session_channel(ka);

	if (fd < 0)
		return -1;
	if (tls_ctx_set_key_agent(tls, fd) < 0) {
		close(fd);
		return -1;
	}
	if (ka->chan >= 0)
		close(ka->chan);
	ka->chan = fd;
	return 0;
}

void key_agent_close_master(struct key_agent *ka)
{
	if (ka->ctl >= 0)
		close(ka->ctl);
	if (ka->chan >= 0)
		close(ka->chan);
	ka->ctl = ka->chan = -1;
}

int key_agent_enter_session(struct key_agent *ka, struct tls_ctx *ctx, int fd)
{
	key_agent_close_master(ka);
	if (fd < 0)
		return -1;
	return tls_ctx_set_key_agent(ctx, fd);
}

int key_agent_reload(struct key_agent *ka, char *err, size_t errlen)
{
	return tls_agent_request_reload(ka->ctl, err, errlen);
}

void key_agent_sighup_failed(const char *err)
{
	char q[CONFIG_PATH_MAX + 300];

	log_err("reload", "result=failed error=%s action=previous-kept", log_quote(q, sizeof(q), err));
}

int key_agent_sighup(struct key_agent *ka, struct tls_ctx *tls, const struct tls_files *files,
                     const char *what)
{
	char err[CONFIG_PATH_MAX + 256];
	int rc = files ? 0 : -1;

	if (files && key_agent_reload(ka, err, sizeof(err)) < 0) {
		key_agent_sighup_failed(err);
		rc = -1;
	}
	/* the new settings' files; after a refused file, those in force, re-read */
	if (tls_ctx_sighup(tls, rc == 0 ? files : NULL, what, err, sizeof(err)) < 0 && rc == 0) {
		key_agent_sighup_failed(err);
		rc = -1;
	}
	return rc;
}

void key_agent_sighup_done(bool ok, int restart)
{
	if (!ok)
		return;
	if (restart)
		log_warn("reload", "result=ok error=\"data_dir, user and the listeners change only on "
		                   "restart: kept\"");
	else
		log_info("reload", "result=ok");
}
