/* tls_agent_msg.h: the key agent's messages (internal to lib/tls*; the fuzz target
 * tests/fuzz/fuzz_tls_agent_msg.c reads it too).
 *
 * One message per datagram of a socketpair(AF_UNIX, SOCK_SEQPACKET): the kernel keeps
 * message boundaries, so a message is whole or refused (MSG_TRUNC), never spliced.
 * All integers big-endian. Every message starts with an 8-byte header:
 *   magic "MK" | version 1 | type | id (u32, echoed in the reply)
 * SIGN (channel -> agent), 44 + n bytes:
 *   header | scheme u8 | hash u8 | n u16 | key_id[32] (SHA-256 of the key's
 *   SubjectPublicKeyInfo) | data[n]
 * SIGNATURE (agent -> channel): header | n u16 | 0 u16 | signature[n]
 * FAILED (agent -> channel): header (the key could not sign; the channel stays open)
 * HAS_KEY (channel -> agent), 40 bytes: header | key_id[32]; answered HELD (header)
 *   or FAILED: whether the agent holds that key (a master checks that a certificate
 *   it loads has its key in the agent, as a key file is checked against it)
 * ADD_CHANNEL (control -> agent): header, with one descriptor (SCM_RIGHTS)
 * RELOAD (control -> agent): header; answered on the control socket with RELOADED,
 *   or FAILED when a key file did not load (the keys in force stay)
 * A request that does not parse, or that the key it names cannot serve, is refused:
 * the agent logs it and closes that channel. A request naming a key the agent does
 * not hold (replaced by a reload meanwhile) is answered FAILED. */
#ifndef MSS_TLS_AGENT_MSG_H
#define MSS_TLS_AGENT_MSG_H

#include <stddef.h>
#include <stdint.h>

#define TLS_AGENT_VERSION 1
#define TLS_AGENT_HEADER 8
#define TLS_AGENT_SIGN_FIXED 44
#define TLS_AGENT_MAX_DATA 1024 /* an RSA-8192 block; digests are at most 64 */
#define TLS_AGENT_MAX_SIG 1024
#define TLS_AGENT_MAX_MSG (TLS_AGENT_SIGN_FIXED + TLS_AGENT_MAX_DATA)
#define TLS_AGENT_HAS_KEY_LEN (TLS_AGENT_HEADER + 32)

enum tls_agent_type {
	TLS_AGENT_SIGN = 1,
	TLS_AGENT_SIGNATURE = 2,
	TLS_AGENT_FAILED = 3,
	TLS_AGENT_HAS_KEY = 4,
	TLS_AGENT_HELD = 5,
	TLS_AGENT_ADD_CHANNEL = 16,
	TLS_AGENT_RELOAD = 17,
	TLS_AGENT_RELOADED = 18,
};

/* What to sign. data is a digest of the hash's length, except for RSA_PSS_BLOCK: an
 * EMSA-PSS encoded block of the modulus's length (RFC 8017 section 9.1.1), which
 * OpenSSL's RSA method hands over for RSA-PSS; the agent checks it is one (the hash
 * is then 0: the agent tries SHA-256, -384 and -512) before the raw RSA operation, so
 * the agent never serves as a raw RSA decryption oracle. */
enum tls_agent_scheme {
	TLS_AGENT_ECDSA = 1,
	TLS_AGENT_RSA_PKCS1 = 2,
	TLS_AGENT_RSA_PSS = 3,
	TLS_AGENT_RSA_PSS_BLOCK = 4,
};

enum tls_agent_hash {
	TLS_AGENT_HASH_NONE = 0,
	TLS_AGENT_SHA256 = 1,
	TLS_AGENT_SHA384 = 2,
	TLS_AGENT_SHA512 = 3,
};

struct tls_agent_req {
	uint32_t id;
	uint8_t scheme; /* enum tls_agent_scheme */
	uint8_t hash;   /* enum tls_agent_hash */
	uint8_t key_id[32];
	const uint8_t *data; /* points into the parsed message */
	size_t data_len;
};

/* Digest length of hash, 0 for none or unknown. */
size_t tls_agent_hash_len(uint8_t hash);
/* The hash whose digest is len bytes (ECDSA and PKCS#1 in OpenSSL give the digest
 * alone), TLS_AGENT_HASH_NONE if none. */
uint8_t tls_agent_hash_of_len(size_t len);

/* Parses a SIGN request. Returns 0, or -1 with err saying what is wrong (for the log):
 * bad magic or version, another type, a length that does not match, data over
 * TLS_AGENT_MAX_DATA, an unknown scheme or hash, a digest of the wrong length. */
int tls_agent_parse_sign(const uint8_t *msg, size_t n, struct tls_agent_req *r, char *err, size_t errlen);
/* Parses a header of any type. Returns the type, or -1 (bad magic, version, length). */
int tls_agent_parse_header(const uint8_t *msg, size_t n, uint32_t *id);
/* Parses the agent's answer to request id. Returns 1 with the signature in sig
 * (*siglen), 0 FAILED, -2 an answer to another (older) request: skip it, -1 malformed. */
int tls_agent_parse_reply(const uint8_t *msg, size_t n, uint32_t id, uint8_t *sig, size_t sigmax,
                          size_t *siglen);

/* Encoders: write into out (TLS_AGENT_MAX_MSG bytes) and return the length, or 0 when
 * the data does not fit the format. */
size_t tls_agent_encode_sign(uint8_t *out, const struct tls_agent_req *r);
size_t tls_agent_encode_signature(uint8_t *out, uint32_t id, const uint8_t *sig, size_t siglen);
size_t tls_agent_encode_header(uint8_t *out, uint8_t type, uint32_t id);

struct tls_agent;
/* The agent's answer to one message read on a channel (tls_agent.c): 1 with a reply in
 * out (*outlen bytes: SIGNATURE, or FAILED when the key is not held or could not
 * sign), -1 when the request is refused (err says why: the channel must end). */
int tls_agent_handle(struct tls_agent *a, const uint8_t *msg, size_t n, uint8_t *out, size_t *outlen,
                     char *err, size_t errlen);

/* The backend's part of the agent (tls_openssl_agent.c, tls_gnutls_agent.c). */
struct tls_held_key;
/* Loads a PEM private key (RSA or EC). id: SHA-256 of its SubjectPublicKeyInfo (DER).
 * Returns NULL with err naming the file and why. */
struct tls_held_key *tls_held_key_load(const char *path, uint8_t id[32], char *err, size_t errlen);
/* Signs r with k. Returns 0 with the signature, -1 when r is a request k must not
 * serve (a scheme of another key type, a PSS block that is not one), -2 when signing
 * failed. */
int tls_held_key_sign(struct tls_held_key *k, const struct tls_agent_req *r, uint8_t *sig, size_t sigmax,
                      size_t *siglen, char *err, size_t errlen);
/* Wipes and frees. */
void tls_held_key_free(struct tls_held_key *k);

/* The handshake's side (tls_agent_call.c): sends r (its id set from *seq) on the
 * channel fd and waits up to TLS_AGENT_TIMEOUT_MS for the signature. Returns 0, or -1
 * (the agent refused, failed, closed the channel, or did not answer in time). */
int tls_agent_call(int fd, uint32_t *seq, struct tls_agent_req *r, uint8_t *sig, size_t sigmax,
                   size_t *siglen);
/* Asks the agent on fd whether it holds the key named id. Returns 1 held, 0 not held,
 * -1 no answer (the agent is gone or did not answer in time). */
int tls_agent_has_key(int fd, uint32_t *seq, const uint8_t id[32]);
/* tls_agent_has_key for a context that loads certificate cert_file with its key in the
 * agent on fd: 0, or -1 with err "key file KEY does not match certificate file CERT"
 * (key_file names what the agent was given; "" names the agent itself). */
int tls_agent_check_held(int fd, uint32_t *seq, const uint8_t id[32], const char *key_file,
                         const char *cert_file, char *err, size_t errlen);

#endif
