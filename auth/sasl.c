/* sasl.c: the mechanism table and the server side of the exchange (see sasl.h). */
#include "auth/sasl.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "lib/str.h"

/* One row per mechanism, in the order they are advertised. */
static const struct {
	enum auth_mech mech;
	const char *name;
	const char *rfc;
} mechs[] = {
    {AUTH_MECH_PLAIN, "PLAIN", "RFC 4616"},
    {AUTH_MECH_LOGIN, "LOGIN", "draft-murchison-sasl-login"},
    {AUTH_MECH_EXTERNAL, "EXTERNAL", "RFC 4422 appendix A"},
    {AUTH_MECH_XOAUTH2, "XOAUTH2", "Google XOAUTH2 protocol"},
    {AUTH_MECH_OAUTHBEARER, "OAUTHBEARER", "RFC 7628"},
};

#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

const char *sasl_mech_name(enum auth_mech m)
{
	for (size_t i = 0; i < NMECHS; i++)
		if (mechs[i].mech == m)
			return mechs[i].name;
	return "";
}

enum auth_mech sasl_mech_parse(const char *name)
{
	for (size_t i = 0; i < NMECHS; i++)
		if (str_ieq(name, mechs[i].name))
			return mechs[i].mech;
	return AUTH_MECH_NONE;
}

bool sasl_offered(const struct sasl_offer *o, enum auth_mech m)
{
	switch (m) {
	case AUTH_MECH_PLAIN:
	case AUTH_MECH_LOGIN:
		return true;
	case AUTH_MECH_EXTERNAL:
		return o->external;
	case AUTH_MECH_XOAUTH2:
	case AUTH_MECH_OAUTHBEARER:
		return o->oauth;
	default:
		return false;
	}
}

int sasl_list(const struct sasl_offer *o, const char *prefix, struct buf *out)
{
	for (size_t i = 0; i < NMECHS; i++)
		if (sasl_offered(o, mechs[i].mech) &&
		    (buf_append_str(out, prefix) < 0 || buf_append_str(out, mechs[i].name) < 0))
			return -1;
	return 0;
}

/* ---- the exchange ---- */

#define MSG_BUF (SASL_OAUTH_MAX + 1)

struct exchange {
	const struct sasl_io *io;
	const char *initial; /* the initial response until used, then NULL */
	struct buf line;
	unsigned char msg[MSG_BUF];
	size_t len;
};

enum got { GOT_MESSAGE, GOT_TOO_LONG, GOT_STOP };

/* Gets one decoded client message into x->msg (at most max octets): the initial
 * response when one is pending, else the answer to challenge. GOT_STOP sets *stop. */
static enum got get_message(struct exchange *x, const char *challenge, size_t max, enum sasl_outcome *stop)
{
	const char *text = x->initial;
	long n;

	if (text != NULL) {
		x->initial = NULL;
		if (strcmp(text, "=") == 0)
			text = ""; /* RFC 4954 4, RFC 4959: "=" is an empty initial response */
	} else {
		int r = x->io->challenge(x->io->arg, challenge, &x->line);

		*stop = r < 0 ? SASL_GONE : SASL_MALFORMED;
		if (r != 0)
			return GOT_STOP;
		text = x->line.data;
		*stop = SASL_CANCELLED; /* RFC 4954 4, RFC 9051 6.2.2: "*" cancels */
		if (strcmp(text, "*") == 0)
			return GOT_STOP;
	}
	/* Four base64 characters carry three octets, less at most two of padding: past
	 * this, well-formed or not, the message could not fit. */
	if (strlen(text) / 4 * 3 > max + 2)
		return GOT_TOO_LONG;
	n = sasl_b64_decode(text, strlen(text), SASL_B64_STANDARD, x->msg, max + 1);
	*stop = SASL_MALFORMED;
	if (n < 0)
		return GOT_STOP;
	x->len = (size_t)n;
	return GOT_MESSAGE;
}

/* Reads the one message of PLAIN, EXTERNAL, XOAUTH2 or OAUTHBEARER into rq.
 * Returns 0 when rq is ready for verification, -1 with *stop otherwise. */
static int read_single(struct exchange *x, enum auth_mech mech, struct auth_request *rq,
                       enum sasl_outcome *stop)
{
	bool oauth = mech == AUTH_MECH_XOAUTH2 || mech == AUTH_MECH_OAUTHBEARER;
	enum got g = get_message(x, "", oauth ? SASL_OAUTH_MAX : SASL_MSG_MAX, stop);

	if (g == GOT_STOP)
		return -1;
	if (g == GOT_TOO_LONG) {
		rq->input = oauth ? AUTH_INPUT_TOO_LONG : AUTH_INPUT_MALFORMED;
		return 0;
	}
	if (mech == AUTH_MECH_PLAIN)
		sasl_parse_plain(x->msg, x->len, rq);
	else if (mech == AUTH_MECH_EXTERNAL)
		sasl_parse_external(x->msg, x->len, rq);
	else if (mech == AUTH_MECH_XOAUTH2)
		sasl_parse_xoauth2(x->msg, x->len, rq);
	else
		sasl_parse_oauthbearer(x->msg, x->len, rq);
	return 0;
}

/* LOGIN: "Username:" then "Password:" challenges, as every LOGIN client expects. */
static int read_login(struct exchange *x, struct auth_request *rq, enum sasl_outcome *stop)
{
	enum got g = get_message(x, "VXNlcm5hbWU6", SASL_MSG_MAX, stop);

	if (g == GOT_STOP)
		return -1;
	if (g == GOT_TOO_LONG)
		rq->input = AUTH_INPUT_MALFORMED;
	else
		sasl_parse_login_user(x->msg, x->len, rq);
	g = get_message(x, "UGFzc3dvcmQ6", SASL_MSG_MAX, stop);
	if (g == GOT_STOP)
		return -1;
	if (g == GOT_TOO_LONG)
		rq->input = AUTH_INPUT_MALFORMED;
	else
		sasl_parse_login_password(x->msg, x->len, rq);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* RFC 7628 3.2.2: a refused token gets an error challenge; the client answers with a
 * dummy response (%x01; XOAUTH2 clients send an empty line), then the failure comes.
 * The answer's content does not matter: the exchange fails whatever it is. */
static enum sasl_outcome oauth_error(struct exchange *x, enum auth_mech mech)
{
	static const char bearer[] = "{\"status\":\"invalid_token\",\"schemes\":\"bearer\"}";
	static const char google[] = "{\"status\":\"401\",\"schemes\":\"bearer\"}";
	const char *json = mech == AUTH_MECH_OAUTHBEARER ? bearer : google;
	char b64[128];

	if (sasl_b64_encode(json, strlen(json), b64, sizeof(b64)) < 0 ||
	    x->io->challenge(x->io->arg, b64, &x->line) < 0)
		return SASL_GONE;
	return SASL_FAILED;
}

/* The outcome of a verified request. x may be NULL for a mechanism without an error
 * challenge (all but XOAUTH2 and OAUTHBEARER). */
static enum sasl_outcome verified(struct exchange *x, enum auth_mech mech, const struct auth_reply *rp)
{
	switch (rp->result) {
	case AUTH_OK:
		return SASL_OK;
	case AUTH_TEMPFAIL:
		return SASL_TEMPFAIL;
	case AUTH_LOCKED:
		sleep_ms(rp->delay_ms);
		return SASL_LOCKED;
	default:
		/* The delay slows guessing; the counters behind it stop it (auth_throttle.h). */
		sleep_ms(rp->delay_ms);
		if (mech == AUTH_MECH_XOAUTH2 || mech == AUTH_MECH_OAUTHBEARER)
			return oauth_error(x, mech);
		return SASL_FAILED;
	}
}

/* An exchange that ended before a complete message (bad base64, an unusable line, a
 * cancel) is still an attempt: verification audits it and counts it against the client
 * address, so probing with broken input is recorded and throttled like guessing. The
 * reply keeps its own code (501 / BAD), unless the count reached a lockout. */
static enum sasl_outcome stopped(struct exchange *x, struct auth_request *rq, struct auth_reply *rp,
                                 enum sasl_outcome stop)
{
	if (stop != SASL_MALFORMED && stop != SASL_CANCELLED)
		return stop;
	rq->input = stop == SASL_CANCELLED ? AUTH_INPUT_CANCELLED : AUTH_INPUT_MALFORMED;
	memset(rp, 0, sizeof(*rp));
	x->io->verify(x->io->arg, rq, rp);
	sleep_ms(rp->delay_ms);
	if (rp->result == AUTH_LOCKED || rp->result == AUTH_TEMPFAIL)
		return rp->result == AUTH_LOCKED ? SASL_LOCKED : SASL_TEMPFAIL;
	return stop;
}

static enum sasl_outcome exchange(struct exchange *x, enum auth_mech mech, struct auth_request *rq,
                                  struct auth_reply *rp)
{
	enum sasl_outcome stop = SASL_MALFORMED;
	int r;

	rq->mech = mech;
	rq->input = AUTH_INPUT_OK;
	rq->user[0] = rq->authzid[0] = rq->secret[0] = '\0';
	r = mech == AUTH_MECH_LOGIN ? read_login(x, rq, &stop) : read_single(x, mech, rq, &stop);
	if (r < 0)
		return stopped(x, rq, rp, stop);
	memset(rp, 0, sizeof(*rp));
	x->io->verify(x->io->arg, rq, rp);
	sodium_memzero(rq->secret, sizeof(rq->secret));
	return verified(x, mech, rp);
}

enum sasl_outcome sasl_password(const char *user, const char *password, const struct sasl_io *io,
                                struct auth_request *rq, struct auth_reply *rp)
{
	rq->mech = AUTH_MECH_LOGIN;
	rq->user[0] = rq->authzid[0] = rq->secret[0] = '\0';
	sasl_parse_login_user((const unsigned char *)user, strlen(user), rq);
	sasl_parse_login_password((const unsigned char *)password, strlen(password), rq);
	memset(rp, 0, sizeof(*rp));
	io->verify(io->arg, rq, rp);
	sodium_memzero(rq->secret, sizeof(rq->secret));
	return verified(NULL, rq->mech, rp);
}

enum sasl_outcome sasl_run(enum auth_mech mech, const char *initial, const struct sasl_io *io,
                           struct auth_request *rq, struct auth_reply *rp)
{
	struct exchange x;
	enum sasl_outcome o;

	memset(&x, 0, sizeof(x));
	x.io = io;
	x.initial = initial;
	buf_init(&x.line, SASL_LINE_MAX + 16);
	o = exchange(&x, mech, rq, rp);
	sodium_memzero(rq->secret, sizeof(rq->secret));
	sodium_memzero(x.msg, sizeof(x.msg));
	if (x.line.data)
		sodium_memzero(x.line.data, x.line.len);
	buf_free(&x.line);
	return o;
}
