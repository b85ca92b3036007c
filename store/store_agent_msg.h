/* store_agent_msg.h: the messages of the account key agent (store_agent.h), shared by
 * the agent (store_agent.c) and its sessions' side (store_keyring.c). Each is one
 * fixed-size datagram over SOCK_SEQPACKET, received whole (MSG_TRUNC checked) and
 * checked field by field on receipt: no pointer, no length taken from the peer. */
#ifndef MSS_STORE_AGENT_MSG_H
#define MSS_STORE_AGENT_MSG_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "lib/crypto.h"

#define KEYAGENT_MAGIC 0x4b53534du /* "MSSK" read as little-endian bytes */
#define KEYAGENT_VERSION 2
#define KEYAGENT_ACCOUNT_MAX 256 /* an address (at most 255 octets) and its NUL */
#define KEYAGENT_SESSION_MAX 16  /* LOG_SESSION_ID_SIZE */

/* session -> agent: ASK (unwrap wrapped for account), SERVICE (the service key named by
 * the 8 characters in wrapped: store_service_key), NEW (a new account key for account,
 * answered wrapped, with its public key in key: the key itself never leaves the
 * agent); REWRAP (ADMIN channels only: wrapped, a first-format wrap, answered wrapped
 * again for account, in wrapped; no key sent); SERVICE is ADMIN's only (migrate reads
 * the queue's old entries with it); QUEUE_PUBLIC (the outbound queue's public key, in
 * key: any channel), QUEUE_SECRET (its secret key in key, the public one in hex in
 * wrapped: QUEUE and ADMIN channels only); agent -> session: KEY, one per request (ok 1 with the key, 0
 * when it does not unwrap). A request the channel may not make is not answered: the channel is closed. */
enum {
	KEYAGENT_ASK = 1,
	KEYAGENT_KEY = 2,
	KEYAGENT_SERVICE = 3,
	KEYAGENT_NEW = 4,
	KEYAGENT_REWRAP = 5,
	KEYAGENT_QUEUE_PUBLIC = 6,
	KEYAGENT_QUEUE_SECRET = 7
};

struct keyagent_msg {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t ok;
	uint32_t pad;
	char account[KEYAGENT_ACCOUNT_MAX];
	char wrapped[CRYPTO_WRAPPED_HEX_LEN + 8];
	unsigned char key[CRYPTO_KEY_LEN];
};

/* master -> agent, on the control socket, with the new channel's descriptor
 * (SCM_RIGHTS): what the channel may ask (enum store_agent_kind) and the session id
 * its lines name. */
enum { KEYAGENT_ADD_CHANNEL = 16 };

struct keyagent_ctl {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t kind;
	uint32_t pad;
	char session[KEYAGENT_SESSION_MAX];
};

/* A datagram of n bytes is a whole message of type, every field in range. */
static inline bool keyagent_msg_ok(const struct keyagent_msg *m, ssize_t n, int type)
{
	return n == (ssize_t)sizeof(*m) && m->magic == KEYAGENT_MAGIC && m->version == KEYAGENT_VERSION &&
	       m->type == type && m->pad == 0 && m->ok <= 1 &&
	       memchr(m->account, '\0', sizeof(m->account)) != NULL &&
	       memchr(m->wrapped, '\0', sizeof(m->wrapped)) != NULL;
}

#endif
