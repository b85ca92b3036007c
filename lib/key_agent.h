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

#include <stdbool.h>
#include <sys/types.h>

struct mss_config;
struct tls_ctx;
struct tls_files;

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
/* In a session process: closes the master's ends (the control socket, the master's own
 * channel), so that the session reaches the agent only through its own channel. */
void key_agent_close_master(struct key_agent *ka);
/* In the master once the agent was started again (lib/keeper.h; master_opts.
 * on_helper_restart): its own channel, dead with the agent that died, replaced by a new
 * one for tls (so that the next SIGHUP can build its context). Returns 0, or -1 (the
 * channel could not be made: logged; the next SIGHUP's reload then fails and keeps the
 * material in force). */
int key_agent_renew(struct key_agent *ka, struct tls_ctx *tls);
/* SIGHUP, in the master, before the context's reload: the agent reads the
 * configuration file's tls_key again. Returns 0, or -1 with err (the agent keeps its
 * keys; the reason is in its log line tls.agent_reload_failed). */
int key_agent_reload(struct key_agent *ka, char *err, size_t errlen);

/* A daemon master's SIGHUP, shared by mss-smtpd and mss-imapd, in three calls:
 *   ok = <the new settings load> && tls_files_of(&next, &f, ...) == 0;
 *   if (!ok) key_agent_sighup_failed(err);
 *   if (key_agent_sighup(&agent, tls, ok ? &f : NULL, "smtpd") < 0) ok = false;
 *   if (ok) <put next in force>;
 *   key_agent_sighup_done(ok, restart);
 * Everything is loaded before anything changes: a step that fails leaves the old
 * settings whole, with one reload line (result=failed ... action=previous-kept). */
void key_agent_sighup_failed(const char *err);
/* With files (the new settings' TLS files): the agent reads the new key file first, so
 * that the context finds its key, then tls_ctx_sighup puts the new material in force.
 * With files NULL (the new settings were refused): the material in force is re-read
 * all the same, so that a revocation never waits for a good config file. Each failure
 * is logged by key_agent_sighup_failed. Returns 0 when the new settings may be put in
 * force, -1 when the old ones stay (always -1 for files NULL). tls NULL: no TLS. */
int key_agent_sighup(struct key_agent *ka, struct tls_ctx *tls, const struct tls_files *files,
                     const char *what);
/* The reload's last line, when ok: result=ok, a warning when restart says that keys
 * which change only on restart (data_dir, user, listeners) were kept. */
void key_agent_sighup_done(bool ok, int restart);

#endif
