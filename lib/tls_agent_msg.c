/* tls_agent_msg.c: the key agent's message format (see tls_agent_msg.h). */
#include <string.h>

#include "lib/tls_agent_msg.h"
#include "lib/tls_int.h"

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t tls_agent_hash_len(uint8_t hash)
{
	switch (hash) {
	case TLS_AGENT_SHA256:
		return 32;
	case TLS_AGENT_SHA384:
		return 48;
	case TLS_AGENT_SHA512:
		return 64;
	default:
		return 0;
	}
}

uint8_t tls_agent_hash_of_len(size_t len)
{
	for (uint8_t h = TLS_AGENT_SHA256; h <= TLS_AGENT_SHA512; h++)
		if (tls_agent_hash_len(h) == len)
			return h;
	return TLS_AGENT_HASH_NONE;
}

int tls_agent_parse_header(const uint8_t *msg, size_t n, uint32_t *id)
{
	if (n < TLS_AGENT_HEADER || msg[0] != 'M' || msg[1] != 'K' || msg[2] != TLS_AGENT_VERSION)
		return -1;
	*id = get32(msg + 4);
	return msg[3];
}

/* The data must fit the scheme: a digest of the hash's length, or a PSS block. */
static int check_data(const struct tls_agent_req *r, char *err, size_t errlen)
{
	size_t dl = tls_agent_hash_len(r->hash);

	switch (r->scheme) {
	case TLS_AGENT_ECDSA:
	case TLS_AGENT_RSA_PKCS1:
	case TLS_AGENT_RSA_PSS:
		if (dl == 0)
			return tls_errf(err, errlen, "unknown hash %u", r->hash);
		if (r->data_len != dl)
			return tls_errf(err, errlen, "digest of %zu bytes for a %zu-byte hash", r->data_len,
			                dl);
		return 0;
	case TLS_AGENT_RSA_PSS_BLOCK:
		if (r->hash != TLS_AGENT_HASH_NONE)
			return tls_errf(err, errlen, "a PSS block names no hash");
		if (r->data_len < 64)
			return tls_errf(err, errlen, "PSS block of %zu bytes", r->data_len);
		return 0;
	default:
		return tls_errf(err, errlen, "unknown scheme %u", r->scheme);
	}
}

int tls_agent_parse_sign(const uint8_t *msg, size_t n, struct tls_agent_req *r, char *err, size_t errlen)
{
	int type = tls_agent_parse_header(msg, n, &r->id);

	if (type < 0)
		return tls_errf(err, errlen, "bad header");
	if (type != TLS_AGENT_SIGN)
		return tls_errf(err, errlen, "unexpected message type %d", type);
	if (n < TLS_AGENT_SIGN_FIXED)
		return tls_errf(err, errlen, "short request (%zu bytes)", n);
	r->scheme = msg[8];
	r->hash = msg[9];
	r->data_len = get16(msg + 10);
	memcpy(r->key_id, msg + 12, sizeof(r->key_id));
	r->data = msg + TLS_AGENT_SIGN_FIXED;
	if (r->data_len > TLS_AGENT_MAX_DATA)
		return tls_errf(err, errlen, "data of %zu bytes", r->data_len);
	if (n != TLS_AGENT_SIGN_FIXED + r->data_len)
		return tls_errf(err, errlen, "length %zu, announced %zu", n,
		                TLS_AGENT_SIGN_FIXED + r->data_len);
	return check_data(r, err, errlen);
}

int tls_agent_parse_reply(const uint8_t *msg, size_t n, uint32_t id, uint8_t *sig, size_t sigmax,
                          size_t *siglen)
{
	uint32_t got;
	int type = tls_agent_parse_header(msg, n, &got);
	size_t len;

	if (type < 0)
		return -1;
	if (got != id)
		return (int32_t)(id - got) > 0 ? -2 : -1; /* an answer to a request that timed out */
	if (type == TLS_AGENT_FAILED)
		return n == TLS_AGENT_HEADER ? 0 : -1;
	if (type != TLS_AGENT_SIGNATURE || n < TLS_AGENT_HEADER + 4)
		return -1;
	len = get16(msg + 8);
	if (get16(msg + 10) != 0 || len == 0 || len > sigmax || n != TLS_AGENT_HEADER + 4 + len)
		return -1;
	memcpy(sig, msg + TLS_AGENT_HEADER + 4, len);
	*siglen = len;
	return 1;
}

size_t tls_agent_encode_header(uint8_t *out, uint8_t type, uint32_t id)
{
	out[0] = 'M';
	out[1] = 'K';
	out[2] = TLS_AGENT_VERSION;
	out[3] = type;
	put32(out + 4, id);
	return TLS_AGENT_HEADER;
}

size_t tls_agent_encode_sign(uint8_t *out, const struct tls_agent_req *r)
{
	if (r->data_len > TLS_AGENT_MAX_DATA)
		return 0;
	tls_agent_encode_header(out, TLS_AGENT_SIGN, r->id);
	out[8] = r->scheme;
	out[9] = r->hash;
	put16(out + 10, (uint16_t)r->data_len);
	memcpy(out + 12, r->key_id, sizeof(r->key_id));
	memcpy(out + TLS_AGENT_SIGN_FIXED, r->data, r->data_len);
	return TLS_AGENT_SIGN_FIXED + r->data_len;
}

size_t tls_agent_encode_signature(uint8_t *out, uint32_t id, const uint8_t *sig, size_t siglen)
{
	if (siglen == 0 || siglen > TLS_AGENT_MAX_SIG)
		return 0;
	tls_agent_encode_header(out, TLS_AGENT_SIGNATURE, id);
	put16(out + 8, (uint16_t)siglen);
	put16(out + 10, 0);
	memcpy(out + 12, sig, siglen);
	return TLS_AGENT_HEADER + 4 + siglen;
}
