/* key_agent.h: a daemon's TLS key agent (issue 12; lib/tls.h, "The key agent").
 *
 * mss-smtpd and mss-imapd fork the agent before dropping privileges: it alone reads
 * tls_key (which can stay root's, 0600) and signs handshakes for the others. The
 * master's context is built from the certificate and a channel of its own (so a
 * certificate whose key the agent does not hold is refused at start and on SIGHUP);
 * each session gets a channel of its own from the master, and neither the master nor
 * a session ever holds the private key. On SIGHUP the agent reads the configuration
 * file itself for the key file's name (a master running as the daemons' user cannot
 * point a root process at another file), and keeps the keys it replaced until the
 * next reload, so a certificate refused on reload still finds its old key.
 *
 *   root                          user
 *   key agent  <-- SEQPACKET --   master (control socket + its own channel)
 *   tls_key                       sessions (one channel each, made by the master) */
#ifndef MSS_KEY_AGENT_H
#define MSS_KEY_AGENT_H

#include <sys/types.h>

struct mss_config;
struct tls_ctx;

struct key_agent {
	int ctl;  /* the control socket (master only) */
	int chan; /* the master's own channel, for its context */
	pid_t pid;
};

/* Before binding and dropping privileges: forks the agent, which loads cfg->tls_key,
 * and waits for its answer. Returns 0 with ka filled, or -1 with err ("cannot read key
 * file /k: ...", as tls_server_ctx_new would say). */
int key_agent_start(struct key_agent *ka, const struct mss_config *cfg, char *err, size_t errlen);
/* For master_opts.session_channel: a new channel for one session, or -1 (logged). */
int key_agent_session_channel(struct key_agent *ka);
/* In a session process: closes the master's ends and makes ctx sign through fd (the
 * session's channel). Returns 0, or -1 when ctx has no agent key or fd is -1. */
int key_agent_enter_session(struct key_agent *ka, struct tls_ctx *ctx, int fd);
/* SIGHUP, in the master, before the context's reload: the agent reads the
 * configuration file's tls_key again. Returns 0, or -1 with err (the agent keeps its
 * keys; the reason is in its log line tls.agent_reload_failed). */
int key_agent_reload(struct key_agent *ka, char *err, size_t errlen);

#endif
