/* store_agent.h: the account key agent (issue 12; doc/architecture.md "Process
 * separation before login", "Who holds the master key").
 *
 * mss-smtpd, mss-imapd and mss-webd fork it before dropping privileges, beside the TLS
 * key agent: it alone reads the master key (keys/master.key, root 0400, or
 * master_key_file) and has no database handle. Each process that reads mail gets a
 * channel of its own from its master (SOCK_SEQPACKET, store_agent_channel), sends over
 * it the wrapped key it read from the database with the account's address, and gets
 * that account's key back (store_use_agent). Wrapped keys are bound to their account
 * (lib/crypto.h: the address is the AEAD's associated data), so a key presented under
 * another account's name does not unwrap.
 *
 *   root                                user
 *   key agent  <-- SEQPACKET (one per --   session processes, the queue process,
 *   master.key     session, kind)           mss-webd's connections
 *
 * What a channel may ask is fixed by its master when it is made (the kind): a BOUND
 * channel is bound to the first account it asks for, and a request for any other is
 * refused, logged (keyagent.refused session=... bound=...) and the channel closed; an
 * MX channel is refused every account key (write-only delivery needs none). The
 * outbound queue's secret key goes to QUEUE channels (the queue process) and ADMIN
 * ones only; any other asking for it is refused (asked=queue) and closed.
 * mssctl, started as root, forks its own agent and works as the daemons' user over an
 * ADMIN channel. */
#ifndef MSS_STORE_AGENT_H
#define MSS_STORE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mss_config;
struct store;

enum store_agent_kind {
	STORE_AGENT_BOUND = 1, /* one account: the first asked for (a logged-in session) */
	STORE_AGENT_MX = 2,    /* no account key: an MX session */
	STORE_AGENT_ANY = 3,   /* any account, one at a time: not yet one account per
	                        * process (mss-imapd's shared vault view, mss-webd) */
	STORE_AGENT_ADMIN = 4, /* mssctl: any account, and migrate's rewrite of first-format
	                        * wraps (store_wraps_bind) */
	STORE_AGENT_QUEUE = 5, /* no account key, but the outbound queue's secret key: the
	                        * queue process and its delivery workers */
};

struct store_agent {
	int ctl; /* the control socket (the master's), -1 without an agent */
	pid_t pid;
	int64_t check; /* the master key's check value (store.c), from the agent */
};

/* Before dropping privileges (as root): forks the agent, which loads the master key
 * and answers whether it did. Returns 0 with a filled, or -1 with err ("cannot open
 * master key file /k: ..."). */
int store_agent_start(struct store_agent *a, const struct mss_config *cfg, char *err, size_t errlen);
/* In the master, once running as the daemons' user: refuses a master key that is not
 * the one the store was initialised with (the agent's check value against the
 * store's). Returns 0, or -1 with err. */
int store_agent_check(const struct store_agent *a, const struct mss_config *cfg, char *err, size_t errlen);
/* At start, as root: logs keys.master_readable (naming the file and the fix) when the
 * daemons' user (cfg->user, not root) owns the master key file or anyone but its
 * owner may read it. */
void store_master_key_warn(const struct mss_config *cfg);
/* In the master, for one session: a new channel of kind, whose lines name session
 * (may be ""). Returns the session's end, or -1 (logged keyagent.channel_failed). */
int store_agent_channel(struct store_agent *a, enum store_agent_kind kind, const char *session);
/* In the master: whether the agent and its keeper are both gone (the control socket
 * hung up), so that no channel can be made; one being restarted is not gone. */
bool store_agent_gone(const struct store_agent *a);
/* In a forked child: closes the master's control socket (no child makes channels). */
void store_agent_forget(struct store_agent *a);
/* For a store opened with store_open_nokeys: account keys, new account keys and
 * service keys are asked over fd (a channel; the store owns it and closes it in
 * store_close). */
void store_use_agent(struct store *st, int fd);
/* For a store whose channel is bound (STORE_AGENT_BOUND): the store itself refuses a
 * second account's key with a clear error (-1, nothing sent), so that a path that may
 * ask for one (a grant sealing another account's documents: vault_readers_refresh)
 * fails alone instead of having the agent close the channel, which it still does for
 * a request that reaches it. */
void store_agent_bind(struct store *st);

#endif
