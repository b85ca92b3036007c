/* store_agent.c: the account key agent process (see store_agent.h). It holds the
 * master key and one state per channel (its kind, the account it is bound to, the
 * session it serves), nothing else: no database, no client socket, no TLS key. */
#include "store/store_agent.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdint.h>
#include <sys/stat.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/config.h"
#include "lib/keeper.h"
#include "lib/log.h"
#include "lib/privsep.h"
#include "lib/str.h"
#include "store/store.h"
#include "store/store_agent_msg.h"
#include "store/store_int.h"

/* Channels one agent serves at once: the daemons' session limit is far below it; a
 * channel beyond it is refused (logged) and its session gets no key. */
#define KEYAGENT_MAX_CHANNELS 4096
#define KEYAGENT_START_WAIT_MS 30000

struct channel {
	int fd;
	enum store_agent_kind kind;
	char session[KEYAGENT_SESSION_MAX];
	char bound[KEYAGENT_ACCOUNT_MAX]; /* "" until the first ASK of a BOUND channel */
};

struct agent {
	unsigned char master[CRYPTO_KEY_LEN];
	struct pollfd *pfd; /* [0]: the control socket; [i]: chans[i] */
	struct channel *chans;
	size_t n;
};

static const char *kind_name(enum store_agent_kind k)
{
	return k == STORE_AGENT_BOUND   ? "bound"
	       : k == STORE_AGENT_MX    ? "mx"
	       : k == STORE_AGENT_ADMIN ? "admin"
	       : k == STORE_AGENT_QUEUE ? "queue"
	                                : "any";
}

static void channel_end(struct agent *a, size_t i)
{
	close(a->chans[i].fd);
	a->n--;
	a->chans[i] = a->chans[a->n];
	a->pfd[i] = a->pfd[a->n];
}

/* Refuses what channel i asked: one line, no key material, and the channel closed
 * (its session's next key request fails). */
static void refuse(struct agent *a, size_t i, const char *account, const char *why)
{
	char q1[KEYAGENT_ACCOUNT_MAX + 8], q2[KEYAGENT_ACCOUNT_MAX + 8];
	const struct channel *c = &a->chans[i];

	log_warn("keyagent.refused",
	         "session=%s kind=%s bound=%s asked=%s error=\"%s\" action=channel-closed",
	         c->session[0] ? c->session : "-", kind_name(c->kind),
	         log_quote(q1, sizeof(q1), c->bound[0] ? c->bound : "-"),
	         log_quote(q2, sizeof(q2), account[0] ? account : "-"), why);
	channel_end(a, i);
}

/* Whether channel c may have account's key; binds a BOUND channel on its first ask.
 * Returns NULL, or why not. */
static const char *may_ask(struct channel *c, const char *account)
{
	char lower[KEYAGENT_ACCOUNT_MAX];

	if (c->kind == STORE_AGENT_MX || c->kind == STORE_AGENT_QUEUE)
		return "this channel may have no account key";
	if (str_copy(lower, sizeof(lower), account) != 0 || lower[0] == '\0')
		return "no account named";
	str_lower(lower);
	if (c->kind != STORE_AGENT_BOUND)
		return NULL;
	if (c->bound[0] == '\0')
		memcpy(c->bound, lower, sizeof(lower));
	return strcmp(c->bound, lower) == 0 ? NULL : "another account than the one the channel is bound to";
}

/* A new account key for m->account: wrapped for it, with its public key; the key
 * itself wiped. */
static uint32_t new_key(const unsigned char master[CRYPTO_KEY_LEN], struct keyagent_msg *m)
{
	unsigned char key[CRYPTO_KEY_LEN], sk[CRYPTO_SECRET_KEY_LEN];
	int rc;

	crypto_key_generate(key);
	rc = crypto_key_wrap(master, key, m->account, m->wrapped);
	crypto_keypair_derive(key, m->key, sk);
	sodium_memzero(sk, sizeof(sk));
	crypto_key_wipe(key);
	return rc == 0;
}

/* migrate's rewrite: m->wrapped, a first-format wrap, wrapped again for m->account. */
static uint32_t rewrap(const unsigned char master[CRYPTO_KEY_LEN], struct keyagent_msg *m)
{
	unsigned char key[CRYPTO_KEY_LEN];
	int rc = -1;

	if (m->account[0] && crypto_key_unwrap_v1(master, m->wrapped, key) == 0) {
		rc = crypto_key_wrap(master, key, m->account, m->wrapped);
		crypto_key_wipe(key);
	}
	return rc == 0;
}

/* The outbound queue's key pair: the public key in m->key (QUEUE_PUBLIC), or the
 * secret one there and the public one in hex in m->wrapped (QUEUE_SECRET). */
static uint32_t queue_keys(const unsigned char master[CRYPTO_KEY_LEN], struct keyagent_msg *m)
{
	unsigned char pk[CRYPTO_PUBLIC_KEY_LEN], sk[CRYPTO_SECRET_KEY_LEN];

	crypto_service_keypair(master, STORE_QUEUE_KEYPAIR_CTX, pk, sk);
	memset(m->wrapped, 0, sizeof(m->wrapped));
	if (m->type == KEYAGENT_QUEUE_SECRET) {
		memcpy(m->key, sk, CRYPTO_KEY_LEN);
		sodium_bin2hex(m->wrapped, sizeof(m->wrapped), pk, sizeof(pk));
	} else {
		memcpy(m->key, pk, CRYPTO_KEY_LEN);
	}
	sodium_memzero(sk, sizeof(sk));
	return 1;
}

/* Answers m in place. Returns NULL, or why the channel is refused. */
static const char *answer(struct agent *a, struct channel *c, struct keyagent_msg *m)
{
	const char *why = NULL;

	if (m->type == KEYAGENT_NEW) {
		m->ok = m->account[0] ? new_key(a->master, m) : 0;
	} else if (m->type == KEYAGENT_REWRAP) {
		if (c->kind != STORE_AGENT_ADMIN)
			return "a rewrap is mssctl migrate's";
		m->ok = rewrap(a->master, m);
	} else if (m->type == KEYAGENT_SERVICE) {
		/* the queue's old derived key: mssctl migrate reseals the entries made under it */
		if (c->kind != STORE_AGENT_ADMIN)
			return "the queue's old key is mssctl migrate's";
		m->ok = strlen(m->wrapped) == 8;
		if (m->ok)
			crypto_subkey(m->key, a->master, 1, m->wrapped);
	} else if (m->type == KEYAGENT_QUEUE_PUBLIC || m->type == KEYAGENT_QUEUE_SECRET) {
		if (m->type == KEYAGENT_QUEUE_SECRET && c->kind != STORE_AGENT_QUEUE &&
		    c->kind != STORE_AGENT_ADMIN)
			return "the queue's secret key is the queue process's";
		m->ok = queue_keys(a->master, m);
	} else if ((why = may_ask(c, m->account)) == NULL) {
		m->ok = crypto_key_unwrap(a->master, m->wrapped, m->account, m->key) == 0;
		if (!m->ok)
			log_warn(
			    "keyagent.unwrap_failed",
			    "session=%s error=\"the wrapped key does not unwrap for its account (altered, "
			    "swapped, not migrated, or another master key)\"",
			    c->session[0] ? c->session : "-");
	}
	m->type = KEYAGENT_KEY;
	if (!m->ok)
		memset(m->key, 0, sizeof(m->key));
	return why;
}

/* What a refused request asked for, as its line names it: an account, or "queue". */
static const char *asked(const struct keyagent_msg *m)
{
	if (m->type == KEYAGENT_SERVICE || m->type == KEYAGENT_QUEUE_PUBLIC ||
	    m->type == KEYAGENT_QUEUE_SECRET)
		return "queue";
	return m->account;
}

static void channel_read(struct agent *a, size_t i)
{
	struct keyagent_msg m;
	ssize_t n = recv(a->pfd[i].fd, &m, sizeof(m), MSG_TRUNC | MSG_DONTWAIT);
	const char *why;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		channel_end(a, i);
		return;
	}
	if (!keyagent_msg_ok(&m, n, KEYAGENT_ASK) && !keyagent_msg_ok(&m, n, KEYAGENT_SERVICE) &&
	    !keyagent_msg_ok(&m, n, KEYAGENT_NEW) && !keyagent_msg_ok(&m, n, KEYAGENT_REWRAP) &&
	    !keyagent_msg_ok(&m, n, KEYAGENT_QUEUE_PUBLIC) &&
	    !keyagent_msg_ok(&m, n, KEYAGENT_QUEUE_SECRET)) {
		sodium_memzero(&m, sizeof(m));
		refuse(a, i, "", "forged or truncated request");
		return;
	}
	why = answer(a, &a->chans[i], &m);
	if (why != NULL) {
		refuse(a, i, asked(&m), why);
	} else if (send(a->pfd[i].fd, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(m)) {
		channel_end(a, i); /* the session is gone or stuck */
	}
	sodium_memzero(&m, sizeof(m));
}

/* Receives one control datagram and its descriptor (*fd_r, -1 if none). Returns its
 * length, 0 when the master is gone, -1 on a malformed one. */
static ssize_t control_recv(int ctl, struct keyagent_ctl *c, int *fd_r)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = c, .iov_len = sizeof(*c)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	ssize_t n;

	*fd_r = -1;
	do
		n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd_r, CMSG_DATA(cm), sizeof(int));
	if (n > 0 && (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -1;
	return n;
}

static void channel_add(struct agent *a, const struct keyagent_ctl *c, int fd)
{
	struct channel *ch;

	if (a->n >= KEYAGENT_MAX_CHANNELS) {
		log_warn("keyagent.channel_refused", "session=%s error=\"too many channels\"", c->session);
		close(fd);
		return;
	}
	a->pfd = xrealloc(a->pfd, (a->n + 1) * sizeof(*a->pfd));
	a->chans = xrealloc(a->chans, (a->n + 1) * sizeof(*a->chans));
	ch = &a->chans[a->n];
	memset(ch, 0, sizeof(*ch));
	ch->fd = fd;
	ch->kind = (enum store_agent_kind)c->kind;
	memcpy(ch->session, c->session, sizeof(ch->session));
	a->pfd[a->n++] = (struct pollfd){.fd = fd, .events = POLLIN};
}

/* Serves one control message. Returns 0, or 1 when the master is gone. */
static int control_read(struct agent *a)
{
	struct keyagent_ctl c;
	int fd;
	ssize_t n = control_recv(a->pfd[0].fd, &c, &fd);

	if (n == 0)
		return 1;
	if (n == (ssize_t)sizeof(c) && fd >= 0 && c.magic == KEYAGENT_MAGIC &&
	    c.version == KEYAGENT_VERSION && c.type == KEYAGENT_ADD_CHANNEL && c.pad == 0 &&
	    c.kind >= STORE_AGENT_BOUND && c.kind <= STORE_AGENT_QUEUE &&
	    memchr(c.session, '\0', sizeof(c.session)) != NULL) {
		channel_add(a, &c, fd);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	log_warn("keyagent.refused", "session=- error=\"malformed control message\"");
	return n < 0 && errno != EMSGSIZE && errno != EAGAIN ? 1 : 0;
}

static void agent_run(struct agent *a)
{
	for (;;) {
		int r = poll(a->pfd, a->n, -1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (a->pfd[0].revents && control_read(a)))
			return;
		/* from the last: channel_end moves the last channel into the freed slot */
		for (size_t i = a->n; i-- > 1;)
			if (a->pfd[i].revents)
				channel_read(a, i);
	}
}

static void agent_main(int ctl, const struct mss_config *cfg) __attribute__((noreturn));
static void agent_main(int ctl, const struct mss_config *cfg)
{
	static struct agent a; /* the master key off the stack, wiped at the end */
	char path[CONFIG_PATH_MAX + 64], err[CONFIG_PATH_MAX + 256] = "";
	int keep[] = {ctl};

	prctl(PR_SET_NAME, "mss-keyagent");
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives its master */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	/* a SIGTERM to the process group reaches the sessions first, which may still need
	 * keys to finish; the agent ends when the master closes its socket (and would be
	 * started again by its keeper, lib/keeper.h, if a signal ended it) */
	signal(SIGTERM, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* the master's listeners, log file and other agents' sockets are not the agent's */
	privsep_close_others(keep, 1);
	if (config_master_key_file(cfg, path, sizeof(path)) < 0)
		str_error(err, sizeof(err), "master_key_file: path too long");
	else
		(void)crypto_master_key_load(path, a.master, err, sizeof(err));
	/* started again (lib/keeper.h): the master waits for no answer, and what it sent
	 * meanwhile (new channels) waits in the control socket */
	bool again = keeper_restarts() > 0;
	if (err[0]) {
		if (again)
			log_err("keyagent.start", "result=failed error=\"%s\"", err);
		else
			(void)send(ctl, err, strlen(err) + 1, MSG_NOSIGNAL);
		_exit(1);
	}
	/* "" and the key's check value: the master compares it with the store's */
	int64_t check = store_key_check_value(a.master);
	char ok[1 + sizeof(check)] = "";
	memcpy(ok + 1, &check, sizeof(check));
	if (!again && send(ctl, ok, sizeof(ok), MSG_NOSIGNAL) < 0)
		_exit(1);
	a.chans = xcalloc(1, sizeof(*a.chans));
	a.pfd = xcalloc(1, sizeof(*a.pfd));
	a.chans[0].fd = ctl;
	a.pfd[0] = (struct pollfd){.fd = ctl, .events = POLLIN};
	a.n = 1;
	agent_run(&a);
	sodium_memzero(a.master, sizeof(a.master));
	_exit(0);
}

/* Reads the agent's start answer: "" and the key's check value when the key loaded,
 * else why not. */
static int start_answer(int ctl, int64_t *check, char *err, size_t errlen)
{
	char msg[CONFIG_PATH_MAX + 257];
	struct pollfd p = {.fd = ctl, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, KEYAGENT_START_WAIT_MS) <= 0) {
		str_error(err, errlen, "account key agent: no answer at start");
		return -1;
	}
	n = recv(ctl, msg, sizeof(msg) - 1, 0);
	if (n == 1 + (ssize_t)sizeof(*check) && msg[0] == '\0') {
		memcpy(check, msg + 1, sizeof(*check));
		return 0;
	}
	if (n <= 1 || msg[n - 1] != '\0') {
		str_error(err, errlen, "account key agent: ended at start");
		return -1;
	}
	str_error(err, errlen, "%s", msg);
	return -1;
}

int store_agent_start(struct store_agent *a, const struct mss_config *cfg, char *err, size_t errlen)
{
	int sv[2];

	a->ctl = -1;
	/* a data_dir not made yet is named as such (with its remedy), not as a missing key */
	if (store_check_data_dir(cfg, err, errlen) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		str_error(err, errlen, "account key agent: %s", strerror(errno));
		return -1;
	}
	/* restarted when it dies, by a keeper: the master, once the daemons' user, could not */
	struct keeper k = {"account-key-agent", "mss-keys-keep", 0, cfg->child_restart_max, sv[1]};
	a->pid = keeper_fork(&k);
	if (a->pid < 0) {
		str_error(err, errlen, "account key agent: cannot fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (a->pid == 0) {
		close(sv[0]);
		agent_main(sv[1], cfg);
	}
	close(sv[1]);
	a->ctl = sv[0];
	return start_answer(a->ctl, &a->check, err, errlen);
}

int store_agent_channel(struct store_agent *a, enum store_agent_kind kind, const char *session)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct keyagent_ctl c;
	struct iovec iov = {.iov_base = &c, .iov_len = sizeof(c)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	int sv[2];

	memset(&c, 0, sizeof(c));
	c.magic = KEYAGENT_MAGIC;
	c.version = KEYAGENT_VERSION;
	c.type = KEYAGENT_ADD_CHANNEL;
	c.kind = (uint32_t)kind;
	if (str_copy(c.session, sizeof(c.session), session ? session : "") != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err("keyagent.channel_failed", "error=\"%s\"", strerror(errno));
		return -1;
	}
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &sv[1], sizeof(int));
	/* never waits: an agent being restarted (lib/keeper.h) has a full queue after a
	 * while, and this connection is then refused rather than the master stopped */
	if (a->ctl < 0 || sendmsg(a->ctl, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(c)) {
		log_err("keyagent.channel_failed", "error=\"the account key agent is gone: %s\"",
		        a->ctl < 0 ? "not started" : strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	return sv[0];
}

bool store_agent_gone(const struct store_agent *a)
{
	struct pollfd p = {.fd = a->ctl, .events = 0};

	return a->ctl < 0 || (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)));
}

void store_agent_forget(struct store_agent *a)
{
	if (a->ctl >= 0)
		close(a->ctl);
	a->ctl = -1;
}

int store_agent_check(const struct store_agent *a, const struct mss_config *cfg, char *err, size_t errlen)
{
	struct store *st = store_open_nokeys(cfg, err, errlen);
	int rc;

	if (st == NULL)
		return -1;
	rc = store_key_check(st, a->check, err, errlen);
	store_close(st);
	return rc;
}

void store_master_key_warn(const struct mss_config *cfg)
{
	char path[CONFIG_PATH_MAX + 64];
	struct passwd *pw = getpwnam(cfg->user);
	struct stat sb;

	if (config_master_key_file(cfg, path, sizeof(path)) < 0 || stat(path, &sb) < 0 || pw == NULL ||
	    pw->pw_uid == 0 || (sb.st_uid != pw->pw_uid && !(sb.st_mode & 077)))
		return;
	log_warn("keys.master_readable",
	         "file=%s user=%s error=\"the daemons' user can read the master key: a session holding "
	         "it reads every account\" fix=\"chown root:root %s && chmod 0400 %s (mssctl migrate "
	         "does it)\"",
	         path, cfg->user, path, path);
}
