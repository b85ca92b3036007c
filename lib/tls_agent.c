/* tls_agent.c: the key agent's server loop (lib/tls.h, "The key agent"), the same for
 * both backends; the private-key operations are the backend's (tls_held_key_*).
 *
 * The agent owns its keys and nothing else a session could use: it reads requests on
 * channels, answers each with a signature, and ends a channel on the first request
 * that is malformed or that its key must not serve (issue 12: "a forged or truncated
 * message on the internal socketpairs is dropped and logged"). Channels are
 * socketpair(AF_UNIX, SOCK_SEQPACKET) ends: one request is one datagram, whole or
 * truncated (MSG_TRUNC), never spliced with another. The control socket (from the
 * master) brings new channels and reload orders; its end means the master is gone. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "lib/tls_agent_msg.h"
#include "lib/tls_int.h"

#define TLS_AGENT_MAX_CHANNELS 4096

struct agent_key {
	uint8_t id[32];
	struct tls_held_key *k;
};

struct tls_agent {
	char **paths;
	size_t npaths;
	struct agent_key *keys; /* the keys of paths, then those they replaced (ncur..nkeys) */
	size_t nkeys;
	size_t ncur;
	int (*before_reload)(struct tls_agent *a, void *arg);
	void *reload_arg;
	struct pollfd *pfd; /* [0] control, then channels */
	size_t npfd;
};

static void keys_free(struct agent_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tls_held_key_free(keys[i].k);
	free(keys);
}

/* Loads every key file; all or nothing. */
static struct agent_key *keys_load(char *const *paths, size_t n, char *err, size_t errlen)
{
	struct agent_key *keys = xcalloc(n ? n : 1, sizeof(*keys));

	for (size_t i = 0; i < n; i++) {
		keys[i].k = tls_held_key_load(paths[i], keys[i].id, err, errlen);
		if (!keys[i].k) {
			keys_free(keys, i);
			return NULL;
		}
	}
	return keys;
}

struct tls_agent *tls_agent_new(const char *const *key_files, size_t n, char *err, size_t errlen)
{
	struct tls_agent *a = xcalloc(1, sizeof(*a));

	a->paths = xcalloc(n ? n : 1, sizeof(char *));
	for (a->npaths = 0; a->npaths < n; a->npaths++)
		a->paths[a->npaths] = xstrdup(key_files[a->npaths]);
	a->keys = keys_load(a->paths, n, err, errlen);
	if (!a->keys) {
		tls_agent_free(a);
		return NULL;
	}
	a->nkeys = a->ncur = n;
	return a;
}

static bool key_in(const struct agent_key *keys, size_t n, const uint8_t id[32])
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(keys[i].id, id, 32) == 0)
			return true;
	return false;
}

/* The new keys, then the current ones they replace: a master whose context refused the
 * new certificate (its key came first) keeps signing with the previous pair until the
 * next reload. Older generations are wiped. */
int tls_agent_reload(struct tls_agent *a, char *err, size_t errlen)
{
	struct agent_key *keys = keys_load(a->paths, a->npaths, err, errlen);
	size_t n = a->npaths;

	if (!keys)
		return -1;
	keys = xrealloc(keys, (n + a->ncur) * sizeof(*keys));
	for (size_t i = 0; i < a->nkeys; i++) {
		if (i < a->ncur && !key_in(keys, n, a->keys[i].id))
			keys[n++] = a->keys[i];
		else
			tls_held_key_free(a->keys[i].k);
	}
	free(a->keys);
	a->keys = keys;
	a->nkeys = n;
	a->ncur = a->npaths;
	return 0;
}

void tls_agent_set_key_files(struct tls_agent *a, const char *const *key_files, size_t n)
{
	for (size_t i = 0; i < a->npaths; i++)
		free(a->paths[i]);
	a->paths = xrealloc(a->paths, (n ? n : 1) * sizeof(char *));
	for (a->npaths = 0; a->npaths < n; a->npaths++)
		a->paths[a->npaths] = xstrdup(key_files[a->npaths]);
}

void tls_agent_on_reload(struct tls_agent *a, int (*fn)(struct tls_agent *a, void *arg), void *arg)
{
	a->before_reload = fn;
	a->reload_arg = arg;
}

void tls_agent_free(struct tls_agent *a)
{
	if (!a)
		return;
	keys_free(a->keys, a->nkeys);
	for (size_t i = 0; i < a->npaths; i++)
		free(a->paths[i]);
	free(a->paths);
	for (size_t i = 1; i < a->npfd; i++)
		close(a->pfd[i].fd);
	free(a->pfd);
	free(a);
}

static struct agent_key *find_key(struct tls_agent *a, const uint8_t id[32])
{
	for (size_t i = 0; i < a->nkeys; i++)
		if (memcmp(a->keys[i].id, id, 32) == 0)
			return &a->keys[i];
	return NULL;
}

int tls_agent_handle(struct tls_agent *a, const uint8_t *msg, size_t n, uint8_t *out, size_t *outlen,
                     char *err, size_t errlen)
{
	struct tls_agent_req r;
	struct agent_key *k;
	uint8_t sig[TLS_AGENT_MAX_SIG];
	size_t siglen = 0;
	int rc;

	uint32_t id;

	if (n == TLS_AGENT_HAS_KEY_LEN && tls_agent_parse_header(msg, n, &id) == TLS_AGENT_HAS_KEY) {
		*outlen = tls_agent_encode_header(
		    out, find_key(a, msg + TLS_AGENT_HEADER) ? TLS_AGENT_HELD : TLS_AGENT_FAILED, id);
		return 1;
	}
	if (tls_agent_parse_sign(msg, n, &r, err, errlen) < 0)
		return -1;
	k = find_key(a, r.key_id);
	if (!k) {
		/* A key replaced by a reload while a handshake was under way: that handshake
		 * fails, the channel stays. */
		log_warn("tls.agent_unknown_key", "action=failed");
		*outlen = tls_agent_encode_header(out, TLS_AGENT_FAILED, r.id);
		return 1;
	}
	rc = tls_held_key_sign(k->k, &r, sig, sizeof(sig), &siglen, err, errlen);
	if (rc == -1)
		return -1;
	if (rc == 0)
		*outlen = tls_agent_encode_signature(out, r.id, sig, siglen);
	if (rc != 0 || *outlen == 0) {
		log_err("tls.agent_sign_failed", "error=\"%s\"", rc ? err : "signature too long");
		*outlen = tls_agent_encode_header(out, TLS_AGENT_FAILED, r.id);
	}
	explicit_bzero(sig, sizeof(sig));
	return 1;
}

/* Receives one datagram, at most one descriptor (*fd_r, -1 if none; any other is
 * closed). Returns its length, 0 at EOF, -1 on error or truncation (errno EMSGSIZE). */
static ssize_t recv_msg(int fd, uint8_t *buf, size_t len, int *fd_r)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n;

	*fd_r = -1;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int *fds = (int *)CMSG_DATA(c);
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && i < nfd;
		     i++) {
			if (*fd_r < 0)
				*fd_r = fds[i];
			else
				close(fds[i]);
		}
	}
	if (n >= 0 && (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		errno = EMSGSIZE;
		n = -1;
	}
	return n;
}

static void channel_end(struct tls_agent *a, size_t i)
{
	close(a->pfd[i].fd);
	a->pfd[i] = a->pfd[--a->npfd];
}

static void channel_add(struct tls_agent *a, int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET ||
	    a->npfd > TLS_AGENT_MAX_CHANNELS) {
		log_warn("tls.agent_channel_refused", "error=\"%s\"",
		         type == SOCK_SEQPACKET ? "too many channels" : "not a SOCK_SEQPACKET socket");
		close(fd);
		return;
	}
	a->pfd = xrealloc(a->pfd, (a->npfd + 1) * sizeof(*a->pfd));
	a->pfd[a->npfd++] = (struct pollfd){.fd = fd, .events = POLLIN};
}

/* Serves one datagram of channel i; ends the channel at EOF or on a refusal. */
static void channel_read(struct tls_agent *a, size_t i)
{
	uint8_t msg[TLS_AGENT_MAX_MSG + 1], out[TLS_AGENT_MAX_MSG];
	size_t outlen = 0;
	char err[256] = "";
	int extra;
	ssize_t n = recv_msg(a->pfd[i].fd, msg, sizeof(msg), &extra);

	if (extra >= 0)
		close(extra); /* a session has no descriptor to give the agent */
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n == 0) {
		channel_end(a, i);
		return;
	}
	if (n < 0 || extra >= 0 || tls_agent_handle(a, msg, (size_t)n, out, &outlen, err, sizeof(err)) < 0) {
		log_warn("tls.agent_refused", "channel=%d error=\"%s\" action=channel-closed", a->pfd[i].fd,
		         n < 0        ? strerror(errno)
		         : extra >= 0 ? "descriptor sent on a channel"
		                      : err);
		channel_end(a, i);
		return;
	}
	if (send(a->pfd[i].fd, out, outlen, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)outlen)
		channel_end(a, i); /* the session is gone or stuck: its handshake fails */
}

/* Reloads the keys and tells the master (tls_agent_request_reload waits for it). */
static void reload_answer(struct tls_agent *a, uint32_t id)
{
	uint8_t msg[TLS_AGENT_HEADER];
	char err[512] = "the configuration file does not load";
	bool ok = (!a->before_reload || a->before_reload(a, a->reload_arg) == 0) &&
	          tls_agent_reload(a, err, sizeof(err)) == 0;

	if (ok)
		log_info("tls.agent_reloaded", "keys=%zu", a->ncur);
	else
		log_err("tls.agent_reload_failed", "error=\"%s\" action=previous-kept", err);
	tls_agent_encode_header(msg, ok ? TLS_AGENT_RELOADED : TLS_AGENT_FAILED, id);
	(void)send(a->pfd[0].fd, msg, sizeof(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Serves one control message. Returns 0, or 1 when the master is gone. */
static int control_read(struct tls_agent *a)
{
	uint8_t msg[TLS_AGENT_HEADER + 1];
	uint32_t id;
	int fd, type;
	ssize_t n = recv_msg(a->pfd[0].fd, msg, sizeof(msg), &fd);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EMSGSIZE))
		n = errno == EMSGSIZE ? 1 : 0; /* a truncated message: malformed, below */
	else if (n <= 0)
		return 1;
	if (n == 0)
		return 0;
	type = n == TLS_AGENT_HEADER ? tls_agent_parse_header(msg, (size_t)n, &id) : -1;
	if (type == TLS_AGENT_ADD_CHANNEL && fd >= 0) {
		channel_add(a, fd);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	if (type == TLS_AGENT_RELOAD)
		reload_answer(a, id);
	else
		log_warn("tls.agent_refused", "channel=control error=\"malformed control message\"");
	return 0;
}

int tls_agent_run(struct tls_agent *a, int ctl_fd)
{
	a->pfd = xrealloc(a->pfd, (a->npfd + 1) * sizeof(*a->pfd));
	if (a->npfd == 0)
		a->npfd = 1;
	a->pfd[0] = (struct pollfd){.fd = ctl_fd, .events = POLLIN};
	for (;;) {
		int r = poll(a->pfd, a->npfd, -1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		/* The master first: a reload it ordered applies to the requests that wait. */
		if (a->pfd[0].revents && control_read(a))
			return 0;
		/* From the last: channel_end moves the last channel into the freed slot. */
		for (size_t i = a->npfd; i-- > 1;)
			if (a->pfd[i].revents)
				channel_read(a, i);
	}
}

int tls_agent_channel(int ctl_fd, char *err, size_t errlen)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	uint8_t msg[TLS_AGENT_HEADER];
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return tls_errf(err, errlen, "key agent channel: %s", strerror(errno));
	tls_agent_encode_header(msg, TLS_AGENT_ADD_CHANNEL, 0);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &sv[1], sizeof(int));
	/* never waits: an agent being restarted (lib/keeper.h) has a full queue after a
	 * while, and this connection is then refused rather than the master stopped */
	if (sendmsg(ctl_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(msg)) {
		(void)tls_errf(err, errlen, "key agent channel: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	return sv[0];
}

int tls_agent_request_reload(int ctl_fd, char *err, size_t errlen)
{
	uint8_t msg[TLS_AGENT_HEADER + 1];
	long deadline = tls_now_ms() + TLS_AGENT_TIMEOUT_MS;
	uint32_t id = 0;
	ssize_t n;

	tls_agent_encode_header(msg, TLS_AGENT_RELOAD, 0);
	if (send(ctl_fd, msg, TLS_AGENT_HEADER, MSG_NOSIGNAL) != TLS_AGENT_HEADER)
		return tls_errf(err, errlen, "key agent: %s", strerror(errno));
	if (tls_wait_fd(ctl_fd, POLLIN, deadline) <= 0)
		return tls_errf(err, errlen, "key agent: no answer to the reload");
	n = recv(ctl_fd, msg, sizeof(msg), MSG_DONTWAIT);
	if (n == TLS_AGENT_HEADER && tls_agent_parse_header(msg, (size_t)n, &id) == TLS_AGENT_RELOADED)
		return 0;
	return tls_errf(err, errlen,
	                "key agent: the key files did not load, the previous keys stay (see its log)");
}
