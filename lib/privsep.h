/* privsep.h: the process that runs a connection's code before login (issue 12,
 * doc/architecture.md "Process separation before login").
 *
 * A session process (forked by lib/master, running as `user`) forks a pre-login process
 * for its connection: that process chroots to an empty root-owned directory
 * (login_root, default data_dir/run/empty, 0755 root) and switches to login_user
 * (default nobody), so that the TLS handshake, the command parser and the SASL exchange
 * run with no database handle, no key file it could open and no file to read at all.
 * It asks the session process, over a socketpair, whether a login is good (auth/
 * auth_chan.h); once logged in it keeps the TLS session and relays cleartext between
 * the client and the session process (Dovecot's login proxying), which then runs the
 * logged-in protocol without ever parsing TLS.
 *
 * Without root (a daemon not started as root) nothing can switch users or chroot: the
 * master logs one privsep.reduced warning and the session runs in one process as
 * before (privsep_prepare leaves p->on false). */
#ifndef MSS_PRIVSEP_H
#define MSS_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/config.h"
#include "lib/conn.h"

struct privsep {
	bool on;   /* pre-login processes are separated */
	uid_t uid; /* login_user's */
	gid_t gid;
	char root[CONFIG_PATH_MAX + 16]; /* the empty directory */
};

/* At start, as root, before the master drops privileges: resolves login_user and makes
 * the empty directory (created 0755 root when missing; one that is not a directory,
 * not empty, or a symbolic link is refused; its owner and mode are set to root and
 * 0755). Not root: p->on = false, returns 0. Returns 0, or -1 with err. */
int privsep_prepare(const struct mss_config *cfg, struct privsep *p, char *err, size_t errlen);

/* In the daemon's main, instead of master_drop_privileges: switches to user for good;
 * with p->on, the process keeps in its permitted set (none effective) only what the
 * master needs to fork pre-login processes and end them: CAP_SETUID, CAP_SETGID,
 * CAP_SYS_CHROOT and CAP_KILL (Dovecot's master keeps root whole). Returns 0 or -1
 * with err. */
int privsep_drop(const struct privsep *p, const char *user, char *err, size_t errlen);
/* In every process the master forks but pre-login ones: clears every capability left
 * by privsep_drop. */
void privsep_drop_caps(void);
/* The master, to end a pre-login process (login_user's: CAP_KILL, raised for the call
 * only). */
void privsep_signal(long pid, int sig);

/* In the freshly forked pre-login process, first: closes every descriptor but 0-2, the
 * n in keep (negative ones ignored) and the syslog socket (connected to /dev/log,
 * which the chroot hides), so that nothing the session process or the master held
 * (the audit signer's socket, the metrics file, listeners) stays reachable. */
void privsep_close_others(const int *keep, size_t n);

/* In the freshly forked pre-login process: chroot to p->root, chdir("/"), drop every
 * group, switch to login_user and clear every capability, for good (checked: neither
 * root nor the daemons' user can be regained). Returns 0, or -1 with err (the caller
 * ends the process). */
int privsep_enter(const struct privsep *p, char *err, size_t errlen);

struct session_info;
struct key_agent;
struct tls_ctx;
/* A pre-login process's first steps, the same in every daemon: privsep_close_others
 * keeping the client socket fd, the session's channels (si: key agent, auth, relay) and
 * the key agent's sockets the TLS context signs through; tls_ctx_settle_crl (the chroot
 * hides the CRL file); privsep_enter. Returns 0, or -1 after logging privsep.enter
 * with the peer and why (the caller ends the process). */
int privsep_prelogin_begin(const struct privsep *p, int fd, const struct session_info *si,
                           const struct key_agent *agent, struct tls_ctx *tls);

/* The pre-login process once logged in: relays cleartext between the client (its TLS
 * session, input already buffered included) and fd, the session process's end, until
 * either side closes; a client that goes away is passed on as end of input on fd, and
 * what the session process still writes is relayed until it closes fd. Output towards
 * fd is buffered up to a bound, so a session process writing a long answer while the
 * client sends more never deadlocks the two. Returns when done (the caller frees). */
void privsep_relay(struct conn *client, int fd, unsigned idle_timeout);

/* Puts the calling process (a relay about to start) under SCHED_BATCH: woken by the
 * client's input or the session process's output, it no longer preempts the process
 * that woke it, which is about to wait for the answer anyway; it runs when that one
 * sleeps, or on the other processor. One switch of the processor less per command
 * (issue 15: a body FETCH, bench/README "bodyfetch2"); its share and nice value stay.
 * Returns 0, or -1 with errno (the relay then runs as it was: nothing depends on it). */
int privsep_relay_batch(void);
/* Back to the normal policy (SCHED_OTHER), for a reused process whose connection
 * ended: the next one starts as a fresh process would. Returns 0, or -1 with errno. */
int privsep_relay_normal(void);

#endif
