/* Unit tests: the key agent's message format (lib/tls_agent_msg.c), table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/tls_agent_msg.h"

struct sign_case {
	const char *name;
	uint8_t magic0, version, type, scheme, hash;
	size_t data_len;   /* bytes of data actually sent */
	long announced;    /* data length written in the header, -1 = data_len */
	size_t cut;        /* bytes cut off the end of the message */
	const char *error; /* NULL: parses */
};

static const struct sign_case sign_cases[] = {
    {"ecdsa sha256", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32, -1, 0, NULL},
    {"pkcs1 sha384", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_RSA_PKCS1, TLS_AGENT_SHA384, 48, -1, 0, NULL},
    {"pss sha512", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_RSA_PSS, TLS_AGENT_SHA512, 64, -1, 0, NULL},
    {"pss block", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_RSA_PSS_BLOCK, 0, 256, -1, 0, NULL},
    {"largest block", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_RSA_PSS_BLOCK, 0, TLS_AGENT_MAX_DATA, -1, 0, NULL},
    {"bad magic", 'X', 1, TLS_AGENT_SIGN, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32, -1, 0, "bad header"},
    {"version 2", 'M', 2, TLS_AGENT_SIGN, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32, -1, 0, "bad header"},
    {"a reply type", 'M', 1, TLS_AGENT_SIGNATURE, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32, -1, 0,
     "unexpected message type"},
    {"control type", 'M', 1, TLS_AGENT_ADD_CHANNEL, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32, -1, 0,
     "unexpected message type"},
    {"short", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 0, 0, 1, "short request"},
    {"header only", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 0, 0, 36, "short request"},
    {"announces more", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32, 33, 0, "length"},
    {"announces less", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32, 31, 0, "length"},
    {"truncated", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 32, -1, 5, "length"},
    {"too much data", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_RSA_PSS_BLOCK, 0, 64, 2000, 0, "data of"},
    {"unknown scheme", 'M', 1, TLS_AGENT_SIGN, 9, TLS_AGENT_SHA256, 32, -1, 0, "unknown scheme"},
    {"scheme 0", 'M', 1, TLS_AGENT_SIGN, 0, TLS_AGENT_SHA256, 32, -1, 0, "unknown scheme"},
    {"no hash", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_ECDSA, 0, 32, -1, 0, "unknown hash"},
    {"unknown hash", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_RSA_PKCS1, 7, 32, -1, 0, "unknown hash"},
    {"wrong digest size", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_ECDSA, TLS_AGENT_SHA256, 48, -1, 0,
     "digest of 48"},
    {"empty digest", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_RSA_PSS, TLS_AGENT_SHA256, 0, -1, 0, "digest of 0"},
    {"block with hash", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_RSA_PSS_BLOCK, 1, 256, -1, 0, "names no hash"},
    {"tiny block", 'M', 1, TLS_AGENT_SIGN, TLS_AGENT_RSA_PSS_BLOCK, 0, 16, -1, 0, "PSS block of 16"},
};

static size_t build(const struct sign_case *c, uint8_t *msg)
{
	size_t announced = c->announced < 0 ? c->data_len : (size_t)c->announced;
	size_t n = TLS_AGENT_SIGN_FIXED + c->data_len;

	memset(msg, 0, TLS_AGENT_MAX_MSG + 64);
	msg[0] = c->magic0;
	msg[1] = 'K';
	msg[2] = c->version;
	msg[3] = c->type;
	msg[7] = 42; /* id */
	msg[8] = c->scheme;
	msg[9] = c->hash;
	msg[10] = (uint8_t)(announced >> 8);
	msg[11] = (uint8_t)announced;
	for (size_t i = 0; i < 32; i++)
		msg[12 + i] = (uint8_t)i;
	for (size_t i = 0; i < c->data_len; i++)
		msg[TLS_AGENT_SIGN_FIXED + i] = (uint8_t)(i * 7);
	return n - c->cut;
}

static void test_parse_sign_table(void **state)
{
	uint8_t msg[TLS_AGENT_MAX_MSG + 64];
	struct tls_agent_req r;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(sign_cases) / sizeof(sign_cases[0]); i++) {
		const struct sign_case *c = &sign_cases[i];
		size_t n = build(c, msg);
		int rc;

		err[0] = '\0';
		rc = tls_agent_parse_sign(msg, n, &r, err, sizeof(err));
		if (!c->error) {
			if (rc != 0)
				fail_msg("%s: refused: %s", c->name, err);
			assert_int_equal(r.id, 42);
			assert_int_equal(r.scheme, c->scheme);
			assert_int_equal(r.hash, c->hash);
			assert_int_equal(r.data_len, c->data_len);
			assert_ptr_equal(r.data, msg + TLS_AGENT_SIGN_FIXED);
			assert_int_equal(r.key_id[31], 31);
		} else if (rc == 0 || !strstr(err, c->error)) {
			fail_msg("%s: rc %d, error \"%s\", expected \"%s\"", c->name, rc, err, c->error);
		}
	}
}

static void test_encode_parse_round_trip(void **state)
{
	uint8_t msg[TLS_AGENT_MAX_MSG], data[48];
	struct tls_agent_req in = {.id = 0xdeadbeef, .scheme = TLS_AGENT_RSA_PSS, .hash = TLS_AGENT_SHA384};
	struct tls_agent_req out;
	char err[128];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(255 - i);
	memset(in.key_id, 0xab, sizeof(in.key_id));
	in.data = data;
	in.data_len = sizeof(data);
	n = tls_agent_encode_sign(msg, &in);
	assert_int_equal(n, TLS_AGENT_SIGN_FIXED + sizeof(data));
	assert_int_equal(tls_agent_parse_sign(msg, n, &out, err, sizeof(err)), 0);
	assert_int_equal(out.id, in.id);
	assert_memory_equal(out.key_id, in.key_id, 32);
	assert_memory_equal(out.data, data, sizeof(data));
	in.data_len = TLS_AGENT_MAX_DATA + 1;
	assert_int_equal(tls_agent_encode_sign(msg, &in), 0);
}

static void test_parse_reply(void **state)
{
	uint8_t msg[TLS_AGENT_MAX_MSG], sig[TLS_AGENT_MAX_SIG], got[TLS_AGENT_MAX_SIG];
	size_t n, glen = 0;

	(void)state;
	memset(sig, 0x5a, sizeof(sig));
	n = tls_agent_encode_signature(msg, 7, sig, 72);
	assert_int_equal(tls_agent_parse_reply(msg, n, 7, got, sizeof(got), &glen), 1);
	assert_int_equal(glen, 72);
	assert_memory_equal(got, sig, 72);
	/* An answer to an earlier request (that timed out) is skipped; a later id is not
	 * an answer at all. */
	assert_int_equal(tls_agent_parse_reply(msg, n, 8, got, sizeof(got), &glen), -2);
	assert_int_equal(tls_agent_parse_reply(msg, n, 6, got, sizeof(got), &glen), -1);
	assert_int_equal(tls_agent_parse_reply(msg, n - 1, 7, got, sizeof(got), &glen), -1);
	assert_int_equal(tls_agent_parse_reply(msg, n, 7, got, 71, &glen), -1); /* caller's room */
	msg[10] = 1;                                                            /* reserved bytes */
	assert_int_equal(tls_agent_parse_reply(msg, n, 7, got, sizeof(got), &glen), -1);
	n = tls_agent_encode_header(msg, TLS_AGENT_FAILED, 9);
	assert_int_equal(tls_agent_parse_reply(msg, n, 9, got, sizeof(got), &glen), 0);
	assert_int_equal(tls_agent_parse_reply(msg, n + 1, 9, got, sizeof(got), &glen), -1);
	n = tls_agent_encode_header(msg, TLS_AGENT_SIGN, 9);
	assert_int_equal(tls_agent_parse_reply(msg, n, 9, got, sizeof(got), &glen), -1);
	assert_int_equal(tls_agent_encode_signature(msg, 1, sig, 0), 0);
	assert_int_equal(tls_agent_encode_signature(msg, 1, sig, TLS_AGENT_MAX_SIG + 1), 0);
}

static void test_hash_lengths(void **state)
{
	(void)state;
	assert_int_equal(tls_agent_hash_len(TLS_AGENT_SHA256), 32);
	assert_int_equal(tls_agent_hash_len(TLS_AGENT_SHA384), 48);
	assert_int_equal(tls_agent_hash_len(TLS_AGENT_SHA512), 64);
	assert_int_equal(tls_agent_hash_len(0), 0);
	assert_int_equal(tls_agent_hash_len(4), 0);
	assert_int_equal(tls_agent_hash_of_len(48), TLS_AGENT_SHA384);
	assert_int_equal(tls_agent_hash_of_len(20), TLS_AGENT_HASH_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_sign_table),
	    cmocka_unit_test(test_encode_parse_round_trip),
	    cmocka_unit_test(test_parse_reply),
	    cmocka_unit_test(test_hash_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
