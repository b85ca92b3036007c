/* fuzz-libs: auth audit directory store lib */
/* fuzz_sasl: the SASL decoders of auth/sasl_parse.c on arbitrary client bytes: the
 * base64 decoder (both variants) and each mechanism's message parser (PLAIN, LOGIN,
 * EXTERNAL, XOAUTH2, OAUTHBEARER). The first input byte picks the parser. Besides
 * crashes, checks the contracts auth_verify relies on: every field NUL-terminated
 * within its size, identities without control characters, a malformed message leaves
 * no secret behind, a token never longer than AUTH_TOKEN_MAX. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"

static void check_field(const char *f, size_t size, bool identity)
{
	size_t n = strnlen(f, size);

	if (n == size)
		abort(); /* not NUL-terminated inside its field */
	for (size_t i = 0; identity && i < n; i++)
		if ((unsigned char)f[i] < 0x20 || f[i] == 0x7f)
			abort();
}

static void check_request(const struct auth_request *rq)
{
	check_field(rq->user, sizeof(rq->user), true);
	check_field(rq->authzid, sizeof(rq->authzid), true);
	check_field(rq->secret, sizeof(rq->secret), false);
	if (rq->input != AUTH_INPUT_OK && rq->secret[0] != '\0')
		abort(); /* a refused message keeps no secret */
	if (strlen(rq->secret) > AUTH_TOKEN_MAX)
		abort();
}

static void decode(const uint8_t *data, size_t size, enum sasl_b64 v)
{
	static unsigned char out[SASL_OAUTH_MAX + 1];
	long n = sasl_b64_decode((const char *)data, size, v, out, sizeof(out));

	if (n >= 0 && ((size_t)n >= sizeof(out) || out[n] != '\0' || (size_t)n > size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct auth_request rq;
	typedef void (*parser)(const unsigned char *, size_t, struct auth_request *);
	static const parser parsers[] = {sasl_parse_plain, sasl_parse_login_user, sasl_parse_external,
	                                 sasl_parse_xoauth2, sasl_parse_oauthbearer};
	unsigned which;

	if (size == 0 || size > SASL_OAUTH_MAX + 1)
		return 0;
	which = data[0] % 7;
	data++;
	size--;
	if (which == 5 || which == 6) {
		decode(data, size, which == 5 ? SASL_B64_STANDARD : SASL_B64_URL);
		return 0;
	}
	memset(&rq, 0, sizeof(rq));
	parsers[which](data, size, &rq);
	if (which == 1 && rq.input == AUTH_INPUT_OK)
		sasl_parse_login_password(data, size, &rq);
	check_request(&rq);
	return 0;
}
