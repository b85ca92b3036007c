/* tls_agent_call.c: the handshake's side of the key agent (see tls_agent_msg.h). */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "lib/tls_agent_msg.h"
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
