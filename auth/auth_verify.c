/* auth_verify.c: one login attempt, checked, throttled and audited (see auth.h). */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "auth/auth_rules.h"
#include "auth/auth_store.h"
#include "auth/auth_throttle.h"
#include "auth/oauth.h"
#include "auth/sasl.h"
#include "directory/account.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/str.h"
#include "store/store_sql.h"

static const char *const reason_names[AUTH_R_COUNT] = {
    [AUTH_R_OK] = "ok",
    [AUTH_R_BAD_CREDENTIALS] = "bad-credentials",
    [AUTH_R_MALFORMED] = "malformed",
    [AUTH_R_CANCELLED] = "cancelled",
    [AUTH_R_DISABLED] = "disabled",
    [AUTH_R_AUTHZID] = "authzid-differs",
    [AUTH_R_NEEDS_CERT] = "password-without-certificate",
    [AUTH_R_CERT_OTHER_ACCOUNT] = "certificate-of-another-account",
    [AUTH_R_CERT_UNMAPPED] = "certificate-unmapped",
    [AUTH_R_ROLE] = "mechanism-not-for-role",
    [AUTH_R_OAUTH_OFF] = "oauth-not-configured",
    [AUTH_R_TOKEN_TOO_LONG] = "token-too-long",
    [AUTH_R_TOKEN_MALFORMED] = "token-malformed",
    [AUTH_R_TOKEN_ALG] = "token-alg-refused",
    [AUTH_R_TOKEN_KID] = "token-unknown-key",
    [AUTH_R_TOKEN_SIGNATURE] = "token-bad-signature",
    [AUTH_R_TOKEN_EXPIRED] = "token-expired",
    [AUTH_R_TOKEN_NOT_YET] = "token-not-yet-valid",
    [AUTH_R_TOKEN_ISSUER] = "token-wrong-issuer",
    [AUTH_R_TOKEN_AUDIENCE] = "token-wrong-audience",
    [AUTH_R_TOKEN_IDENTITY] = "token-unknown-identity",
    [AUTH_R_TOKEN_OTHER_USER] = "token-for-another-account",
    [AUTH_R_LOCKED_CLIENT] = "client-locked",
    [AUTH_R_LOCKED_ACCOUNT] = "account-locked",
    [AUTH_R_INTERNAL] = "internal-error",
};

const char *auth_reason_name(enum auth_reason r)
{
	return (unsigned)r < AUTH_R_COUNT && reason_names[r] ? reason_names[r] : "unknown";
}

const char *auth_strength_name(enum auth_strength s)
{
	static const char *const names[] = {"none", "password", "certificate", "password+certificate",
	                                    "token"};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "none";
}

void auth_peer_from_tls(struct auth_peer *out, const struct tls_peer *p)
{
	memset(out, 0, sizeof(*out));
	if (!p->has_cert)
		return;
	out->has_cert = true;
	/* Same sizes as lib/tls's fields: nothing is ever cut. */
	str_assert(str_copy(out->sha256, sizeof(out->sha256), p->sha256), "65 bytes both");
	str_assert(str_copy(out->email, sizeof(out->email), p->email), "256 bytes both");
	str_assert(str_copy(out->subject_dn, sizeof(out->subject_dn), p->subject_dn), "512 bytes both");
}

/* The account a client certificate stands for: its registered fingerprint's, else its
 * email address's. Returns 1 with *a, 0 none, -1 on a database error. */
static int cert_account(const struct auth_ctx *ctx, const struct auth_peer *peer, struct account *a)
{
	int r;

	if (!peer->has_cert)
		return 0;
	r = account_by_cert(ctx->store, peer->sha256, peer->email, a);
	if (r <= 0)
		return r;
	/* A certificate never stands for a patient: patients log in by password only. */
	if (a->role == ROLE_PATIENT || a->disabled)
		return 0;
	return 1;
}

/* cert_account's answer as rp; keep: into ctx->memo for this connection's login. */
static int map_certificate(const struct auth_ctx *ctx, const struct auth_peer *peer, struct auth_reply *rp,
                           bool keep)
{
	struct account a;
	int r = cert_account(ctx, peer, &a);

	if (r <= 0)
		return r;
	/* account addresses are 256 bytes, as AUTH_ADDRESS_MAX */
	str_assert(str_copy(rp->account, sizeof(rp->account), a.address), "AUTH_ADDRESS_MAX");
	rp->role = a.role;
	if (keep && ctx->memo != NULL) {
		ctx->memo->set = true;
		ctx->memo->peer = *peer;
		ctx->memo->account = a;
	}
	return 1;
}

int auth_cert_map(const struct auth_ctx *ctx, const struct auth_peer *peer, struct auth_reply *rp)
{
	return map_certificate(ctx, peer, rp, true);
}

/* The account this connection's mapping read for peer's certificate, taken once (see
 * struct auth_cert_memo), else read now. Returns as cert_account. */
static int login_cert_account(const struct auth_ctx *ctx, const struct auth_peer *peer, struct account *a)
{
	struct auth_cert_memo *m = ctx->memo;

	if (m == NULL || !m->set)
		return cert_account(ctx, peer, a);
	bool same = peer->has_cert && strcmp(m->peer.sha256, peer->sha256) == 0 &&
	            strcmp(m->peer.email, peer->email) == 0;
	if (same)
		*a = m->account;
	sodium_memzero(m, sizeof(*m)); /* once, and never for another certificate */
	return same ? 1 : cert_account(ctx, peer, a);
}

static bool is_token(enum auth_mech m)
{
	return m == AUTH_MECH_XOAUTH2 || m == AUTH_MECH_OAUTHBEARER;
}

/* The facts of the account found that need no other lookup. */
static void found_facts(const struct auth_request *rq, const struct account *a, struct auth_facts *f)
{
	f->role = a->role;
	f->disabled = a->disabled;
	f->has_cert = rq->peer.has_cert;
	f->authzid_ok = rq->authzid[0] == '\0' || str_ieq(rq->authzid, a->address);
}

/* Facts shared by every mechanism: the account found, its certificate, the authzid. */
static enum auth_reason account_facts(const struct auth_ctx *ctx, const struct auth_request *rq,
                                      const struct account *a, struct auth_facts *f)
{
	struct auth_reply cert;

	memset(&cert, 0, sizeof(cert));
	found_facts(rq, a, f);
	switch (map_certificate(ctx, &rq->peer, &cert, false)) {
	case -1:
		return AUTH_R_INTERNAL;
	case 1:
		f->cert_is_account = str_ieq(cert.account, a->address);
		break;
	default:
		break;
	}
	return AUTH_R_OK;
}

static enum auth_reason password_facts(const struct auth_ctx *ctx, const struct auth_request *rq,
                                       struct account *a, struct auth_facts *f)
{
	int r;

	if (rq->input != AUTH_INPUT_OK)
		return AUTH_R_MALFORMED;
	/* Unknown, disabled or password-less accounts cost the same Argon2id work. */
	r = account_check_password(ctx->store, rq->user, rq->secret, a);
	if (r < 0)
		return AUTH_R_INTERNAL;
	f->account_found = f->secret_ok = r == 1;
	return r == 1 ? account_facts(ctx, rq, a, f) : AUTH_R_OK;
}

/* DESIGN.md: the identity claim holds the account's address, or "8" + its RPPS. */
static bool claim_names(const char *identity, const struct account *a)
{
	return str_ieq(identity, a->address) ||
	       (a->rpps[0] && identity[0] == '8' && strcmp(identity + 1, a->rpps) == 0);
}

static int account_of_claim(const struct auth_ctx *ctx, const char *identity, struct account *a)
{
	if (strchr(identity, '@'))
		return account_get(ctx->store, identity, a);
	if (identity[0] == '8')
		return auth_store_account_by_rpps(ctx->store, identity + 1, a);
	return 0;
}

static enum auth_reason token_facts(const struct auth_ctx *ctx, const struct auth_request *rq, time_t now,
                                    struct account *a, struct auth_facts *f)
{
	struct oauth_expect e = {ctx->cfg->oauth_issuer, ctx->cfg->oauth_audience,
	                         ctx->cfg->oauth_identity_claim, ctx->cfg->oauth_clock_skew, now};
	char identity[AUTH_ADDRESS_MAX];
	enum auth_reason r;
	int found;

	if (rq->input == AUTH_INPUT_TOO_LONG)
		return AUTH_R_TOKEN_TOO_LONG;
	if (rq->input != AUTH_INPUT_OK)
		return AUTH_R_MALFORMED;
	r = oauth_verify(ctx->keys, &e, rq->secret, strlen(rq->secret), identity, sizeof(identity));
	if (r != AUTH_R_OK)
		return r;
	/* The SASL user, when named, must be the account the token was issued for. */
	found = rq->user[0] ? account_get(ctx->store, rq->user, a) : account_of_claim(ctx, identity, a);
	if (found < 0)
		return AUTH_R_INTERNAL;
	if (found == 0)
		return AUTH_R_TOKEN_IDENTITY;
	if (!claim_names(identity, a))
		return AUTH_R_TOKEN_OTHER_USER;
	f->account_found = f->secret_ok = true;
	return account_facts(ctx, rq, a, f);
}

static enum auth_reason external_facts(const struct auth_ctx *ctx, const struct auth_request *rq,
                                       struct account *a, struct auth_facts *f)
{
	int r;

	if (rq->input != AUTH_INPUT_OK)
		return AUTH_R_MALFORMED;
	/* the certificate's account, read once: it is the account found, and the account
	 * the certificate stands for (account_facts would map it again); or as this
	 * connection's mapping read it (struct auth_cert_memo) */
	r = login_cert_account(ctx, &rq->peer, a);
	if (r < 0)
		return AUTH_R_INTERNAL;
	if (r == 0)
		return AUTH_R_CERT_UNMAPPED;
	f->account_found = true;
	found_facts(rq, a, f);
	f->cert_is_account = true;
	return AUTH_R_OK;
}

/* Gathers the facts and applies the role rules. On AUTH_R_OK, a and *strength say who. */
static enum auth_reason decide(const struct auth_ctx *ctx, const struct auth_request *rq, time_t now,
                               struct account *a, enum auth_strength *strength)
{
	struct auth_facts f;
	enum auth_reason r;

	memset(&f, 0, sizeof(f));
	memset(a, 0, sizeof(*a));
	f.mech = rq->mech;
	if (rq->input == AUTH_INPUT_CANCELLED)
		return AUTH_R_CANCELLED;
	if (rq->mech == AUTH_MECH_EXTERNAL)
		r = external_facts(ctx, rq, a, &f);
	else if (is_token(rq->mech))
		r = token_facts(ctx, rq, now, a, &f);
	else if (rq->mech == AUTH_MECH_PLAIN || rq->mech == AUTH_MECH_LOGIN)
		r = password_facts(ctx, rq, a, &f);
	else
		r = AUTH_R_MALFORMED;
	if (r != AUTH_R_OK)
		return r;
	return auth_rules_decide(&f, strength);
}

/* The audit record of an attempt: mechanism and client address, never the secret. */
static int audit_attempt(const struct auth_ctx *ctx, const struct auth_request *rq,
                         const struct auth_reply *rp)
{
	char action[32], detail[160], result[96], err[256];
	bool ok = rp->result == AUTH_OK;
	const char *named = rq->user[0] ? rq->user : rq->authzid[0] ? rq->authzid : rq->peer.email;
	struct audit_event ev = {
	    .actor = ok ? rp->account : "anonymous",
	    .auth = ok ? auth_strength_name(rp->strength) : "none",
	    .action = action,
	    .target = ok ? rp->account : named,
	    .detail = detail,
	    .result = result,
	    .peer = rq->client_ip,
	    .patient = "",
	};

	if (str_format(action, sizeof(action), "%s.login", rq->protocol[0] ? rq->protocol : "auth") < 0 ||
	    str_format(detail, sizeof(detail), "mech=%s listener=%s", sasl_mech_name(rq->mech),
	               rq->listener) < 0 ||
	    str_format(result, sizeof(result), ok ? "ok" : "refused: %s", auth_reason_name(rp->reason)) < 0)
		return -1;
	if (ok && ctx->defer_login_record) {
		audit_defer(&ev); /* written with the session's next commit (auth.h) */
		return 0;
	}
	if (audit_append(ctx->store, &ev, err, sizeof(err)) < 0) {
		log_err("auth.audit", "peer=%s result=failed error=\"%s\"", rq->client_ip, err);
		return -1;
	}
	return 0;
}

static void log_attempt(const struct auth_request *rq, const struct auth_reply *rp)
{
	char q[300];
	const char *named = rp->result == AUTH_OK ? rp->account : rq->user[0] ? rq->user : rq->authzid;

	log_info("auth.login",
	         "protocol=%s listener=%s peer=%s mech=%s user=%s result=%s reason=%s strength=%s",
	         rq->protocol, rq->listener, rq->client_ip, sasl_mech_name(rq->mech),
	         log_quote(q, sizeof(q), named),
	         rp->result == AUTH_OK       ? "ok"
	         : rp->result == AUTH_LOCKED ? "locked"
	                                     : "failed",
	         auth_reason_name(rp->reason), auth_strength_name(rp->strength));
}

static enum auth_result finish(const struct auth_ctx *ctx, const struct auth_request *rq,
                               struct auth_reply *rp, enum auth_result result, enum auth_reason reason)
{
	rp->result = result;
	rp->reason = reason;
	if (result != AUTH_OK)
		rp->account[0] = '\0';
	log_attempt(rq, rp);
	if (result == AUTH_FAILED || result == AUTH_LOCKED) {
		const char *const labels[2] = {rq->protocol, result == AUTH_LOCKED ? "locked" : "failed"};
		metrics_count(METRICS_AUTH_FAILURES, labels);
	}
	/* No login goes unrecorded: a record that cannot be written refuses the login. */
	if (audit_attempt(ctx, rq, rp) < 0 && result == AUTH_OK) {
		rp->result = AUTH_TEMPFAIL;
		rp->reason = AUTH_R_INTERNAL;
	}
	return rp->result;
}

static enum auth_result succeed(const struct auth_ctx *ctx, const struct auth_request *rq,
                                struct auth_reply *rp, const struct account *a, enum auth_strength strength)
{
	char err[256];
	int64_t now = (int64_t)time(NULL);

	str_assert(str_copy(rp->account, sizeof(rp->account), a->address), "AUTH_ADDRESS_MAX");
	rp->role = a->role;
	rp->strength = strength;
	memcpy(rp->password_stamp, a->password_stamp, sizeof(rp->password_stamp));
	memcpy(rp->cert_stamp, a->cert_stamp, sizeof(rp->cert_stamp));
	/* retention counts from the last login, to the hour; a failure to record it never
	 * refuses one. Within the hour there is nothing to record, and the UPDATE, which
	 * would change no row, would still wait for the database's write lock (every
	 * session's delivery holds it in turn): it is not sent (issue 15). */
	if (a->last_login <= now - ACCOUNT_LOGIN_RESOLUTION &&
	    account_touch_login(ctx->store, a->id, now, err, sizeof(err)) < 0)
		log_warn("auth.last_login", "user=%s result=failed error=\"%s\"", a->address, err);
	return finish(ctx, rq, rp, AUTH_OK, AUTH_R_OK);
}

/* EXTERNAL: no secret to guess, so neither counted nor locked (auth_throttle.h). */
static enum auth_result verify_certificate(const struct auth_ctx *ctx, const struct auth_request *rq,
                                           struct auth_reply *rp, time_t now)
{
	struct account a;
	enum auth_strength strength;
	enum auth_reason r = decide(ctx, rq, now, &a, &strength);

	if (r == AUTH_R_OK)
		return succeed(ctx, rq, rp, &a, strength);
	return finish(ctx, rq, rp, r == AUTH_R_INTERNAL ? AUTH_TEMPFAIL : AUTH_FAILED, r);
}

static enum auth_result locked(const struct auth_ctx *ctx, const struct auth_request *rq,
                               struct auth_reply *rp, const struct auth_throttle *t)
{
	return finish(ctx, rq, rp, AUTH_LOCKED,
	              t->client_locked ? AUTH_R_LOCKED_CLIENT : AUTH_R_LOCKED_ACCOUNT);
}

enum auth_result auth_verify(const struct auth_ctx *ctx, const struct auth_request *rq, struct auth_reply *rp,
                             time_t now)
{
	struct auth_throttle t;
	struct account a;
	enum auth_strength strength = AUTH_STRENGTH_NONE;
	enum auth_reason r;

	memset(rp, 0, sizeof(*rp));
	if (rq->mech == AUTH_MECH_EXTERNAL)
		return verify_certificate(ctx, rq, rp, now);
	auth_throttle_keys(&t, rq->client_ip, rq->user);
	if (auth_throttle_read(store_sql(ctx->store), ctx->cfg, &t, now) < 0)
		return finish(ctx, rq, rp, AUTH_TEMPFAIL, AUTH_R_INTERNAL);
	/* Locked: refused unchecked, so a guesser learns nothing while it lasts. */
	if (t.client_locked || t.account_locked)
		return locked(ctx, rq, rp, &t);
	r = decide(ctx, rq, now, &a, &strength);
	if (r == AUTH_R_OK) {
		if (auth_throttle_success(store_sql(ctx->store), &t) < 0)
			log_warn("auth.throttle", "peer=%s result=failed error=\"cannot clear the counter\"",
			         rq->client_ip);
		return succeed(ctx, rq, rp, &a, strength);
	}
	if (r == AUTH_R_INTERNAL)
		return finish(ctx, rq, rp, AUTH_TEMPFAIL, r);
	if (auth_throttle_fail(store_sql(ctx->store), ctx->cfg, &t, rq->input == AUTH_INPUT_OK, now) < 0)
		return finish(ctx, rq, rp, AUTH_TEMPFAIL, AUTH_R_INTERNAL);
	rp->delay_ms = auth_throttle_delay(ctx->cfg, &t);
	/* The failure that reaches a limit is answered as a lockout (SMTP 421). */
	return finish(ctx, rq, rp, t.client_locked || t.account_locked ? AUTH_LOCKED : AUTH_FAILED, r);
}
