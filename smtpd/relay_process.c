/* relay_process: see relay_process.h. */
#include "smtpd/relay_process.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/str.h"
#include "smtpd/relay_queue.h"

/* The relay's client context: relay_cert (default tls_cert) presented, signed through
 * a channel of its own to the key agent (which holds relay_key too); the server
 * verified against tls_ca and tls_crl. Returns NULL with why: in err (a failure), or
 * err empty when relaying is simply not set up here. */
static struct tls_ctx *client_ctx(const struct mss_config *cfg, struct key_agent *agent, int *fd, char *err,
                                  size_t errlen)
{
	struct tls_client_opts o;
	memset(&o, 0, sizeof o);
	err[0] = '\0';
	*fd = -1;
	if (!cfg->tls_ca[0]) {
		log_err("relay", "result=failed error=\"tls_ca is required to relay\"");
		return NULL;
	}
	o.cert_file = cfg->relay_cert[0] ? cfg->relay_cert : cfg->tls_cert;
	o.key_file = cfg->relay_key[0] ? cfg->relay_key : cfg->tls_key;
	o.ca_file = cfg->tls_ca;
	o.crl_file = cfg->tls_crl;
	o.use_key_agent = true;
	o.key_agent_fd = *fd = key_agent_session_channel(agent);
	if (o.key_agent_fd < 0) {
		log_err("relay", "result=failed error=\"no key agent channel\"");
		return NULL;
	}
	struct tls_ctx *ctx = tls_client_ctx_new(&o, err, errlen);
	if (ctx != NULL && tls_cert_file_client_ok(o.cert_file) == 0)
		log_warn("relay.cert_purpose",
		         "file=%s error=\"the certificate is not for TLS clients "
		         "(no clientAuth in its extended key usage): peers that check it refuse "
		         "it; set relay_cert and relay_key to a client certificate\"",
		         o.cert_file);
	if (ctx == NULL) {
		close(*fd);
		*fd = -1;
		if (!err[0])
			str_error(err, errlen, "the relay's TLS context cannot be made");
	}
	return ctx;
}

/* The workers' channels (relay_pool.h): to the TLS key agent and to the account key
 * agent, made for each queue process and closed here once it has them, so that no
 * session forked later inherits them. A channel either agent cannot give is one worker
 * fewer (logged by the pool). */
static void worker_channels(struct relay_process *rp, struct relay_chans *w)
{
	w->n = 0;
	for (unsigned i = 0; i < rp->cfg->relay_max_connections && i < RELAY_CONNECTIONS_MAX; i++) {
		int tls = key_agent_session_channel(rp->agent);
		/* a worker reads the messages it carries: the queue's secret key, no account key */
		int keys = tls < 0 ? -1 : store_agent_channel(rp->keys, STORE_AGENT_QUEUE, "relay");
		if (keys < 0) {
			if (tls >= 0)
				close(tls);
			return;
		}
		w->tls[w->n] = tls;
		w->keys[w->n++] = keys;
	}
}

static void fork_one(struct relay_process *rp)
{
	/* the queue's secret key and the vault's new accounts only: no account key */
	int keys_fd = store_agent_channel(rp->keys, STORE_AGENT_QUEUE, "queue");
	struct relay_chans w;
	worker_channels(rp, &w);
	rp->restart_at = 0;
	rp->pid = keys_fd < 0 ? -1
	                      : relay_queue_start(rp->cfg, rp->tls, rp->close_fds, rp->nclose, rp->agent,
	                                          rp->keys, keys_fd, &w);
	if (keys_fd >= 0)
		close(keys_fd);
	for (size_t i = 0; i < w.n; i++) {
		close(w.tls[i]);
		close(w.keys[i]);
	}
	if (rp->pid < 0) {
		log_err("relay.process", "result=failed error=\"fork failed\"");
		rp->pid = 0;
		rp->restart_at = time(NULL) + rp->pause;
		return;
	}
	rp->started = time(NULL);
}

int relay_process_start(struct relay_process *rp, const struct mss_config *cfg, struct key_agent *agent,
                        struct store_agent *keys, char *err, size_t errlen)
{
	memset(rp, 0, sizeof *rp);
	rp->cfg = cfg;
	rp->agent = agent;
	rp->keys = keys;
	rp->pause = 1;
	rp->tls = client_ctx(cfg, agent, &rp->agent_fd, err, errlen);
	if (rp->tls == NULL)
		return err[0] ? -1 : 1;
	fork_one(rp);
	return rp->pid > 0 ? 0 : -1;
}

bool relay_process_exited(struct relay_process *rp, pid_t pid, int status)
{
	if (pid <= 0 || pid != rp->pid)
		return false;
	rp->pid = 0;
	time_t now = time(NULL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == RELAY_EXIT_RELOAD) {
		rp->restart_at = now; /* a handover after SIGHUP: at once */
		return true;
	}
	/* a crash (or an exit it should not make): restart after a pause that doubles
	 * while the process keeps dying young, back to 1 s once one lived a while */
	unsigned max = rp->cfg->child_restart_max; /* as the helpers' keepers (lib/keeper.h) */
	rp->pause = now - rp->started >= (time_t)max ? 1 : rp->pause;
	rp->restart_at = now + rp->pause;
	if (WIFSIGNALED(status))
		log_warn("relay.process", "result=ended signal=%d restart_in=%u", WTERMSIG(status),
		         rp->pause);
	else
		log_warn("relay.process", "result=ended status=%d restart_in=%u",
		         WIFEXITED(status) ? WEXITSTATUS(status) : -1, rp->pause);
	rp->pause = rp->pause * 2 > max ? max : rp->pause * 2;
	return true;
}

void relay_process_tick(struct relay_process *rp)
{
	if (rp->tls == NULL || rp->pid > 0 || rp->restart_at == 0 || time(NULL) < rp->restart_at)
		return;
	fork_one(rp);
	if (rp->pid > 0)
		log_info("relay.process", "result=started pid=%ld", (long)rp->pid);
}

void relay_process_reload(struct relay_process *rp, bool ok)
{
	char err[512];
	int fd;
	if (!ok) /* the settings in force did not change: the process goes on */
		return;
	{
		/* the new relay_cert, tls_ca and tls_crl: a revoked peer is refused from now on */
		struct tls_ctx *ctx = client_ctx(rp->cfg, rp->agent, &fd, err, sizeof err);
		if (ctx != NULL) {
			tls_ctx_free(rp->tls);
			if (rp->agent_fd >= 0)
				close(rp->agent_fd);
			rp->tls = ctx;
			rp->agent_fd = fd;
		} else if (err[0]) {
			log_err("relay", "result=failed error=\"%s: the queue keeps its TLS context\"", err);
		}
	}
	if (rp->pid > 0)
		kill(rp->pid, SIGHUP); /* ends its round, exits RELAY_EXIT_RELOAD, restarted at once */
	else if (rp->tls != NULL && rp->restart_at == 0)
		rp->restart_at = time(NULL);
}

void relay_process_free(struct relay_process *rp)
{
	tls_ctx_free(rp->tls);
	rp->tls = NULL;
	relay_process_forget(rp);
}

void relay_process_forget(struct relay_process *rp)
{
	if (rp->agent_fd >= 0)
		close(rp->agent_fd);
	rp->agent_fd = -1;
}
