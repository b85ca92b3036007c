/* store_keyring.c: account keys for a store without the master key, unwrapped by a
 * keyring process of its own (see store.h, store_use_keyring). The keyring holds the
 * master key and nothing else: no database (the session process reads the wrapped
 * key and sends it), so forking it from a process with an open SQLite connection is
 * safe, and it serves only unwrapping. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/privsep.h"
#include "lib/str.h"
#include "store/store.h"
#include "store/store_int.h"

#define KEYRING_MAGIC 0x4b53534du /* "MSSK" read as little-endian bytes */
#define KEYRING_VERSION 1
enum { KEYRING_ASK = 1, KEYRING_KEY = 2, KEYRING_SERVICE = 3, KEYRING_NEW = 4 };

/* One fixed-size message each way over a SOCK_SEQPACKET socketpair: ASK carries a
 * wrapped key (hex, NUL-terminated), SERVICE the 8-character name of a service key
 * (store_service_key: the outbound queue's, for mss-smtpd's session processes) in the
 * same field, NEW asks for a new account key (a store user made on delivery: the vault's
 * professionals), answered with it wrapped (wrapped) and its public key (key): the
 * account key itself never leaves the keyring; KEY answers each. */
struct keyring_msg {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t ok; /* KEY: 1 with key, 0 when it does not unwrap */
	uint32_t pad;
	char wrapped[CRYPTO_WRAPPED_HEX_LEN + 8];
	unsigned char key[CRYPTO_KEY_LEN];
};

static bool msg_ok(const struct keyring_msg *m, ssize_t n, int type)
{
	return n == (ssize_t)sizeof(*m) && m->magic == KEYRING_MAGIC && m->version == KEYRING_VERSION &&
	       m->type == type && m->pad == 0 && m->ok <= 1 &&
	       memchr(m->wrapped, '\0', sizeof(m->wrapped)) != NULL;
}

/* A new account key, wrapped, with its public key; the key itself wiped. */
static uint32_t new_key(const unsigned char master[CRYPTO_KEY_LEN], struct keyring_msg *m)
{
	unsigned char key[CRYPTO_KEY_LEN], sk[CRYPTO_SECRET_KEY_LEN];
	int rc;

	crypto_key_generate(key);
	rc = crypto_key_wrap(master, key, m->wrapped);
	crypto_keypair_derive(key, m->key, sk);
	sodium_memzero(sk, sizeof(sk));
	crypto_key_wipe(key);
	return rc == 0;
}

static void keyring_serve(const struct mss_config *cfg, int fd) __attribute__((noreturn));
static void keyring_serve(const struct mss_config *cfg, int fd)
{
	char err[256], path[CONFIG_PATH_MAX + 64];
	unsigned char master[CRYPTO_KEY_LEN];
	struct keyring_msg m;

	if (config_master_key_file(cfg, path, sizeof(path)) < 0 ||
	    crypto_master_key_load(path, master, err, sizeof(err)) < 0) {
		log_err("store.keyring", "error=\"cannot load the master key\"");
		_exit(1);
	}
	for (;;) {
		ssize_t n = recv(fd, &m, sizeof(m), MSG_TRUNC);
		if (n <= 0)
			break;
		if (!msg_ok(&m, n, KEYRING_ASK) && !msg_ok(&m, n, KEYRING_SERVICE) &&
		    !msg_ok(&m, n, KEYRING_NEW)) {
			/* the session process is the only sender: it is ended with its session */
			log_err("store.keyring_refused",
			        "error=\"forged or truncated request\" action=ended");
			kill(getppid(), SIGKILL);
			break;
		}
		if (m.type == KEYRING_NEW) {
			m.ok = new_key(master, &m);
		} else if (m.type == KEYRING_SERVICE) {
			m.ok = strlen(m.wrapped) == 8;
			if (m.ok)
				crypto_subkey(m.key, master, 1, m.wrapped);
		} else {
			m.ok = crypto_key_unwrap(master, m.wrapped, m.key) == 0;
		}
		m.type = KEYRING_KEY;
		if (!m.ok)
			memset(m.key, 0, sizeof(m.key));
		n = send(fd, &m, sizeof(m), MSG_NOSIGNAL);
		sodium_memzero(&m, sizeof(m));
		if (n != (ssize_t)sizeof(m))
			break;
	}
	sodium_memzero(master, sizeof(master));
	_exit(0);
}

/* Forks the keyring process on first need: it holds the master key, this process
 * never does. */
static int keyring_start(struct store *st, char *err, size_t errlen)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		str_error(err, errlen, "keyring: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		int keep[] = {sv[1]};
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives its session process */
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		/* the parent's database connection and sockets are not the keyring's */
		privsep_close_others(keep, 1);
		keyring_serve(&st->cfg, sv[1]);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		str_error(err, errlen, "keyring: cannot fork: %s", strerror(errno));
		return -1;
	}
	st->keyring_fd = sv[0];
	st->keyring_pid = pid;
	return 0;
}

/* One request of type with its text, answered by a KEY (key; wrapped, when not NULL,
 * the answer's wrapped key: NEW's). */
static int keyring_ask(struct store *st, int type, const char *text, unsigned char key[CRYPTO_KEY_LEN],
                       char wrapped[CRYPTO_WRAPPED_HEX_LEN], char *err, size_t errlen)
{
	struct keyring_msg m;
	ssize_t n;

	if (st->keyring_fd < 0 && keyring_start(st, err, errlen) < 0)
		return -1;
	memset(&m, 0, sizeof(m));
	m.magic = KEYRING_MAGIC;
	m.version = KEYRING_VERSION;
	m.type = (uint16_t)type;
	if (str_copy(m.wrapped, sizeof(m.wrapped), text) < 0) {
		str_error(err, errlen, "account key cannot be unwrapped (altered)");
		return -1;
	}
	if (send(st->keyring_fd, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m)) {
		str_error(err, errlen, "keyring: %s", strerror(errno));
		return -1;
	}
	do
		n = recv(st->keyring_fd, &m, sizeof(m), MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (!msg_ok(&m, n, KEYRING_KEY) || !m.ok) {
		sodium_memzero(&m, sizeof(m));
		str_error(err, errlen, "account key cannot be unwrapped (altered, or wrong master key)");
		return -1;
	}
	if (wrapped != NULL && str_copy(wrapped, CRYPTO_WRAPPED_HEX_LEN, m.wrapped) < 0) {
		sodium_memzero(&m, sizeof(m));
		str_error(err, errlen, "keyring: a wrapped key too long");
		return -1;
	}
	memcpy(key, m.key, CRYPTO_KEY_LEN);
	sodium_memzero(&m, sizeof(m));
	return 0;
}

int store_keyring_unwrap(struct store *st, const char *wrapped, unsigned char key[CRYPTO_KEY_LEN], char *err,
                         size_t errlen)
{
	return keyring_ask(st, KEYRING_ASK, wrapped, key, NULL, err, errlen);
}

int store_keyring_service_key(struct store *st, const char ctx[8], unsigned char key[CRYPTO_KEY_LEN],
                              char *err, size_t errlen)
{
	char name[9];

	memcpy(name, ctx, 8);
	name[8] = '\0';
	return keyring_ask(st, KEYRING_SERVICE, name, key, NULL, err, errlen);
}

int store_keyring_new_key(struct store *st, char wrapped[CRYPTO_WRAPPED_HEX_LEN], char *public_hex,
                          size_t public_len, char *err, size_t errlen)
{
	unsigned char pk[CRYPTO_KEY_LEN];

	if (public_len < 2 * CRYPTO_PUBLIC_KEY_LEN + 1 ||
	    keyring_ask(st, KEYRING_NEW, "", pk, wrapped, err, errlen) < 0)
		return -1;
	sodium_bin2hex(public_hex, public_len, pk, CRYPTO_PUBLIC_KEY_LEN);
	return 0;
}

void store_keyring_end(struct store *st)
{
	if (st->keyring_fd < 0)
		return;
	close(st->keyring_fd);
	st->keyring_fd = -1;
	while (waitpid(st->keyring_pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void store_use_keyring(struct store *st)
{
	st->use_keyring = true;
}
