/* smtp_auth.c: the AUTH command and the shared failure table (see smtp_auth.h). */

#include "smtpd/smtp_auth.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "directory/account.h"
#include "lib/log.h"
#include "lib/str.h"
#include "smtpd/smtp_cmd.h"
#include "store/store.h"

/* ---- per-IP failure table ---- */

struct authfail_slot {
	char ip[64];
	unsigned count;
	time_t last;
};

struct smtp_authfail {
	int lock; /* spin lock shared by all sessions (held for a few instructions) */
	struct authfail_slot slot[SMTP_AUTHFAIL_SLOTS];
};

struct smtp_authfail *smtp_authfail_new(void)
{
	void *p = mmap(NULL, sizeof(struct smtp_authfail), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	               -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, sizeof(struct smtp_authfail));
	return p;
}

void smtp_authfail_free(struct smtp_authfail *t)
{
	if (t)
		munmap(t, sizeof(*t));
}

/* The lock is held for a few hundred instructions. If its holder was killed inside
 * them (kill -9 of one session), waiting for ever would stop every later AUTH: after
 * about a second the lock is taken over; at worst one count is lost. */
static void lock(struct smtp_authfail *t)
{
	for (unsigned spins = 0; __atomic_exchange_n(&t->lock, 1, __ATOMIC_ACQUIRE); spins++) {
		if (spins > 1000) {
			struct timespec ts = {0, 1000000L};

			nanosleep(&ts, NULL);
		}
		if (spins > 2000)
			break;
	}
}

static void unlock(struct smtp_authfail *t)
{
	__atomic_store_n(&t->lock, 0, __ATOMIC_RELEASE);
}

/* The slot for ip, or (create) the free or oldest one. Called with the lock held. */
static struct authfail_slot *find_slot(struct smtp_authfail *t, const char *ip, time_t now, bool create)
{
	struct authfail_slot *victim = &t->slot[0];

	for (size_t i = 0; i < SMTP_AUTHFAIL_SLOTS; i++) {
		struct authfail_slot *sl = &t->slot[i];

		if (sl->ip[0] && now - sl->last > SMTP_AUTHFAIL_WINDOW)
			memset(sl, 0, sizeof(*sl)); /* expired */
		if (sl->ip[0] && strcmp(sl->ip, ip) == 0)
			return sl;
		if (!victim->ip[0])
			continue;
		if (!sl->ip[0] || sl->last < victim->last)
			victim = sl;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	str_copy(victim->ip, sizeof(victim->ip), ip);
	return victim;
}

unsigned smtp_authfail_count(struct smtp_authfail *t, const char *ip, time_t now)
{
	struct authfail_slot *sl;
	unsigned n = 0;

	if (t == NULL)
		return 0;
	lock(t);
	sl = find_slot(t, ip, now, false);
	if (sl)
		n = sl->count;
	unlock(t);
	return n;
}

unsigned smtp_authfail_add(struct smtp_authfail *t, const char *ip, time_t now)
{
	struct authfail_slot *sl;
	unsigned n;

	if (t == NULL)
		return 0;
	lock(t);
	sl = find_slot(t, ip, now, true);
	sl->count++;
	sl->last = now;
	n = sl->count;
	unlock(t);
	return n;
}

void smtp_authfail_clear(struct smtp_authfail *t, const char *ip)
{
	struct authfail_slot *sl;

	if (t == NULL)
		return;
	lock(t);
	sl = find_slot(t, ip, time(NULL), false);
	if (sl)
		memset(sl, 0, sizeof(*sl));
	unlock(t);
}

/* ---- the AUTH command ---- */

#define SASL_MAX 1024 /* decoded SASL message: addresses and passwords are far shorter */

enum auth_outcome { AUTH_SUCCESS, AUTH_FAILURE, AUTH_ABORTED, AUTH_BAD_INPUT, AUTH_TEMPFAIL, AUTH_GONE };

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sends a 334 challenge and reads the client's base64 answer, decoded into out. */
static enum auth_outcome challenge(struct smtp_session *s, const char *b64, char *out, size_t outlen,
                                   long *len)
{
	struct buf line;
	enum conn_result r;
	enum auth_outcome o = AUTH_SUCCESS;

	buf_init(&line, SASL_MAX * 2);
	r = smtp_session_challenge(s, b64, &line);
	if (r == CONN_TOOLONG)
		o = AUTH_BAD_INPUT;
	else if (r != CONN_OK)
		o = AUTH_GONE;
	else if (strcmp(line.data, "*") == 0)
		o = AUTH_ABORTED; /* RFC 4954 4: the client cancels */
	else if ((*len = smtp_parse_base64(line.data, out, outlen)) < 0)
		o = AUTH_BAD_INPUT;
	sodium_memzero(line.data, line.len);
	buf_free(&line);
	return o;
}

/* Decodes an initial response, or asks for one with an empty challenge. */
static enum auth_outcome initial(struct smtp_session *s, const char *resp, char *out, size_t outlen,
                                 long *len)
{
	if (resp[0] == '\0')
		return challenge(s, "", out, outlen, len);
	*len = smtp_parse_base64(resp, out, outlen);
	return *len < 0 ? AUTH_BAD_INPUT : AUTH_SUCCESS;
}

/* DESIGN.md: on submission a professional or organisation proves itself with its
 * health-PKI certificate; a password alone (phishable, guessable) never sends health
 * mail in their name. So a password login also needs a verified client certificate
 * that maps to the same account. Patients have no certificates: password only. */
static enum auth_outcome password_needs_certificate(struct smtp_session *s, const struct account *a)
{
	struct account owner;
	if (!s->peer.has_cert) {
		log_warn("smtp.auth", "peer=%s account=%s reason=\"password without client certificate\"",
		         conn_peer_ip(s->conn), a->address);
		return AUTH_FAILURE;
	}
	int rc = account_by_cert(s->store, s->peer.sha256, s->peer.email, &owner);
	if (rc < 0)
		return AUTH_TEMPFAIL;
	if (rc == 0 || owner.id != a->id) {
		log_warn("smtp.auth", "peer=%s account=%s reason=\"client certificate of another account\"",
		         conn_peer_ip(s->conn), a->address);
		return AUTH_FAILURE;
	}
	return AUTH_SUCCESS;
}

static enum auth_outcome check_password(struct smtp_session *s, const char *user, const char *pass)
{
	struct account a;
	int rc = account_check_password(s->store, user, pass, &a);

	if (rc < 0)
		return AUTH_TEMPFAIL;
	if (rc == 0)
		return AUTH_FAILURE;
	if (a.role != ROLE_PATIENT && s->cfg->professional_password_needs_cert) {
		rc = password_needs_certificate(s, &a);
		if (rc != AUTH_SUCCESS)
			return rc;
	}
	s->auth_account = a;
	s->auth_kind = SENDER_PASSWORD;
	return AUTH_SUCCESS;
}

static enum auth_outcome mech_plain(struct smtp_session *s, const char *resp)
{
	char msg[SASL_MAX];
	const char *authzid, *authcid, *passwd;
	long len = 0;
	enum auth_outcome o = initial(s, resp, msg, sizeof(msg), &len);

	if (o == AUTH_SUCCESS) {
		if (smtp_parse_sasl_plain(msg, (size_t)len, &authzid, &authcid, &passwd) < 0)
			o = AUTH_FAILURE;
		else if (authzid[0] && !str_ieq(authzid, authcid))
			o = AUTH_FAILURE; /* no proxy authorisation */
		else
			o = check_password(s, authcid, passwd);
	}
	sodium_memzero(msg, sizeof(msg));
	return o;
}

static enum auth_outcome mech_login(struct smtp_session *s, const char *resp)
{
	char user[SASL_MAX], pass[SASL_MAX];
	long len = 0;
	enum auth_outcome o;

	/* "Username:" / "Password:" challenges, as every LOGIN client expects. */
	if (resp[0])
		o = initial(s, resp, user, sizeof(user), &len);
	else
		o = challenge(s, "VXNlcm5hbWU6", user, sizeof(user), &len);
	if (o == AUTH_SUCCESS)
		o = challenge(s, "UGFzc3dvcmQ6", pass, sizeof(pass), &len);
	if (o == AUTH_SUCCESS)
		o = check_password(s, user, pass);
	sodium_memzero(pass, sizeof(pass));
	return o;
}

/* RFC 4422 appendix A: the identity is the certificate's; the client may only
 * name that same identity as authzid. */
static enum auth_outcome mech_external(struct smtp_session *s, const char *resp)
{
	char authzid[SASL_MAX];
	long len = 0;
	enum auth_outcome o = initial(s, resp, authzid, sizeof(authzid), &len);

	if (o != AUTH_SUCCESS)
		return o;
	if (!s->cert_mapped || s->cert_account.disabled)
		return AUTH_FAILURE;
	if (authzid[0] && !str_ieq(authzid, s->cert_account.address))
		return AUTH_FAILURE;
	s->auth_account = s->cert_account;
	s->auth_kind = SENDER_CERTIFICATE;
	return AUTH_SUCCESS;
}

static int auth_succeeded(struct smtp_session *s, const char *mech)
{
	char q[300];

	s->authenticated = true;
	smtp_authfail_clear(s->ctx->authfail, s->peer_ip);
	log_info("smtp.auth", "session=%s peer=%s mech=%s user=%s role=%s result=ok", s->id, s->peer_ip, mech,
	         log_quote(q, sizeof(q), s->auth_account.address), account_role_name(s->auth_account.role));
	return smtp_reply(s, RPL_AUTH_OK);
}

static int auth_failed(struct smtp_session *s, const char *mech, enum auth_outcome o)
{
	unsigned n;

	if (o == AUTH_GONE)
		return -1;
	if (o == AUTH_TEMPFAIL)
		return smtp_reply(s, RPL_AUTH_TEMPFAIL);
	if (o == AUTH_ABORTED)
		return smtp_reply(s, RPL_AUTH_ABORTED);
	s->auth_failures++;
	n = smtp_authfail_add(s->ctx->authfail, s->peer_ip, time(NULL));
	log_warn("smtp.auth", "session=%s peer=%s mech=%s result=failed failures=%u", s->id, s->peer_ip, mech,
	         n);
	/* The delay slows guessing; the count per IP stops it. */
	sleep_ms(s->cfg->auth_failure_delay);
	if (n >= s->cfg->auth_max_failures || s->auth_failures >= s->cfg->auth_max_failures)
		return smtp_reply(s, RPL_AUTH_LOCKED);
	return smtp_reply(s, o == AUTH_BAD_INPUT ? RPL_AUTH_BAD_BASE64 : RPL_AUTH_FAILED);
}

int smtp_cmd_auth(struct smtp_session *s, const char *args)
{
	char mech[32];
	const char *resp;
	enum auth_outcome o;

	if (s->authenticated)
		return smtp_reply(s, RPL_ALREADY_AUTH);
	if (!smtp_cmd_auth_offered(s))
		return smtp_reply(s, RPL_AUTH_NOT_ENABLED);
	if (smtp_authfail_count(s->ctx->authfail, s->peer_ip, time(NULL)) >= s->cfg->auth_max_failures)
		return smtp_reply(s, RPL_AUTH_LOCKED);
	if (smtp_parse_auth(args, mech, sizeof(mech), &resp) < 0)
		return smtp_reply(s, RPL_SYNTAX);
	if (strcmp(mech, "PLAIN") == 0)
		o = mech_plain(s, resp);
	else if (strcmp(mech, "LOGIN") == 0)
		o = mech_login(s, resp);
	else if (strcmp(mech, "EXTERNAL") == 0 && smtp_cmd_external_offered(s))
		o = mech_external(s, resp);
	else
		return smtp_reply(s, RPL_MECH_UNKNOWN);
	if (o == AUTH_SUCCESS)
		return auth_succeeded(s, mech);
	return auth_failed(s, mech, o);
}
