/* sasl_parse.c: base64 and the mechanisms' client messages (see sasl.h). Pure code:
 * the input is whatever the client sent, so every length is checked and nothing is
 * ever cut to fit (a cut user name would be another user). */
#include <sodium.h>
#include <string.h>

#include "auth/sasl.h"
#include "lib/str.h"

#define KVSEP '\x01' /* RFC 7628 3.1 kvsep, also XOAUTH2's separator */

long sasl_b64_decode(const char *in, size_t inlen, enum sasl_b64 variant, unsigned char *out, size_t outlen)
{
	int v = variant == SASL_B64_URL ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
	                                : sodium_base64_VARIANT_ORIGINAL;
	size_t n = 0;

	if (outlen == 0)
		return -1;
	/* No b64_end: libsodium then refuses input it does not consume whole. */
	if (inlen > 0 && sodium_base642bin(out, outlen - 1, in, inlen, NULL, &n, NULL, v) != 0)
		return -1;
	out[n] = '\0';
	return (long)n;
}

int sasl_b64_encode(const void *in, size_t inlen, char *out, size_t outlen)
{
	if (outlen < sodium_base64_ENCODED_LEN(inlen, sodium_base64_VARIANT_ORIGINAL))
		return -1;
	sodium_bin2base64(out, outlen, in, inlen, sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

/* Copies an identity (user name, authzid): no NUL, no control character, fits whole. */
static bool copy_identity(char *dst, size_t dstlen, const unsigned char *src, size_t n)
{
	if (n >= dstlen)
		return false;
	for (size_t i = 0; i < n; i++)
		if (src[i] < 0x20 || src[i] == 0x7f)
			return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

/* Copies a password: any octet but NUL (RFC 4616 SAFE), at least one, fits whole. */
static bool copy_secret(char *dst, size_t dstlen, const unsigned char *src, size_t n)
{
	if (n == 0 || n >= dstlen || memchr(src, '\0', n) != NULL)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

static void malformed(struct auth_request *rq)
{
	rq->input = AUTH_INPUT_MALFORMED;
	sodium_memzero(rq->secret, sizeof(rq->secret));
}

void sasl_parse_plain(const unsigned char *msg, size_t len, struct auth_request *rq)
{
	const unsigned char *end = msg + len;
	const unsigned char *p1 = memchr(msg, '\0', len);
	const unsigned char *p2 = p1 ? memchr(p1 + 1, '\0', (size_t)(end - p1 - 1)) : NULL;

	rq->input = AUTH_INPUT_OK;
	if (p2 == NULL || !copy_identity(rq->authzid, sizeof(rq->authzid), msg, (size_t)(p1 - msg)) ||
	    p2 == p1 + 1 || !copy_identity(rq->user, sizeof(rq->user), p1 + 1, (size_t)(p2 - p1 - 1)) ||
	    !copy_secret(rq->secret, sizeof(rq->secret), p2 + 1, (size_t)(end - p2 - 1)))
		malformed(rq);
}

void sasl_parse_login_user(const unsigned char *msg, size_t len, struct auth_request *rq)
{
	rq->input = AUTH_INPUT_OK;
	if (len == 0 || !copy_identity(rq->user, sizeof(rq->user), msg, len))
		malformed(rq);
}

void sasl_parse_login_password(const unsigned char *msg, size_t len, struct auth_request *rq)
{
	if (rq->input == AUTH_INPUT_OK && !copy_secret(rq->secret, sizeof(rq->secret), msg, len))
		malformed(rq);
}

void sasl_parse_external(const unsigned char *msg, size_t len, struct auth_request *rq)
{
	rq->input = AUTH_INPUT_OK;
	if (!copy_identity(rq->authzid, sizeof(rq->authzid), msg, len))
		malformed(rq);
}

/* ---- XOAUTH2 and OAUTHBEARER: key=value pairs separated by ^A, ended by ^A^A ---- */

struct kv_state {
	bool seen_auth;
	bool seen_user;
};

/* RFC 6750 2.1: credentials = "Bearer" 1*SP b68token; the scheme is case-insensitive. */
static void take_bearer(const unsigned char *v, size_t n, struct auth_request *rq)
{
	size_t i = 6;

	if (n < 7 || !str_ieqn((const char *)v, "Bearer", 6) || v[6] != ' ') {
		malformed(rq);
		return;
	}
	while (i < n && v[i] == ' ')
		i++;
	if (n - i > AUTH_TOKEN_MAX) {
		rq->input = AUTH_INPUT_TOO_LONG; /* refused unread (DESIGN.md) */
		return;
	}
	if (!copy_identity(rq->secret, sizeof(rq->secret), v + i, n - i) || i == n)
		malformed(rq);
}

/* One "key=value" pair. RFC 7628 3.1: key = 1*(ALPHA); unknown keys are ignored. */
static void take_pair(const unsigned char *p, size_t n, bool xoauth2, struct kv_state *st,
                      struct auth_request *rq)
{
	const unsigned char *eq = memchr(p, '=', n);
	size_t klen = eq ? (size_t)(eq - p) : 0;
	size_t vlen = eq ? n - klen - 1 : 0;

	for (size_t i = 0; i < klen; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')))
			klen = 0;
	if (klen == 0) {
		malformed(rq);
		return;
	}
	if (klen == 4 && memcmp(p, "auth", 4) == 0) {
		if (st->seen_auth)
			malformed(rq); /* two tokens: which one would be checked? */
		else
			take_bearer(eq + 1, vlen, rq);
		st->seen_auth = true;
	} else if (xoauth2 && klen == 4 && memcmp(p, "user", 4) == 0) {
		if (st->seen_user || vlen == 0 || !copy_identity(rq->user, sizeof(rq->user), eq + 1, vlen))
			malformed(rq);
		st->seen_user = true;
	}
}

/* Reads pairs from p to end, which must finish with the empty pair (^A^A). */
static void parse_pairs(const unsigned char *p, const unsigned char *end, bool xoauth2,
                        struct auth_request *rq)
{
	struct kv_state st = {false, false};

	for (;;) {
		const unsigned char *sep = memchr(p, KVSEP, (size_t)(end - p));

		if (sep == NULL) {
			malformed(rq);
			return;
		}
		if (sep == p) { /* the empty pair: the message must end here */
			if (sep + 1 != end || !st.seen_auth || (xoauth2 && !st.seen_user))
				malformed(rq);
			return;
		}
		take_pair(p, (size_t)(sep - p), xoauth2, &st, rq);
		if (rq->input == AUTH_INPUT_MALFORMED)
			return;
		p = sep + 1;
	}
}

void sasl_parse_xoauth2(const unsigned char *msg, size_t len, struct auth_request *rq)
{
	rq->input = AUTH_INPUT_OK;
	parse_pairs(msg, msg + len, true, rq);
}

/* RFC 5801 saslname: "=2C" is ",", "=3D" is "=", any other "=" or a "," is an error. */
static bool gs2_name(const unsigned char *p, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c == '=') {
			if (i + 2 >= n)
				return false;
			if (p[i + 1] == '2' && p[i + 2] == 'C')
				c = ',';
			else if (p[i + 1] == '3' && p[i + 2] == 'D')
				c = '=';
			else
				return false;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || o + 1 >= outlen)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return true;
}

/* gs2-header = gs2-cbind-flag "," [ "a=" saslname ] ","; returns its length or -1. */
static long gs2_header(const unsigned char *msg, size_t len, struct auth_request *rq)
{
	const unsigned char *c1, *c2;

	/* "p=": the client wants channel binding, which OAUTHBEARER cannot carry here. */
	if (len < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',')
		return -1;
	c1 = msg + 1;
	c2 = memchr(c1 + 1, ',', len - 2);
	if (c2 == NULL)
		return -1;
	if (c2 > c1 + 1) {
		if (c2 - c1 < 4 || c1[1] != 'a' || c1[2] != '=' ||
		    !gs2_name(c1 + 3, (size_t)(c2 - c1 - 3), rq->user, sizeof(rq->user)))
			return -1;
	}
	return (long)(c2 + 1 - msg);
}

void sasl_parse_oauthbearer(const unsigned char *msg, size_t len, struct auth_request *rq)
{
	long h;

	rq->input = AUTH_INPUT_OK;
	h = gs2_header(msg, len, rq);
	if (h < 0 || (size_t)h >= len || msg[h] != KVSEP) {
		malformed(rq);
		return;
	}
	parse_pairs(msg + h + 1, msg + len, false, rq);
}
