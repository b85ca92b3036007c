/* sasl.h: the server side of SASL (RFC 4422) for every daemon: the mechanisms they
 * offer, the parsing of the client's untrusted messages, and the exchange.
 *
 * Nothing here opens the database or reads a key: the exchange turns the client's
 * base64 lines into an auth_request and hands it to a verify callback. With privilege
 * separation (issue 12) the exchange stays in the unprivileged pre-login process and
 * the callback crosses a socketpair to the authentication process. Each daemon keeps
 * only its framing: SMTP's "334 " lines (RFC 4954 4), IMAP's "+ " continuations
 * (RFC 9051 6.2.2).
 *
 * Limits: a response line holds at most SASL_LINE_MAX base64 characters (the daemon's
 * reader enforces it); a decoded PLAIN, LOGIN or EXTERNAL message at most
 * SASL_MSG_MAX octets; a token at most AUTH_TOKEN_MAX (longer: AUTH_INPUT_TOO_LONG,
 * refused without being parsed). */
#ifndef MSS_SASL_H
#define MSS_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/mss_limits.h"
#include "auth/auth.h"
#include "lib/buf.h"

#define SASL_MSG_MAX MSS_SASL_MESSAGE_MAX /* lib/mss_limits.h */
#define SASL_LINE_MAX 24576               /* base64 of a 16 KiB token with its OAuth framing */
#define SASL_OAUTH_MAX 18432              /* a decoded XOAUTH2/OAUTHBEARER message */

/* What the daemon offers at this point of the session. */
struct sasl_offer {
	bool external; /* the verified client certificate maps to an account (auth_cert_map) */
	bool oauth;    /* OAuth is configured (oauth_jwks_file) */
};

/* "PLAIN", ... ("" for AUTH_MECH_NONE). */
const char *sasl_mech_name(enum auth_mech m);
/* The mechanism named (ASCII case-insensitive), AUTH_MECH_NONE when unknown. */
enum auth_mech sasl_mech_parse(const char *name);
bool sasl_offered(const struct sasl_offer *o, enum auth_mech m);
/* Appends prefix + name for each offered mechanism, in a fixed order: SMTP's EHLO uses
 * prefix " " ("AUTH PLAIN LOGIN ..."), IMAP's CAPABILITY " AUTH=". */
/* Returns 0, or -1 when out's limit is passed (the list is then incomplete). */
MSS_MUST_CHECK int sasl_list(const struct sasl_offer *o, const char *prefix, struct buf *out);

enum sasl_outcome {
	SASL_OK,        /* authenticated: rp says who */
	SASL_FAILED,    /* refused: 535 5.7.8 / NO [AUTHENTICATIONFAILED] */
	SASL_LOCKED,    /* throttled: 421 4.7.0 / NO, then BYE */
	SASL_TEMPFAIL,  /* verification unavailable: 454 4.7.0 / NO [UNAVAILABLE] */
	SASL_MALFORMED, /* bad base64, or an unusable line: 501 5.5.2 / BAD */
	SASL_CANCELLED, /* the client answered "*": 501 5.7.0 / BAD */
	SASL_GONE,      /* the connection ended or timed out (the daemon handled it) */
};

struct sasl_io {
	void *arg;
	/* Sends one challenge (base64 text, possibly "") in the daemon's framing, then reads
	 * the client's answer line, without its CRLF, into line. Returns 0; 1 when the line
	 * was unusable (over SASL_LINE_MAX, NUL, bare LF); -1 when the connection is gone. */
	int (*challenge)(void *arg, const char *b64, struct buf *line);
	/* Verifies a complete request and fills rp (auth_verify in this process today). */
	void (*verify)(void *arg, const struct auth_request *rq, struct auth_reply *rp);
};

/* Runs the exchange of mech, which the caller checked is offered. initial: the
 * initial response as sent (base64; "=" is an empty one, RFC 4954 4 and RFC 4959), or
 * NULL when there was none. rq: the caller's request with client_ip, protocol,
 * listener and peer filled in; sasl_run fills the rest and wipes the secret before it
 * returns. rp is filled for every outcome but SASL_GONE: a malformed or cancelled
 * exchange is verified too, so that it is audited and throttled (reason "malformed",
 * "cancelled").
 * XOAUTH2 and OAUTHBEARER answer a refused token with the error challenge of RFC 7628
 * 3.2.2 and read the client's dummy response before failing. */
enum sasl_outcome sasl_run(enum auth_mech mech, const char *initial, const struct sasl_io *io,
                           struct auth_request *rq, struct auth_reply *rp);

/* For a login outside SASL (IMAP LOGIN, a web form): user and password as given, under
 * the same rules, limits, delay and outcomes as a SASL LOGIN exchange (io->challenge
 * is not used). The secret is wiped before it returns. */
enum sasl_outcome sasl_password(const char *user, const char *password, const struct sasl_io *io,
                                struct auth_request *rq, struct auth_reply *rp);

/* ---- the parsers (pure; unit-tested and fuzzed) ---- */

/* One base64 decoder for the whole part: variant 0 is standard base64 with padding
 * (RFC 4648 4, SASL), 1 is base64url without padding (RFC 7515 2, JWS); libsodium's
 * sodium_base642bin does the work. Writes a NUL after the data (out holds outlen).
 * Returns the decoded length, or -1 (not base64, trailing garbage, or more than
 * outlen - 1 octets). Empty input decodes to 0 octets. */
enum sasl_b64 { SASL_B64_STANDARD = 0, SASL_B64_URL = 1 };
long sasl_b64_decode(const char *in, size_t inlen, enum sasl_b64 variant, unsigned char *out, size_t outlen);
/* Encodes standard base64 into out. Returns 0, or -1 when it does not fit. */
int sasl_b64_encode(const void *in, size_t inlen, char *out, size_t outlen);

/* Each parser reads one decoded client message (len octets; it may hold NULs) into rq
 * and sets rq->input: AUTH_INPUT_OK, AUTH_INPUT_MALFORMED, or (tokens)
 * AUTH_INPUT_TOO_LONG. Fields that do not fit, or hold NUL or control characters
 * where the syntax forbids them, make the message malformed, never truncated. */

/* RFC 4616: [authzid] NUL authcid NUL passwd. */
void sasl_parse_plain(const unsigned char *msg, size_t len, struct auth_request *rq);
/* LOGIN's two answers: the user name, then the password. */
void sasl_parse_login_user(const unsigned char *msg, size_t len, struct auth_request *rq);
void sasl_parse_login_password(const unsigned char *msg, size_t len, struct auth_request *rq);
/* RFC 4422 appendix A: an optional authorization identity. */
void sasl_parse_external(const unsigned char *msg, size_t len, struct auth_request *rq);
/* XOAUTH2: "user=" user ^A "auth=Bearer " token ^A ^A. */
void sasl_parse_xoauth2(const unsigned char *msg, size_t len, struct auth_request *rq);
/* RFC 7628 3.1: gs2-header ("n,a=user," or "y,..."; channel binding "p=" refused)
 * ^A key=value pairs (auth=Bearer token required; host, port, others ignored) ^A ^A.
 * The gs2 authzid's "=2C" and "=3D" escapes (RFC 5801) are decoded into rq->user. */
void sasl_parse_oauthbearer(const unsigned char *msg, size_t len, struct auth_request *rq);

#endif
