/* tls_agent_call.c: the handshake's side of the key agent (see tls_agent_msg.h). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/tls_agent_msg.h"
#include "lib/tls.h"
#include "lib/tls_int.h"

int tls_agent_call(int fd, uint32_t *seq, struct tls_agent_req *r, uint8_t *sig, size_t sigmax,
                   size_t *siglen)
{
	uint8_t msg[TLS_AGENT_MAX_MSG + 1];
	long deadline = tls_now_ms() + TLS_AGENT_TIMEOUT_MS;
	size_t n;

	r->id = ++*seq;
	n = tls_agent_encode_sign(msg, r);
	if (n == 0 || send(fd, msg, n, MSG_NOSIGNAL) != (ssize_t)n)
		return -1;
	/* Answers to earlier requests that timed out are skipped; the id is monotonic. */
	while (tls_wait_fd(fd, POLLIN, deadline) > 0) {
		ssize_t got = recv(fd, msg, sizeof(msg), MSG_DONTWAIT);
		int rc;

		if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (got <= 0 || (size_t)got > TLS_AGENT_MAX_MSG)
			return -1;
		rc = tls_agent_parse_reply(msg, (size_t)got, r->id, sig, sigmax, siglen);
		if (rc != -2)
			return rc == 1 ? 0 : -1;
	}
	return -1;
}

int tls_agent_has_key(int fd, uint32_t *seq, const uint8_t id[32])
{
	uint8_t msg[TLS_AGENT_MAX_MSG + 1];
	long deadline = tls_now_ms() + TLS_AGENT_TIMEOUT_MS;
	uint32_t want = ++*seq, got;

	tls_agent_encode_header(msg, TLS_AGENT_HAS_KEY, want);
	memcpy(msg + TLS_AGENT_HEADER, id, 32);
	if (send(fd, msg, TLS_AGENT_HAS_KEY_LEN, MSG_NOSIGNAL) != TLS_AGENT_HAS_KEY_LEN)
		return -1;
	while (tls_wait_fd(fd, POLLIN, deadline) > 0) {
		ssize_t n = recv(fd, msg, sizeof(msg), MSG_DONTWAIT);
		int type;

		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n != TLS_AGENT_HEADER && n <= 0)
			return -1;
		type = tls_agent_parse_header(msg, (size_t)n, &got);
		if (type < 0 || got != want)
			continue; /* an answer to an earlier request that timed out */
		return type == TLS_AGENT_HELD ? 1 : type == TLS_AGENT_FAILED ? 0 : -1;
	}
	return -1;
}

int tls_agent_check_held(int fd, uint32_t *seq, const uint8_t id[32], const char *key_file,
                         const char *cert_file, char *err, size_t errlen)
{
	int held = tls_agent_has_key(fd, seq, id);

	if (held == 1)
		return 0;
	if (held < 0)
		return tls_errf(err, errlen, "key agent for certificate file %s: no answer", cert_file);
	if (key_file && *key_file)
		return tls_errf(err, errlen, "key file %s does not match certificate file %s", key_file,
		                cert_file);
	return tls_errf(err, errlen, "the key agent holds no key for certificate file %s", cert_file);
}
