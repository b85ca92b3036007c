/* auth_chan.h: the authentication channel between a pre-login process (lib/privsep.h),
 * which runs the SASL exchange of untrusted bytes, and its session process, which holds
 * the database and runs auth_verify (issue 12, doc/architecture.md "Process separation
 * before login").
 *
 * One socketpair(AF_UNIX, SOCK_SEQPACKET) per connection: the kernel keeps message
 * boundaries, so a message arrives whole or is refused (MSG_TRUNC), never spliced.
 * Every message is one fixed-size struct without pointers: a header (magic "MSSA",
 * version, type, length of the whole message), then the body of its type:
 *   VERIFY   (pre-login -> session): struct auth_request, answered by REPLY
 *   CERT_MAP (pre-login -> session): struct auth_peer, answered by REPLY (result
 *            AUTH_OK when the certificate maps to an account, for offering EXTERNAL)
 *   REPLY    (session -> pre-login): struct auth_reply
 * A message whose header or body does not check (auth_chan_check: wrong magic,
 * version, type or length, a string without its terminating NUL, an enum out of range)
 * is forged or truncated: the receiver logs it (auth.chan_refused), drops it, and ends
 * the sending process. The secret inside a VERIFY is wiped on both sides after use. */
#ifndef MSS_AUTH_CHAN_H
#define MSS_AUTH_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/auth.h"

#define AUTH_CHAN_MAGIC 0x4153534du /* "MSSA" read as little-endian bytes */
#define AUTH_CHAN_VERSION 1

enum auth_chan_type {
	AUTH_CHAN_VERIFY = 1,
	AUTH_CHAN_CERT_MAP = 2,
	AUTH_CHAN_REPLY = 3,
};

struct auth_chan_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;   /* enum auth_chan_type */
	uint32_t length; /* of the whole message, header included */
	uint32_t pad;
};

union auth_chan_body {
	struct auth_request rq;
	struct auth_peer peer;
	struct auth_reply rp;
};

struct auth_chan_msg {
	struct auth_chan_hdr h;
	union auth_chan_body b;
};

/* A socketpair for one connection (close-on-exec both). Returns 0 or -1. */
int auth_chan_pair(int sv[2]);

/* Checks a received message of n octets (n as recv reported it with MSG_TRUNC, so a
 * larger datagram shows as longer than the struct). want: the type expected, or 0 for
 * any request (VERIFY or CERT_MAP). Returns the type, or -1 with err (for the log). */
int auth_chan_check(const struct auth_chan_msg *m, size_t n, int want, char *err, size_t errlen);

/* ---- the pre-login side ---- */
/* Sends rq and waits for the reply (the session process answers within its own
 * bounds: the hashing pool's wait, store_timeout). Returns 0, or -1 when the channel
 * failed or the reply did not check (rp then says AUTH_TEMPFAIL / AUTH_R_INTERNAL). */
int auth_chan_verify(int fd, const struct auth_request *rq, struct auth_reply *rp);
/* Asks whether peer's certificate maps to an account. Returns 1, 0, or -1. */
int auth_chan_cert_map(int fd, const struct auth_peer *peer);

/* ---- the session side ---- */
enum auth_chan_served {
	AUTH_CHAN_LOGGED_IN = 1, /* a VERIFY succeeded: *ok holds the reply (already sent) */
	AUTH_CHAN_ANSWERED = 0,  /* a request was answered; wait for the next */
	AUTH_CHAN_CLOSED = -1,   /* the pre-login process closed the channel (or failed) */
	AUTH_CHAN_REFUSED = -2,  /* a forged or truncated message: logged, and peer killed */
};
/* Waits for one request on fd (SIGTERM interrupts: AUTH_CHAN_CLOSED with errno EINTR
 * left for the caller to see through conn_stopping()), answers it with ctx, and says
 * what happened. peer: the pre-login process, ended (SIGKILL) on a refused message. */
enum auth_chan_served auth_chan_serve(int fd, pid_t peer, const struct auth_ctx *ctx, struct auth_reply *ok);

#endif
