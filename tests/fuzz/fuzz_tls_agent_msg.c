/* fuzz-libs: lib */
/* fuzz_tls_agent_msg: the key agent's request handling (lib/tls_agent.c,
 * tls_agent_msg.c and the backend's checks) on arbitrary datagrams, with an agent
 * holding two throw-away test keys (EC P-256, RSA 1024), so that requests naming them
 * reach the scheme checks, the PSS block check and the signing. Besides crashes, checks
 * that a request that parses re-encodes to the very same bytes (no field is ignored),
 * and that every answer the agent gives parses as an answer to that request. The seeds
 * (corpus/tls_agent_msg) name these keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "lib/tls_agent_msg.h"

/* Test keys, made for this target only. */
static const char ec_key[] = "-----BEGIN PRIVATE KEY-----\n"
                             "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAZiKur+0vZidDKzL\n"
                             "v6x/DZ03Kp8ZcBI8P+CLy7Y2XXehRANCAARSC2vN5HSW0zT9Tnt/1r364sB8cLlP\n"
                             "1BHEFcInM/oZLCDy0SQQCfYXS8t9TrVzw3Epnccg3VCFQ8N918RO5lPy\n"
                             "-----END PRIVATE KEY-----\n";
static const char rsa_key[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAN0tj7OvyU3+xutb\n"
                              "XKzVSCTRI0BRMrwUfe8NvpMratnNZkrJ41eEWsaYD3lFsa9n9Ogou5iw3eohQgKA\n"
                              "xLzTwLrN1NfsNJzswWoiDXbFftFeWzA5azd8ChKwuXKYu52VcvXF1WJpONC2RvdU\n"
                              "kYPK1JO99wK4X+P+WDa/ZGACVgBHAgMBAAECgYBSQWCBDe4KsKbf3sFvkX5cGt9G\n"
                              "SyxYIDLZlb37U5lQWQAi7kQ7RwDPfLu8eTvkpP/C22sxFQ3ixe2bqrIAG6w/28YU\n"
                              "1M9pzSa8KhTGXSBFVyXcZmaT5XYJ+rXHqyeOu0EHU0P3/Vg/C01mVa4QChItpI/d\n"
                              "t7StVlhp1Rf0w4hW0QJBAPNGnVU0M0faVdC5/LVhPmT99xOOoidoqvMhHONEfNoM\n"
                              "DX4FGhXKdKYD94z6hcx1YUtjVUFZsJ3R2QCKndg1W38CQQDovxA9va2QWjGPp2+/\n"
                              "55pFAflmXQl/gZNCSZDNQ4PlmMWC1vskuEoF/BV1N8AC8vZW1PwmjacFACl8Uvrg\n"
                              "v985AkEAkwe1pT5UU/Pwc6NEyXbJWA5qGubUuA65axIzPGQzNTGdofGBb3QaBhBV\n"
                              "uF3dKdIziHWznDiR1wByL7KXbYnqDwJABbQY68poJG9xY3nQ7Tz5tNM1j2KcRvmf\n"
                              "6DHxUHZlFw1FWc123hF+DuN8iyDQncHic4JIo5E5FJBKc/d8mmFZUQJAIdgHbsiw\n"
                              "1Ttye/hTgygprhQScbNnFV84V/z56dKYNPxkYMHfuoDoZCGTHCrcn/3fpfSF0KYI\n"
                              "hKE8mjxdlbFn7w==\n"
                              "-----END PRIVATE KEY-----\n";

static struct tls_agent *agent;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz-tls-agent.XXXXXX", ec[64], rsa[64], err[256];
	const char *keys[] = {ec, rsa};

	(void)argc, (void)argv;
	if (!mkdtemp(dir))
		abort();
	snprintf(ec, sizeof(ec), "%s/ec.key", dir);
	snprintf(rsa, sizeof(rsa), "%s/rsa.key", dir);
	write_file(ec, ec_key);
	write_file(rsa, rsa_key);
	log_open("fuzz_tls_agent_msg", 0); /* the agent's log lines go to syslog, not the run */
	agent = tls_agent_new(keys, 2, err, sizeof(err));
	unlink(ec);
	unlink(rsa);
	rmdir(dir);
	if (!agent) {
		fprintf(stderr, "fuzz_tls_agent_msg: %s\n", err);
		abort();
	}
	return 0;
}

static void check_round_trip(const uint8_t *data, size_t size)
{
	uint8_t again[TLS_AGENT_MAX_MSG];
	struct tls_agent_req r;
	char err[256];

	if (tls_agent_parse_sign(data, size, &r, err, sizeof(err)) < 0)
		return;
	if (r.data_len > TLS_AGENT_MAX_DATA || tls_agent_encode_sign(again, &r) != size ||
	    memcmp(again, data, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[TLS_AGENT_MAX_MSG], sig[TLS_AGENT_MAX_SIG];
	size_t outlen = 0, siglen = 0;
	struct tls_agent_req r;
	char err[256];
	uint32_t id = 0;

	check_round_trip(data, size);
	if (size == TLS_AGENT_HAS_KEY_LEN && tls_agent_parse_header(data, size, &id) == TLS_AGENT_HAS_KEY) {
		/* HAS_KEY: answered HELD or FAILED, with its id */
		uint32_t got = 0;
		int type;

		if (tls_agent_handle(agent, data, size, out, &outlen, err, sizeof(err)) != 1)
			abort();
		type = tls_agent_parse_header(out, outlen, &got);
		if ((type != TLS_AGENT_HELD && type != TLS_AGENT_FAILED) || got != id)
			abort();
		return 0;
	}
	if (tls_agent_handle(agent, data, size, out, &outlen, err, sizeof(err)) == 1) {
		if (tls_agent_parse_sign(data, size, &r, err, sizeof(err)) < 0 || outlen > sizeof(out) ||
		    tls_agent_parse_reply(out, outlen, r.id, sig, sizeof(sig), &siglen) < 0)
			abort();
	}
	if (tls_agent_parse_header(data, size, &id) >= 0)
		(void)tls_agent_parse_reply(data, size, id, sig, sizeof(sig), &siglen);
	return 0;
}
