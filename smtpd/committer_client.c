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
#include "lib/str.h"
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
	/* a committer that does not answer (stopped, or stuck behind another writer) within
	 * twice the wait one database call may take is asked to withdraw the delivery, and
	 * given as long again (withdraw): a 451, not the session, and never one said of a
	 * delivery it then commits */
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

/* A request's room beside the message's octets: its envelope, the sender's rows and each
 * recipient's copy plan (a few hundred octets for one recipient); more only grows. */
#define COMMITTER_REQ_ROOM 4096

/* The committer neither answered nor withdrew the delivery in time, and no note of a
 * batch holds it yet: it may still commit it (stopped, or stuck in its batch's commit),
 * so the 451 says so, and the log names the queue id an operator finds a second copy
 * by. The kept audit records are forgotten: written if it commits, else they are of
 * decisions that stored nothing (audit.h), never written twice. Also when the notes
 * could not be read (why). */
static int unknown(const char *qid, const char *why, int *rc, struct mss_status *st)
{
	audit_deferred_drop();
	log_err("committer.lost",
	        "qid=%s result=unknown error=\"%s: the delivery may still be committed, and the client's "
	        "retry then delivers it twice\"",
	        qid, why);
	*rc = -1;
	st->code = 451;
	str_assert(str_copy(st->enhanced, sizeof st->enhanced, "4.3.0"), "a constant into 12 bytes");
	str_assert(str_copy(st->text, sizeof st->text,
	                    "the message's storage is not confirmed; a retry may deliver it twice"),
	           "a constant sentence into 256 bytes");
	return 0;
}

/* The answer to the request sent. Returns 0, 1 when none came within the socket's wait
 * (SO_RCVTIMEO), -1 when the connection ended or the answer does not parse. */
static int read_answer(struct committer_ans *a)
{
	uint8_t head[COMMITTER_FRAME_HEAD], body[1024];
	errno = 0;
	if (fd_read_exact(committer_fd, head, sizeof head) < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
	uint32_t len = committer_frame_len(head);
	if (len > sizeof body || fd_read_exact(committer_fd, body, len) < 0 ||
	    committer_ans_parse(body, len, a) < 0)
		return -1;
	return 0;
}

/* The wait ran out: the committer may not have begun the batch that holds the request,
 * or be in it. Asks it to withdraw the delivery and waits once more as long: it answers
 * "not stored" (withdrawn) or the batch's real outcome. Returns as read_answer. */
static int withdraw(struct committer_ans *a)
{
	struct buf w;
	buf_init(&w, BUF_UNLIMITED);
	committer_withdraw_write(&w);
	int sent = fd_send_all(committer_fd, w.data, w.len);
	buf_free(&w);
	/* a committer gone: what it committed, if anything, is read from its notes */
	return sent < 0 ? -1 : read_answer(a);
}

/* No answer came: the committer's connection ended (it died: before its COMMIT, or
 * after it and before its answers) or it stayed silent past the withdrawal (gone=false:
 * it may commit yet). Its batch's note (store_batch_noted) says whether the delivery was
 * committed: 250 (filed first, as after an answer) and its kept audit records, written
 * in that transaction, forgotten; else 451, the client's retry the only copy. since:
 * the syncs begun before the request went (a failed one after may have been its
 * commit's, which is then not known durable: 451 with the outcome unknown). */
static int look_up(struct store *store, const struct policy_message *m, struct policy_inspection *in,
                   uint64_t since, bool gone, int *rc, struct mss_status *st)
{
	disconnect();
	char mark = 0, err[256];
	int found = store_batch_noted(store, m->queue_id, since, &mark, err, sizeof err);
	bool ok = found == 1 && (mark == STORE_NOTE_STORED || mark == STORE_NOTE_ACCEPTED);
	policy_inspection_end(store, in, ok && mark == STORE_NOTE_STORED);
	if (found < 0)
		return unknown(m->queue_id, err, rc, st);
	if (found == 0 && !gone)
		return unknown(m->queue_id, "no answer from the committer, nor to its withdrawal", rc, st);
	if (found == 1)
		audit_deferred_drop(); /* written in its transaction */
	log_warn("committer.lost", "qid=%s result=%s error=\"no answer from the committer%s: %s\"",
	         m->queue_id, ok ? "stored" : "not-stored",
	         gone ? ", its connection ended" : ", nor to its withdrawal",
	         ok ? "its batch's note says it was committed" : "no batch committed it");
	*rc = ok ? 0 : -1;
	memset(st, 0, sizeof *st);
	if (!ok)
		policy_not_stored(st);
	return 0;
}

int committer_deliver(struct store *store, const struct policy_message *m, int *rc, struct mss_status *st,
                      unsigned *batch)
{
	const struct mss_config *cfg = store_config(store);
	char err[256];
	/* a committer to hand it to first: else the delivery inspects it itself, once */
	if (committer_fd < 0)
		committer_fd = connect_committer(cfg);
	if (committer_fd < 0)
		return 1;
	/* the vault's inspection here, in this peer's process: the committer only builds
	 * the copies decided from it, and this process files the message once committed */
	struct policy_inspection *in = policy_inspect(store, m, err, sizeof err);
	if (in == NULL)
		return 1; /* a database error: the caller's own delivery fails as it would */
	if (policy_inspection_files(in)) {
		/* documents for a patient: filed in the delivery's own transaction, which the
		 * committer's batch is not (its session filed after the answer, a second
		 * commit a crash could fall between: stored, unfiled, then sent again); with
		 * this inspection, not a second one */
		*batch = 0;
		*rc = policy_deliver_inspected(store, in, st);
		return 0;
	}
	struct buf req;
	/* it holds the message: overwritten when it grows and goes, as the session's own
	 * buffers are (a reused MX process serves other operators next) */
	buf_init_wiped(&req, BUF_UNLIMITED);
	/* the message and room for the rest, at once: grown from 64 bytes it was copied,
	 * wiped and freed five times per message */
	if (buf_reserve(&req, m->len + COMMITTER_REQ_ROOM) < 0)
		req.refused = false; /* then it grows as it goes, as before */
	committer_req_write(&req, m->queue_id, m->sender, m->mail_from, m->dsn, m->rcpts, m->rcpt_dsn,
	                    policy_inspection_copies(in), m->nrcpt, m->data, m->len);
	uint64_t since = store_batch_sync_mark(store); /* before it can be committed */
	int sent = send_request(cfg, &req);
	buf_free(&req);
	if (sent < 0) { /* no committer: delivered here, with this inspection */
		*batch = 0;
		*rc = policy_deliver_inspected(store, in, st);
		return 0;
	}
	*batch = 0;
	struct committer_ans a;
	int got = read_answer(&a);
	if (got == 1) {
		log_warn("committer.withdraw",
		         "qid=%s error=\"no answer from the committer in %us: withdrawing\"", m->queue_id,
		         2 * cfg->store_timeout);
		got = withdraw(&a);
	}
	if (got != 0)
		return look_up(store, m, in, since, got < 0, rc, st);
	if (a.kept_written)
		audit_deferred_drop(); /* written in the committer's transaction */
	*rc = a.rc;
	*st = a.st;
	*batch = a.batch;
	policy_inspection_end(store, in, a.rc == 0 && a.to_file);
	return 0;
}
