/* master.h: listeners and the process model shared by both daemons.
 *
 * The master binds every listener, then drops privileges, then accepts and forks one
 * process per connection (a session never sees another session's memory), within
 * max_sessions and max_sessions_per_ip. On a listener with reuse it hands each
 * connection instead to an idle process (pair) that serves up to max_use of them one
 * after another, each as a fresh one (master_pool.h), and forks one when none is idle;
 * with MASTER_REUSE_PRELOGIN only the pre-login process is reused, and the master forks
 * a fresh session process for each connection. It reaps children and,
 * on SIGTERM or SIGINT, stops accepting, passes SIGTERM to the sessions, waits briefly and exits. On SIGHUP
 * it calls on_reload between two accepts (never in the signal handler): what that
 * reloads is in force for the sessions forked afterwards, while the sessions already
 * running keep what they were forked with and ignore SIGHUP (DESIGN.md: a daemon never
 * dies on SIGHUP). */
#ifndef MSS_MASTER_H
#define MSS_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct privsep;

#define MASTER_MAX_LISTENERS 8
#define MASTER_MAX_POOLS 4
/* A pre-login process's hint for its session process (master_session_ask), with its
 * NUL: "c:" and a certificate's SHA-256 in hex, or "u:" and a SASL user cut to fit. */
#define MASTER_HINT_MAX 320

/* How a listener's processes are reused (master_set_reuse gives the counts). */
enum master_reuse {
	MASTER_REUSE_NONE = 0, /* one process (pair) per connection */
	MASTER_REUSE_PAIR,     /* the pre-login/session pair serves one connection after
	                          another (an MX: its session process is no one's) */
	MASTER_REUSE_PRELOGIN, /* the pre-login process does for anyone; a session process
	                          becomes the account's that logged in (submission): one
	                          of its own for each connection, or with
	                          master_set_account_reuse one reused for that account
	                          alone, asked for by the pre-login process */
};

struct listener {
	const char *name;        /* "smtp", "submission", ... (for logs and the session) */
	char addr[256];          /* "host:port" as configured */
	int kind;                /* the daemon's own meaning (e.g. implicit TLS or not) */
	int fd;                  /* bound socket, -1 before master_bind */
	int pool;                /* session pool (0..MASTER_MAX_POOLS-1): listeners of one pool share
	                            its limit, so idle MX clients cannot take submission's places */
	enum master_reuse reuse; /* which of its processes serve one connection after
	                            another (master_set_reuse) */
};

struct session_info {
	const struct listener *listener;
	char peer_ip[64];
	unsigned peer_port;
	char local_ip[64];
	int channel_fd; /* this session's own descriptor from master_opts.session_channel
	                   (its TLS key agent channel), -1 without */
	/* With privilege separation (master_opts.privsep): the two ends of this
	 * connection's socketpairs held by the process running it (auth/auth_chan.h,
	 * SOCK_SEQPACKET; the cleartext relay, SOCK_STREAM), and in the session process the
	 * pre-login process's pid. -1 without. */
	int auth_fd;
	int relay_fd;
	long prelogin_pid;
	/* With master_opts.keys_channel: the session process's channel to the account key
	 * agent (store/store_agent.h), -1 without (and always in a pre-login process). */
	int keys_fd;
	/* With privilege separation: the session id the master drew for both processes
	 * (lib/log.h, already set with log_set_session), "" without. */
	char session_id[16];
	/* In a reused process (listener.reuse): its channel to the master, which sends each
	 * connection over it (lib/master_pool.h), -1 otherwise. A pre-login process keeps it
	 * open (privsep_close_others); a session must not touch it. */
	int pool_fd;
};

/* Runs in the child, which owns fd; returning ends the child (exit 0). */
typedef void (*session_fn)(int fd, const struct session_info *si, void *arg);
/* Runs in the master when a connection must be refused for a limit: write one short
 * protocol line to fd (e.g. "421 4.7.0 ...") and return; the master closes fd. */
typedef void (*overload_fn)(int fd, const struct session_info *si, const char *why);

struct master_opts {
	unsigned max_sessions; /* the daemon's total */
	unsigned max_sessions_per_ip;
	unsigned pool_max[MASTER_MAX_POOLS]; /* each pool's own limit; 0 = the total only */
	const char *user; /* switch to this user after binding ("" or current: no switch) */
	session_fn session;
	overload_fn overload;
	void *arg;
	void (*child_init)(void *arg); /* in each child, after fork, before session (may be NULL) */
	/* In the master before each session's fork (may be NULL): a descriptor for that
	 * session alone (session_info.channel_fd), closed by the master after the fork;
	 * -1 refuses the connection (the callee logs why). */
	int (*session_channel)(void *arg);
	/* In the master before the fork of a connection's session process (may be NULL):
	 * its channel to the account key agent (session_info.keys_fd; si gives the listener
	 * and, with privilege separation, the session id), closed by the master after the
	 * fork; -1 refuses the connection (the callee logs why). */
	int (*keys_channel)(const struct session_info *si, void *arg);
	/* In the master at a connection whose session process has its account key agent
	 * channel already, or gets it later (may be NULL): true when the agent can make no
	 * more channels (gone for good; the callee logs it): the connection is refused as
	 * one whose keys_channel failed. */
	bool (*keys_gone)(void *arg);
	void (*on_shutdown)(void *arg); /* in the master before exit (may be NULL) */
	void (*on_reload)(void *arg);   /* in the master on SIGHUP (may be NULL): keeps what
	                                 * it cannot reload as it was, and logs why */
	int sessions_gauge;             /* lib/metrics.h gauge of the sessions running, 0: none */
	/* A child the daemon forked itself (not a session: e.g. mss-smtpd's queue process)
	 * ended; status as waitpid gives it. Not called once shutdown began (may be NULL). */
	void (*on_child_exit)(pid_t pid, int status, void *arg);
	/* In the master about once a second, and after each signal (may be NULL): for work
	 * that waits, such as restarting such a child after a pause. */
	void (*on_tick)(void *arg);
	/* In the master after one of its helpers was started again (lib/keeper.h, SIGUSR2;
	 * may be NULL): channels made with the helper that died are dead; make those the
	 * master holds again (its own TLS key agent channel, the queue process's). The
	 * reused processes are retired before it (master_retire_reused). */
	void (*on_helper_restart)(void *arg);
	/* Privilege separation before login (lib/privsep.h), NULL or off: one process per
	 * connection running session. On: two processes per connection, both forked here:
	 * prelogin (given the client socket, in the empty root as login_user, after
	 * privsep_enter) and session (given fd -1, as user, with no capability left), joined
	 * by the socketpairs of session_info. A session process that exits with
	 * MASTER_EXIT_PEER_REFUSED (its pre-login process sent a forged message), or dies of
	 * a signal, has its pre-login process killed. */
	const struct privsep *privsep;
	session_fn prelogin;
	/* In a reused process (listener.reuse) once it serves no more connections, before
	 * it exits (may be NULL): closes what it kept from one connection to the next. */
	void (*reused_end)(void *arg);
};

#define MASTER_EXIT_PEER_REFUSED 3

/* Parses "host:port" ("[::1]:25" for IPv6). Returns 0 or -1. */
int master_parse_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen);
/* Binds (SO_REUSEADDR, listen backlog 128) each listener with a non-empty addr.
 * Returns 0, or -1 with err naming the address and why. */
int master_bind(struct listener *ls, size_t n, char *err, size_t errlen);
/* Switches to user (and its primary group, no supplementary groups) unless it is
 * the current user. Returns 0 or -1 with err. */
int master_drop_privileges(const char *user, char *err, size_t errlen);
/* From on_reload (SIGHUP): new session limits (as in master_opts) for the connections
 * accepted afterwards; sessions already running go on, a lowered limit applies as they
 * end. */
void master_set_limits(unsigned max_sessions, unsigned max_sessions_per_ip,
                       const unsigned pool_max[MASTER_MAX_POOLS]);
/* The reuse of session processes on listeners with reuse set (at start and from
 * on_reload): a process (pair) serves at most max_use connections, one at a time, and
 * ends after idle_time seconds without one (at the master's next tick). max_use 1 or 0:
 * one connection per process, as on the other listeners. */
void master_set_reuse(unsigned max_use, unsigned idle_time);
/* Per-account session processes on MASTER_REUSE_PRELOGIN listeners (at start and from
 * on_reload): a pre-login process gets its connection's session process only when it
 * asks (master_session_ask), an idle one handed out before for the same hint when there
 * is one, and at most idle_accounts of them wait between connections (0: none; the
 * session process is forked for each connection at accept, as without this). */
void master_set_account_reuse(unsigned idle_accounts);
/* In a reused pre-login process alone, at its first authentication request of a
 * connection (si: the connection's, si->pool_fd its socket to the master): asks the
 * master for the connection's session process, naming hint (see MASTER_HINT_MAX; only
 * a hint: the session process refuses another account than the one it served).
 * Returns 0 with *auth_fd and *relay_fd (closed by the caller, or by the pool after
 * the connection), or -1 (no session process: the caller tells the client to retry). */
int master_session_ask(const struct session_info *si, const char *hint, int *auth_fd, int *relay_fd);
/* In a reused process, during a connection: this connection is its last. It tells the
 * master so with the connection's end (the master hands it out no more) and ends, as
 * after its max_use-th. (A submission session process whose connection's hint does
 * not name its account: smtp_privsep.c.) Outside a reused process: nothing. */
void master_reused_last(void);
/* From on_reload or on_tick, when what the reused processes were forked with is stale
 * (SIGHUP: configuration, TLS material; a new CRL file): idle ones end now, busy ones
 * after their connection, and the next connections get fresh processes. */
void master_retire_reused(void);
/* In a child the daemon forks itself from the master (not a session: e.g. mss-smtpd's
 * queue process, restarted by on_child_exit or on_tick): closes the sockets to the
 * reused processes, which are the master's alone. */
void master_close_in_child(void);
/* Drops privileges to opts->user (fatal if that fails), then runs the accept loop;
 * returns 0 after a clean shutdown. */
int master_run(const struct master_opts *opts, struct listener *ls, size_t n);

#endif
