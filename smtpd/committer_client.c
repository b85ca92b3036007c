/* committer_client.c: a session process's side of the committer (committer.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit/audit.h"
#include "lib/buf.h"
#include "lib/fd_io.h"
#include "lib/log.h"
#include "policy/policy.h"
#include "smtpd/committer.h"
#include "smtpd/committer_msg.h"

/* Kept open for the next delivery: a reused MX process connects once. */
static int committer_fd = -1;

static int connect_committer(const struct mss_config *cfg)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (committer_socket_path(cfg, a.sun_path, sizeof a.sun_path) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* a committer that never answers (stopped, or stuck behind another writer) costs
	 * the client a 451 after twice the wait one database call may take, not its session */
	struct timeval wait = {.tv_sec = 2 * (time_t)cfg->store_timeout};
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void disconnect(void)
{
	if (committer_fd >= 0)
		close(committer_fd);
	committer_fd = -1;
}

/* The request sent whole: to the connection kept from the last delivery, else (it
 * broke while idle: the committer was restarted) to a new one. Nothing of a request
 * whose write failed was taken: a committer handles whole frames only. */
static int send_request(const struct mss_config *cfg, const struct buf *req)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (committer_fd < 0)
			committer_fd = connect_committer(cfg);
		if (committer_fd < 0)
			return -1;
		if (fd_send_all(committer_fd, req->data, req->len) == 0)
			return 0;
		disconnect();
	}
	return -1;
}

static int lost(int *rc, struct mss_status *st)
{
	disconnect();
	log_err("committer.lost", "error=\"no answer from the committer: the delivery was not committed\"");
	*rc = -1;
	policy_not_stored(st);
	return 0;
}

int committer_deliver(const struct mss_config *cfg, const struct policy_message *m, int *rc,
                      struct mss_status *st, unsigned *batch)
{
	struct buf req;
	/* it holds the message: overwritten when it grows and goes, as the session's own
	 * buffers are (a reused MX process serves other operators next) */
	buf_init_wiped(&req, BUF_UNLIMITED);
	committer_req_write(&req, m->queue_id, m->sender, m->mail_from, m->dsn, m->rcpts, m->rcpt_dsn,
	                    m->nrcpt, m->data, m->len);
	int sent = send_request(cfg, &req);
	buf_free(&req);
	if (sent < 0)
		return 1; /* no committer: the caller delivers itself */
	*batch = 0;
	uint8_t head[COMMITTER_FRAME_HEAD], body[1024];
	if (fd_read_exact(committer_fd, head, sizeof head) < 0)
		return lost(rc, st);
	uint32_t len = committer_frame_len(head);
	struct committer_ans a;
	if (len > sizeof body || fd_read_exact(committer_fd, body, len) < 0 ||
	    committer_ans_parse(body, len, &a) < 0)
		return lost(rc, st);
	if (a.kept_written)
		audit_deferred_drop(); /* written in the committer's transaction */
	*rc = a.rc;
	*st = a.st;
	*batch = a.batch;
	return 0;
}
