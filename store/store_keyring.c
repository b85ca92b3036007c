/* store_keyring.c: account keys for a store without the master key, asked of the
 * account key agent over this process's own channel (store_agent.h, store_use_agent).
 * This process reads the wrapped key from the database and sends it with the
 * account's address; the agent, which alone holds the master key, answers with the
 * key, or closes the channel when this process may not have it. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/str.h"
#include "store/store.h"
#include "store/store_agent.h"
#include "store/store_agent_msg.h"
#include "store/store_int.h"

/* How long a request waits for the agent's answer, as a TLS agent's signature does
 * (TLS_AGENT_TIMEOUT_MS): a channel made while the agent was down is served once its
 * keeper started it again (lib/keeper.h), within this for a short pause. */
#define KEYAGENT_ANSWER_MS 10000

/* Waits for the answer on fd. Returns > 0 when it came, 0 on timeout, -1 on error. */
static int answer_wait(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r;

	do
		r = poll(&p, 1, KEYAGENT_ANSWER_MS);
	while (r < 0 && errno == EINTR);
	return r;
}

/* The agent died or does not answer: this channel is done (a late answer would be read
 * as the next one's), and the store reports itself unavailable, so that the protocol
 * answers a temporary failure (IMAP NO [UNAVAILABLE], SMTP 4xx). Returns -1. */
static int agent_gone(struct store *st)
{
	close(st->agent_fd);
	st->agent_fd = -1;
	st->agent_gone = true;
	return -1;
}

/* One request of type for account with its text, answered by a KEY (key; wrapped,
 * when not NULL, the answer's wrapped key: NEW's). */
static int agent_ask(struct store *st, int type, const char *account, const char *text,
                     unsigned char key[CRYPTO_KEY_LEN], char wrapped[CRYPTO_WRAPPED_HEX_LEN], char *err,
                     size_t errlen)
{
	struct keyagent_msg m;
	ssize_t n;

	if (st->agent_fd < 0) {
		str_error(err, errlen, "the account key agent refused this process (see keyagent.refused)");
		return -1;
	}
	memset(&m, 0, sizeof(m));
	m.magic = KEYAGENT_MAGIC;
	m.version = KEYAGENT_VERSION;
	m.type = (uint16_t)type;
	if (str_copy(m.account, sizeof(m.account), account) < 0 ||
	    str_copy(m.wrapped, sizeof(m.wrapped), text) < 0) {
		str_error(err, errlen, "account key cannot be unwrapped (altered)");
		return -1;
	}
	if (send(st->agent_fd, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m)) {
		str_error(err, errlen, "account key agent: %s", strerror(errno));
		return agent_gone(st);
	}
	if (answer_wait(st->agent_fd) <= 0) {
		str_error(err, errlen, "the account key agent did not answer (being restarted?)");
		return agent_gone(st);
	}
	do
		n = recv(st->agent_fd, &m, sizeof(m), MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n == 0) { /* refused: the agent closed the channel; so does this process */
		close(st->agent_fd);
		st->agent_fd = -1;
		str_error(err, errlen, "the account key agent refused this process (see keyagent.refused)");
		return -1;
	}
	if (!keyagent_msg_ok(&m, n, KEYAGENT_KEY) || !m.ok) {
		sodium_memzero(&m, sizeof(m));
		str_error(
		    err, errlen,
		    "account key cannot be unwrapped (altered, another account's, not migrated, or wrong "
		    "master key)");
		return -1;
	}
	if (wrapped != NULL && str_copy(wrapped, CRYPTO_WRAPPED_HEX_LEN, m.wrapped) < 0) {
		sodium_memzero(&m, sizeof(m));
		str_error(err, errlen, "account key agent: a wrapped key too long");
		return -1;
	}
	memcpy(key, m.key, CRYPTO_KEY_LEN);
	sodium_memzero(&m, sizeof(m));
	return 0;
}

/* A bound store asks for one account only (store_agent_bind). Returns 0, or -1 with err. */
static int bound_to(struct store *st, const char *account, char *err, size_t errlen)
{
	char lower[sizeof(st->agent_account)];

	if (!st->agent_bound)
		return 0;
	if (str_copy(lower, sizeof(lower), account) != 0) {
		str_error(err, errlen, "account name too long");
		return -1;
	}
	str_lower(lower);
	if (st->agent_account[0] == '\0')
		memcpy(st->agent_account, lower, sizeof(lower));
	if (strcmp(st->agent_account, lower) == 0)
		return 0;
	str_error(err, errlen, "this session reads with %s's key only, not another account's",
	          st->agent_account);
	return -1;
}

int store_keyring_unwrap(struct store *st, const char *account, const char *wrapped,
                         unsigned char key[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
	if (bound_to(st, account, err, errlen) < 0)
		return -1;
	return agent_ask(st, KEYAGENT_ASK, account, wrapped, key, NULL, err, errlen);
}

int store_keyring_service_key(struct store *st, const char ctx[8], unsigned char key[CRYPTO_KEY_LEN],
                              char *err, size_t errlen)
{
	char name[9];

	memcpy(name, ctx, 8);
	name[8] = '\0';
	return agent_ask(st, KEYAGENT_SERVICE, "", name, key, NULL, err, errlen);
}

int store_keyring_queue_keys(struct store *st, unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], unsigned char *sk,
                             char *err, size_t errlen)
{
	char pk_hex[CRYPTO_WRAPPED_HEX_LEN];
	size_t n = 0;

	if (sk == NULL)
		return agent_ask(st, KEYAGENT_QUEUE_PUBLIC, "", "", pk, NULL, err, errlen);
	if (agent_ask(st, KEYAGENT_QUEUE_SECRET, "", "", sk, pk_hex, err, errlen) < 0)
		return -1;
	if (sodium_hex2bin(pk, CRYPTO_PUBLIC_KEY_LEN, pk_hex, strlen(pk_hex), NULL, &n, NULL) != 0 ||
	    n != CRYPTO_PUBLIC_KEY_LEN) {
		sodium_memzero(sk, CRYPTO_SECRET_KEY_LEN);
		str_error(err, errlen, "account key agent: a malformed queue public key");
		return -1;
	}
	return 0;
}

int store_keyring_new_key(struct store *st, const char *account, char wrapped[CRYPTO_WRAPPED_HEX_LEN],
                          char *public_hex, size_t public_len, char *err, size_t errlen)
{
	unsigned char pk[CRYPTO_KEY_LEN];

	if (public_len < 2 * CRYPTO_PUBLIC_KEY_LEN + 1 ||
	    agent_ask(st, KEYAGENT_NEW, account, "", pk, wrapped, err, errlen) < 0)
		return -1;
	sodium_bin2hex(public_hex, public_len, pk, CRYPTO_PUBLIC_KEY_LEN);
	return 0;
}

int store_keyring_rewrap(struct store *st, const char *account, const char *old,
                         char wrapped[CRYPTO_WRAPPED_HEX_LEN], char *err, size_t errlen)
{
	unsigned char none[CRYPTO_KEY_LEN];

	return agent_ask(st, KEYAGENT_REWRAP, account, old, none, wrapped, err, errlen);
}

void store_keyring_end(struct store *st)
{
	if (st->agent_fd >= 0)
		close(st->agent_fd);
	st->agent_fd = -1;
}

void store_agent_bind(struct store *st)
{
	st->agent_bound = true;
	st->agent_account[0] = '\0';
}

void store_use_agent(struct store *st, int fd)
{
	store_keyring_end(st);
	st->use_keyring = true;
	st->agent_fd = fd;
}
