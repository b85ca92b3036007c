/* imap_auth.c: commands of any state and of the not-authenticated state: CAPABILITY,
 * NOOP, LOGOUT, ID, STARTTLS, LOGIN, AUTHENTICATE (PLAIN, EXTERNAL), and ENABLE. */
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "imapd/imap_cmd.h"
#include "lib/log.h"
#include "lib/str.h"

#define SASL_LINE_MAX 8192 /* a PLAIN response: two addresses and a password, base64 */

void cmd_capability(struct imap_session *s, struct imap_command *c)
{
	struct buf capa;
	buf_init(&capa, BUF_UNLIMITED);
	imap_capability_list(s, &capa);
	conn_printf(s->conn, "* CAPABILITY %s\r\n", capa.data);
	buf_free(&capa);
	imap_ok(s, c->tag, "Capability completed");
}

void cmd_noop(struct imap_session *s, struct imap_command *c)
{
	imap_ok(s, c->tag, "%s completed", c->name);
}

void cmd_logout(struct imap_session *s, struct imap_command *c)
{
	conn_puts(s->conn, "* BYE Logging out\r\n");
	imap_ok(s, c->tag, "Logout completed");
	s->state = IMAP_STATE_LOGOUT;
}

/* RFC 2971: the client's identification is only logged (bounded), ours is minimal. */
void cmd_id(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs != 1 || (c->args[0].type != IMAP_ARG_NIL && c->args[0].type != IMAP_ARG_LIST)) {
		imap_bad(s, c->tag, "ID expects a list or NIL");
		return;
	}
	conn_puts(s->conn, "* ID (\"name\" \"MSS\" \"vendor\" \"MSS\")\r\n");
	imap_ok(s, c->tag, "ID completed");
}

void cmd_starttls(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs != 0) {
		imap_bad(s, c->tag, "STARTTLS takes no arguments");
		return;
	}
	if (conn_is_tls(s->conn) || s->tls == NULL) {
		imap_bad(s, c->tag, "TLS is already active");
		return;
	}
	imap_ok(s, c->tag, "Begin TLS negotiation now");
	conn_flush(s->conn);
	char err[256];
	conn_set_timeout(s->conn, s->cfg->tls_handshake_timeout);
	int rc = conn_start_tls(s->conn, s->tls, err, sizeof(err));
	conn_set_timeout(s->conn, s->cfg->imap_idle_timeout);
	if (rc < 0) {
		log_info("imap.tls_failed", "peer=%s error=\"%s\"", conn_peer_ip(s->conn), err);
		s->close_after_reply = true;
		return;
	}
	const struct tls_peer *p = conn_tls_peer(s->conn);
	log_info("imap.starttls", "peer=%s version=%s cipher=%s client_cert=%d", conn_peer_ip(s->conn),
	         p->version, p->cipher, p->has_cert);
}

/* Successful authentication: the state changes and the capabilities are resent. */
static void auth_success(struct imap_session *s, const char *tag, const struct account *a, const char *method)
{
	s->account = *a;
	s->auth_method = method;
	s->state = IMAP_STATE_AUTH;
	s->auth_failures = 0;
	imap_audit(s, "imap.login", a->address, method, "ok");
	log_info("imap.login", "peer=%s user=%s method=%s", conn_peer_ip(s->conn), a->address, method);
	struct buf capa;
	buf_init(&capa, BUF_UNLIMITED);
	imap_capability_list(s, &capa);
	imap_ok(s, tag, "[CAPABILITY %s] Logged in", capa.data);
	buf_free(&capa);
}

/* Failed authentication: audited, slowed down, and the session ends after too many. */
static void auth_failure(struct imap_session *s, const char *tag, const char *who, const char *method,
                         const char *why)
{
	char result[128];
	str_format(result, sizeof(result), "refused: %s", why);
	imap_audit(s, "imap.login", who, method, result);
	char q[300];
	log_info("imap.login_failed", "peer=%s user=%s method=%s reason=\"%s\"", conn_peer_ip(s->conn),
	         log_quote(q, sizeof(q), who), method, why);
	unsigned ms = s->cfg->auth_failure_delay;
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	imap_no(s, tag, "[AUTHENTICATIONFAILED] Authentication failed");
	if (++s->auth_failures >= s->cfg->auth_max_failures) {
		conn_puts(s->conn, "* BYE Too many authentication failures\r\n");
		s->close_after_reply = true;
	}
}

/* The password check shared by LOGIN and AUTHENTICATE PLAIN. */
static void password_login(struct imap_session *s, const char *tag, const char *user, const char *pass)
{
	struct account a;
	int rc = account_check_password(s->store, user, pass, &a);
	if (rc < 0) {
		imap_no(s, tag, "[UNAVAILABLE] Temporary failure, try again later");
		return;
	}
	if (rc == 0) {
		auth_failure(s, tag, user, "password", "bad credentials");
		return;
	}
	auth_success(s, tag, &a, "password");
}

static bool require_tls(struct imap_session *s, const char *tag)
{
	if (conn_is_tls(s->conn))
		return true;
	imap_no(s, tag, "[PRIVACYREQUIRED] Plaintext authentication disallowed before STARTTLS");
	return false;
}

void cmd_login(struct imap_session *s, struct imap_command *c)
{
	const char *user = c->nargs == 2 ? imap_arg_astring(&c->args[0]) : NULL;
	const char *pass = c->nargs == 2 ? imap_arg_astring(&c->args[1]) : NULL;
	if (user == NULL || pass == NULL) {
		imap_bad(s, c->tag, "LOGIN expects user and password");
		return;
	}
	if (!require_tls(s, c->tag))
		return;
	password_login(s, c->tag, user, pass);
}

/* Decodes base64 ("=" is the empty response, RFC 4959). Returns the length or -1. */
static long sasl_decode(const char *in, unsigned char *out, size_t outlen)
{
	if (strcmp(in, "=") == 0)
		return 0;
	size_t n;
	if (sodium_base642bin(out, outlen - 1, in, strlen(in), NULL, &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	out[n] = '\0';
	return (long)n;
}

/* Gets the client's response: the initial response, or a continuation round.
 * Returns the decoded length, -1 on bad base64 (BAD sent), -2 when cancelled or the
 * connection ended (reply sent or session closing). */
static long sasl_response(struct imap_session *s, const char *tag, const struct imap_command *c,
                          unsigned char *out, size_t outlen)
{
	const char *ir = c->nargs == 2 ? imap_arg_astring(&c->args[1]) : NULL;
	struct buf line;
	buf_init(&line, BUF_UNLIMITED);
	if (ir == NULL) {
		conn_puts(s->conn, "+ \r\n");
		conn_flush(s->conn);
		enum conn_result r = conn_read_line(s->conn, &line, SASL_LINE_MAX, NULL);
		if (r != CONN_OK) {
			if (r == CONN_TOOLONG)
				imap_bad(s, tag, "Response too long");
			else
				s->close_after_reply = true;
			buf_free(&line);
			return -2;
		}
		if (strcmp(line.data, "*") == 0) {
			imap_bad(s, tag, "Authentication cancelled");
			buf_free(&line);
			return -2;
		}
		ir = line.data;
	}
	long n = sasl_decode(ir, out, outlen);
	buf_free(&line);
	if (n < 0)
		imap_bad(s, tag, "Invalid base64 in response");
	return n;
}

/* RFC 4616: [authzid] NUL authcid NUL passwd; authzid must be empty or authcid. */
static void sasl_plain(struct imap_session *s, struct imap_command *c)
{
	unsigned char msg[SASL_LINE_MAX];
	long n = sasl_response(s, c->tag, c, msg, sizeof(msg));
	if (n < 0)
		return;
	const char *authz = (const char *)msg;
	const char *p1 = memchr(msg, '\0', (size_t)n);
	const char *p2 = p1 ? memchr(p1 + 1, '\0', (size_t)(n - (p1 + 1 - authz))) : NULL;
	if (p1 == NULL || p2 == NULL || memchr(p2 + 1, '\0', (size_t)(n - (p2 + 1 - authz))) != NULL) {
		imap_bad(s, c->tag, "Malformed PLAIN response");
		sodium_memzero(msg, sizeof(msg));
		return;
	}
	const char *authc = p1 + 1, *pass = p2 + 1;
	if (authz[0] != '\0' && !str_ieq(authz, authc))
		auth_failure(s, c->tag, authc, "password", "authorization identity differs");
	else
		password_login(s, c->tag, authc, pass);
	sodium_memzero(msg, sizeof(msg));
}

/* RFC 4422 appendix A: the verified client certificate names the account. */
static void sasl_external(struct imap_session *s, struct imap_command *c)
{
	const struct tls_peer *p = conn_tls_peer(s->conn);
	unsigned char authz[512];
	long n = sasl_response(s, c->tag, c, authz, sizeof(authz));
	if (n < 0)
		return;
	if (!p->has_cert) {
		auth_failure(s, c->tag, "", "certificate", "no client certificate");
		return;
	}
	struct account a;
	int rc = account_by_cert(s->store, p->sha256, p->email, &a);
	if (rc < 0) {
		imap_no(s, c->tag, "[UNAVAILABLE] Temporary failure, try again later");
		return;
	}
	if (rc == 0 || a.disabled) {
		auth_failure(s, c->tag, p->email, "certificate",
		             rc == 0 ? "unknown certificate" : "disabled");
		return;
	}
	if (n > 0 && (memchr(authz, '\0', (size_t)n) || !str_ieq((const char *)authz, a.address))) {
		auth_failure(s, c->tag, a.address, "certificate", "authorization identity differs");
		return;
	}
	auth_success(s, c->tag, &a, "certificate");
}

void cmd_authenticate(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs < 1 || c->nargs > 2 || c->args[0].type != IMAP_ARG_ATOM) {
		imap_bad(s, c->tag, "AUTHENTICATE expects a mechanism");
		return;
	}
	const char *mech = c->args[0].str;
	if (str_ieq(mech, "PLAIN")) {
		if (require_tls(s, c->tag))
			sasl_plain(s, c);
	} else if (str_ieq(mech, "EXTERNAL")) {
		if (require_tls(s, c->tag))
			sasl_external(s, c);
	} else {
		imap_no(s, c->tag, "Unsupported authentication mechanism");
	}
}

/* RFC 5161. Only extensions we advertise and implement can be enabled. */
void cmd_enable(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs == 0) {
		imap_bad(s, c->tag, "ENABLE expects capability names");
		return;
	}
	struct buf en;
	buf_init(&en, BUF_UNLIMITED);
	for (size_t i = 0; i < c->nargs; i++) {
		if (c->args[i].type != IMAP_ARG_ATOM) {
			imap_bad(s, c->tag, "ENABLE expects atoms");
			buf_free(&en);
			return;
		}
		if (str_ieq(c->args[i].str, "CONDSTORE") && !s->enabled_condstore) {
			imap_condstore_enable(s);
			buf_append_str(&en, " CONDSTORE");
		} else if (str_ieq(c->args[i].str, "IMAP4rev2") && !s->enabled_rev2) {
			/* RFC 9051: ESEARCH results, UTF-8 mailbox names, no \Recent */
			s->enabled_rev2 = true;
			s->enabled_utf8 = true;
			buf_append_str(&en, " IMAP4rev2");
		}
	}
	conn_printf(s->conn, "* ENABLED%s\r\n", en.data);
	buf_free(&en);
	imap_ok(s, c->tag, "Enabled");
}
