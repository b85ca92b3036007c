/* auth.h: who a client is, decided once for every daemon (mss-smtpd, mss-imapd, and
 * later the web server).
 *
 * A login is one request and one reply, both plain structs with fixed-size fields and
 * no pointers, so that privilege separation (issue 12) can carry them over a
 * socketpair: the SASL exchange (sasl.h) runs in the unprivileged pre-login process,
 * auth_verify in the authentication process that holds the database.
 *
 * The role rules (DESIGN.md "Who connects, and how"), the same on every port:
 * - patients log in with their password;
 * - professionals and organisations with a client certificate mapped to their account
 *   (EXTERNAL), with their password together with that same certificate, or with an
 *   OAuth access token (XOAUTH2, OAUTHBEARER; oauth.h); a password alone never logs
 *   them in;
 * - a disabled account never logs in.
 * A certificate maps to an account by its registered SHA-256 fingerprint, or by its
 * subjectAltName e-mail; either way only to a professional or organisation account,
 * never to a patient's.
 *
 * Every attempt is written to the audit log (mechanism, client address, result; never
 * the secret) and password and token attempts are throttled per client address and per
 * account (auth_throttle.h). */
#ifndef MSS_AUTH_H
#define MSS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/mss_limits.h"
#include "directory/account.h"
#include "lib/config.h"
#include "lib/tls.h"
#include "store/store.h"

#define AUTH_ADDRESS_MAX MSS_ADDRESS_SIZE
#define AUTH_TOKEN_MAX MSS_AUTH_TOKEN_MAX /* lib/mss_limits.h */
#define AUTH_SECRET_MAX (AUTH_TOKEN_MAX + 1)

enum auth_mech {
	AUTH_MECH_NONE = 0,
	AUTH_MECH_PLAIN,       /* RFC 4616 */
	AUTH_MECH_LOGIN,       /* draft-murchison-sasl-login */
	AUTH_MECH_EXTERNAL,    /* RFC 4422 appendix A: the TLS client certificate */
	AUTH_MECH_XOAUTH2,     /* Google's XOAUTH2, asked by Référentiel #2 CONF.07 */
	AUTH_MECH_OAUTHBEARER, /* RFC 7628 */
};

/* What the SASL parser made of the client's message. */
enum auth_input {
	AUTH_INPUT_OK = 0,
	AUTH_INPUT_MALFORMED, /* the decoded message does not follow its mechanism's syntax */
	AUTH_INPUT_TOO_LONG,  /* a token over AUTH_TOKEN_MAX: refused unread */
	AUTH_INPUT_CANCELLED, /* the client cancelled the exchange ("*") */
};

/* The verified TLS client certificate (from lib/tls.h), as authentication needs it. */
struct auth_peer {
	bool has_cert;
	char sha256[65];      /* lowercase hex */
	char email[256];      /* subjectAltName rfc822Name */
	char subject_dn[512]; /* RFC 2253 */
};

struct auth_request {
	enum auth_mech mech;
	enum auth_input input;
	char user[AUTH_ADDRESS_MAX];    /* the identity the client names ("" for EXTERNAL) */
	char authzid[AUTH_ADDRESS_MAX]; /* authorization identity, "" when none (no proxying) */
	char secret[AUTH_SECRET_MAX];   /* password or bearer token: wiped by its owner */
	char client_ip[64];
	char protocol[8];  /* "smtp", "imap", "web": names the audit action ("imap.login") */
	char listener[16]; /* "submission", "imaps", ... (audit detail) */
	struct auth_peer peer;
};

enum auth_result {
	AUTH_OK = 0,
	AUTH_FAILED,   /* 535 5.7.8 / NO [AUTHENTICATIONFAILED] */
	AUTH_LOCKED,   /* throttled: 421 4.7.0 / NO and BYE */
	AUTH_TEMPFAIL, /* database or internal error: 454 4.7.0 / NO [UNAVAILABLE] */
};

/* Why an attempt failed: logged and audited, never told to the client. */
enum auth_reason {
	AUTH_R_OK = 0,
	AUTH_R_BAD_CREDENTIALS,    /* unknown account, no or wrong password */
	AUTH_R_MALFORMED,          /* the SASL message does not parse (bad base64 too) */
	AUTH_R_CANCELLED,          /* the client cancelled the exchange */
	AUTH_R_DISABLED,           /* the account is disabled */
	AUTH_R_AUTHZID,            /* an authorization identity other than the account */
	AUTH_R_NEEDS_CERT,         /* a professional's password without a client certificate */
	AUTH_R_CERT_OTHER_ACCOUNT, /* ... with a certificate that is not this account's */
	AUTH_R_CERT_UNMAPPED,      /* EXTERNAL: no certificate, or one that maps to no account */
	AUTH_R_ROLE,               /* the mechanism is not one this role may use */
	AUTH_R_OAUTH_OFF,          /* a token, but no oauth_jwks_file is configured */
	AUTH_R_TOKEN_TOO_LONG,     /* over AUTH_TOKEN_MAX */
	AUTH_R_TOKEN_MALFORMED,    /* not a JWS compact serialization, bad base64url or JSON */
	AUTH_R_TOKEN_ALG,          /* alg none, HS256 or any other than RS256, PS256, ES256 */
	AUTH_R_TOKEN_KID,          /* no key of the JWKS matches */
	AUTH_R_TOKEN_SIGNATURE,    /* the signature does not verify */
	AUTH_R_TOKEN_EXPIRED,      /* exp passed (beyond oauth_clock_skew) */
	AUTH_R_TOKEN_NOT_YET,      /* nbf in the future (beyond oauth_clock_skew) */
	AUTH_R_TOKEN_ISSUER,       /* iss is not oauth_issuer */
	AUTH_R_TOKEN_AUDIENCE,     /* aud does not contain oauth_audience */
	AUTH_R_TOKEN_IDENTITY,     /* the identity claim is missing or names no account */
	AUTH_R_TOKEN_OTHER_USER,   /* the token names another account than the SASL user */
	AUTH_R_LOCKED_CLIENT,      /* too many recent failures from this client address */
	AUTH_R_LOCKED_ACCOUNT,     /* too many recent failures against this account */
	AUTH_R_INTERNAL,           /* database or library error */
	AUTH_R_COUNT
};

/* How strongly the client proved itself (the audit record's "auth" field). */
enum auth_strength {
	AUTH_STRENGTH_NONE = 0,
	AUTH_STRENGTH_PASSWORD,
	AUTH_STRENGTH_CERTIFICATE,
	AUTH_STRENGTH_PASSWORD_CERT, /* password and the account's own certificate */
	AUTH_STRENGTH_TOKEN,
};

struct auth_reply {
	enum auth_result result;
	enum auth_reason reason;
	char account[AUTH_ADDRESS_MAX]; /* on AUTH_OK: the account (lowercase) */
	enum account_role role;         /* on AUTH_OK */
	enum auth_strength strength;    /* on AUTH_OK */
	/* on AUTH_OK: the account's password digest then (account.h), for a session that
	 * logged in with the password to tell a reset later (submission's MAIL) */
	unsigned char password_stamp[ACCOUNT_STAMP_SIZE];
	/* on AUTH_OK: the same of its certificate fingerprints, for a certificate login to
	 * tell a set-cert later */
	unsigned char cert_stamp[ACCOUNT_STAMP_SIZE];
	unsigned delay_ms; /* on failure: wait this long before answering */
};

struct oauth_keys;

/* What verification needs. Today each session process builds one over its own store
 * handle; with privilege separation it lives in the authentication process. keys is
 * NULL when OAuth is not configured. defer_login_record: an accepted login's audit
 * record is kept (audit_defer) and written with what the session stores next, as an
 * accepted MAIL or RCPT's is (audit.h, "Deferred records"): mss-smtpd only, whose
 * sessions write kept records at each transaction's end and the connection's, and
 * whose login gives access to nothing stored (IMAP's and the web's logins read:
 * written before their answer). A refusal is always written before its answer. */
struct auth_ctx {
	struct store *store;
	const struct mss_config *cfg;
	const struct oauth_keys *keys;
	bool defer_login_record;
	struct auth_cert_memo *memo; /* NULL, or see struct auth_cert_memo */
};

/* One connection's certificate mapping, read once for its login (mss-smtpd's
 * submission session process, one per connection, wiped at its end). The pre-login
 * process asks for the mapping (CERT_MAP: offer EXTERNAL or not) after EHLO, then for
 * the login (VERIFY) one client round trip later, with the same certificate: the login
 * takes the account the mapping read instead of reading it again, once (a second
 * login reads afresh). The row is older by that round trip only, as a login's row
 * always gets older during its connection: what the sending depends on is read again
 * at every MAIL, which refuses a disabled account or a changed certificate
 * (identity.c, cert_stamp). A read transaction less a connection: with the committer
 * committing between any two, every one reloads SQLite's page cache (issue 15). */
struct auth_cert_memo {
	bool set;
	struct auth_peer peer;  /* the certificate as CERT_MAP named it */
	struct account account; /* its account, as cert_account accepted it */
};

/* Short fixed word for logs and audit records ("bad-credentials", ...). */
const char *auth_reason_name(enum auth_reason r);
/* "password", "certificate", "password+certificate", "token", "none". */
const char *auth_strength_name(enum auth_strength s);

/* Verifies one complete request at time now and fills rp (always). Audits the attempt,
 * updates the throttling counters, never logs nor keeps rq->secret (the caller wipes
 * it). Returns rp->result. */
enum auth_result auth_verify(const struct auth_ctx *ctx, const struct auth_request *rq, struct auth_reply *rp,
                             time_t now);

/* Copies what authentication needs of a verified TLS peer (nothing when it has no
 * certificate). */
void auth_peer_from_tls(struct auth_peer *out, const struct tls_peer *p);

/* The account peer's certificate maps to (see above), for offering EXTERNAL and for
 * establishment relays on the MX. Returns 1 (rp->account and rp->role set), 0 when it
 * maps to none (no certificate, unknown, a patient's, disabled), -1 on error. */
int auth_cert_map(const struct auth_ctx *ctx, const struct auth_peer *peer, struct auth_reply *rp);

#endif
