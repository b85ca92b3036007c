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
 *   HANDOFF  (pre-login -> session): struct auth_handoff, not answered: the pre-login
 *            process hands the conversation over (mss-smtpd: once AUTH succeeded, or on
 *            the MX listener at the first MAIL) and relays cleartext from then on
 * A message whose header or body does not check (auth_chan_check: wrong magic,
 * version, type or length, a string without its terminating NUL, an enum out of range)
 * is forged or truncated: the receiver logs it (auth.chan_refused), drops it, and ends
 * the sending process. The secret inside a VERIFY is wiped on both sides after use. */
#ifndef MSS_AUTH_CHAN_H
#define MSS_AUTH_CHAN_H

#include <stdbool.h>
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
	AUTH_CHAN_HANDOFF = 4,
};

/* What a session process must know of the conversation held before the hand-off:
 * the TLS session (version, cipher, the verified client certificate), the client's
 * own name (SMTP's EHLO/HELO argument) and the protocol errors counted so far (so that
 * a limit on them holds across the hand-off). Believed as the pre-login process
 * reports it, as Dovecot's auth believes its login process on the TLS state; a login
 * is never taken from it: only the session process's own successful VERIFY counts. */
#define AUTH_HANDOFF_TLS 1u      /* the conversation runs in TLS */
#define AUTH_HANDOFF_EXTENDED 2u /* SMTP: EHLO rather than HELO */
#define AUTH_HANDOFF_CERT 4u     /* a client certificate was presented and verified */
#define AUTH_HANDOFF_FLAGS 7u
struct auth_handoff {
	uint32_t flags;
	uint32_t errors;
	char client_name[256]; /* "" when the client has not named itself */
	char sha256[65];
	char email[256];
	char subject_dn[512];
	char issuer_dn[512];
	char tls_version[16];
	char tls_cipher[64];
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
	struct auth_handoff ho;
};

struct auth_chan_msg {
	struct auth_chan_hdr h;
	union auth_chan_body b;
};

/* A socketpair for one connection (close-on-exec both). Returns 0 or -1. */
int auth_chan_pair(int sv[2]);

/* Checks a received message of n octets (n as recv reported it with MSG_TRUNC, so a
 * larger datagram shows as longer than the struct). want: the type expected, or 0 for
 * any request (VERIFY, CERT_MAP or HANDOFF). Returns the type, or -1 with err (for the log). */
int auth_chan_check(const struct auth_chan_msg *m, size_t n, int want, char *err, size_t errlen);

/* ---- the pre-login side ---- */
/* Sends rq and waits for the reply (the session process answers within its own
 * bounds: the hashing pool's wait, store_timeout). Returns 0, or -1 when the channel
 * failed or the reply did not check (rp then says AUTH_TEMPFAIL / AUTH_R_INTERNAL). */
int auth_chan_verify(int fd, const struct auth_request *rq, struct auth_reply *rp);
/* Asks whether peer's certificate maps to an account. Returns 1, 0, or -1 (the
 * channel failed, or the session process refused: it serves another account). */
int auth_chan_cert_map(int fd, const struct auth_peer *peer);
/* Hands the conversation over (HANDOFF, not answered). Returns 0 or -1. */
int auth_chan_handoff(int fd, const struct auth_handoff *ho);
/* The TLS state of a hand-off, both ways: into ho's fields (flags TLS and CERT set
 * from tls, NULL: no TLS), and back into a struct tls_peer. */
void auth_handoff_set_tls(struct auth_handoff *ho, const struct tls_peer *tls);
void auth_handoff_tls(const struct auth_handoff *ho, struct tls_peer *out);

/* ---- the session side ---- */
enum auth_chan_served {
	AUTH_CHAN_LOGGED_IN = 1,      /* a VERIFY succeeded: *ok holds the reply (already sent) */
	AUTH_CHAN_ANSWERED = 0,       /* a request was answered; wait for the next */
	AUTH_CHAN_CLOSED = -1,        /* the pre-login process closed the channel (or failed) */
	AUTH_CHAN_REFUSED = -2,       /* a forged or truncated message: logged, and peer killed */
	AUTH_CHAN_HANDED_OVER = 2,    /* a HANDOFF arrived: *ho holds it */
	AUTH_CHAN_OTHER_ACCOUNT = -3, /* the answer named another account than own: the
	                               * pre-login process was told AUTH_TEMPFAIL instead */
};
/* A session process's account across the connections it serves (mss-smtpd's
 * submission session process reused for its own account). account: the one it logged
 * in before ("" or NULL: none yet). named: what the connection's first VERIFY or
 * CERT_MAP named, as this process verified it (named_set: there was one): the account
 * the certificate maps to ("" when it maps to none), or the SASL user of the login,
 * whatever the login's outcome. The pre-login process names the same request's
 * certificate or user to the master as the hint its session process is kept under, so
 * the session process can tell whether that hint names its account (smtp_privsep.c). */
struct auth_chan_own {
	const char *account;
	bool named_set;
	char named[AUTH_ADDRESS_MAX];
};
/* Waits for one request on fd (SIGTERM interrupts: AUTH_CHAN_CLOSED with errno EINTR
 * left for the caller to see through conn_stopping()), answers it with ctx, and says
 * what happened. peer: the pre-login process, ended (SIGKILL) on a refused message.
 * A HANDOFF is refused here (mss-imapd's pre-login process never sends one). */
enum auth_chan_served auth_chan_serve(int fd, pid_t peer, const struct auth_ctx *ctx, struct auth_reply *ok);
/* The session process between requests: waits, in one-second rounds that a signal
 * interrupts harmlessly, until fd has a message or its end (SIGTERM reaches the
 * pre-login process, which answers its client and closes the channel). Returns 1, or 0
 * when poll failed. */
int auth_chan_wait(int fd);
/* mss-smtpd's session process: as auth_chan_serve, and a HANDOFF is taken (*ho, after
 * its check: AUTH_CHAN_HANDED_OVER). logged_in: a VERIFY already succeeded, so the only
 * message the pre-login process may still send is the HANDOFF (any other is refused
 * as forged). own (NULL: none): own->account, the account this process logged in
 * before (a session process reused for its own account): a VERIFY or CERT_MAP whose
 * answer names another account is answered AUTH_TEMPFAIL, and AUTH_CHAN_OTHER_ACCOUNT
 * returned (the caller ends the process); own->named is filled by the first of them
 * (the caller clears named_set at each connection). */
enum auth_chan_served auth_chan_serve_until_handoff(int fd, pid_t peer, const struct auth_ctx *ctx,
                                                    bool logged_in, struct auth_chan_own *own,
                                                    struct auth_reply *ok, struct auth_handoff *ho);

#endif
