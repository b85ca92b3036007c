/* keeper_records.c: the records a helper keeps with its keeper (see keeper.h): one
 * SOCK_SEQPACKET pair; each datagram a header (id, length) and the record, with at most
 * one descriptor (SCM_RIGHTS). The keeper holds both ends, so that each helper it forks
 * gets the same one; it never reads a record's content. */
#include "lib/keeper.h"
#include "lib/keeper_records.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"

/* Records kept at once: above the account key agent's channels (4096). */
#define KEEPER_RECORDS_MAX 8192
/* How long the keeper waits for a new helper to take the next replayed record. */
#define KEEPER_REPLAY_WAIT_MS 1000

struct header {
	uint64_t id;
	uint32_t len;
	uint32_t pad;
};

struct kept {
	uint64_t id;
	size_t len;
	int fd;
	unsigned char data[KEEPER_RECORD_MAX];
};

static int mine = -1;   /* the keeper's end */
static int theirs = -1; /* the helper's end: its own in the helper, the next one's in the keeper */
static struct kept *kept;
static size_t nkept;

static ssize_t rec_send(int s, uint64_t id, const void *data, size_t len, int fd, int flags)
{
	struct header h = {.id = id, .len = (uint32_t)len, .pad = 0};
	struct iovec iov[2] = {{.iov_base = &h, .iov_len = sizeof(h)},
	                       {.iov_base = (void *)data, .iov_len = len}};
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};

	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(s, &mh, MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)(sizeof(h) + len) ? 0 : -1;
}

/* One record: its length (0: a drop, or the end of a replay), -1 on error or nothing
 * (errno EAGAIN). */
static ssize_t rec_recv(int s, uint64_t *id, void *data, size_t cap, int *fd, int flags)
{
	struct header h;
	struct iovec iov[2] = {{.iov_base = &h, .iov_len = sizeof(h)}, {.iov_base = data, .iov_len = cap}};
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = {
	    .msg_iov = iov, .msg_iovlen = 2, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if (n < (ssize_t)sizeof(h) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || h.pad != 0 ||
	    h.len > cap || n != (ssize_t)(sizeof(h) + h.len)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		if (n > 0)
			errno = EPROTO; /* malformed; 0 (the other end closed): ECONNRESET */
		else if (n == 0)
			errno = ECONNRESET;
		return -1;
	}
	*id = h.id;
	return (ssize_t)h.len;
}

int keeper_record(uint64_t id, const void *data, size_t len, int fd)
{
	if (theirs < 0 || id == 0 || len > KEEPER_RECORD_MAX)
		return -1;
	return (int)rec_send(theirs, id, data, len, fd, 0);
}

ssize_t keeper_replayed(uint64_t *id, void *data, size_t cap, int *fd)
{
	*fd = -1;
	if (theirs < 0)
		return -1;
	return rec_recv(theirs, id, data, cap, fd, 0);
}

int keeper_records_fd(void)
{
	return theirs;
}

int records_open(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	mine = sv[0];
	theirs = sv[1];
	return 0;
}

int records_keeper_fd(void)
{
	return mine;
}

void records_enter_helper(void)
{
	for (size_t i = 0; i < nkept; i++)
		if (kept[i].fd >= 0)
			close(kept[i].fd);
	free(kept);
	kept = NULL;
	nkept = 0;
	if (mine >= 0)
		close(mine);
	mine = -1;
}

/* Sets, or drops (len 0), record id. */
static void keep(uint64_t id, const unsigned char *data, size_t len, int fd)
{
	size_t i = 0;

	while (i < nkept && kept[i].id != id)
		i++;
	if (i == nkept && len == 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (i == nkept) {
		if (nkept >= KEEPER_RECORDS_MAX) {
			log_warn("keeper.record_refused", "error=\"too many records\"");
			if (fd >= 0)
				close(fd);
			return;
		}
		if (kept == NULL)
			kept = calloc(KEEPER_RECORDS_MAX, sizeof(*kept));
		if (kept == NULL) {
			if (fd >= 0)
				close(fd);
			return;
		}
		kept[nkept++] = (struct kept){.id = id, .fd = -1};
	}
	if (len == 0 || fd >= 0) {
		if (kept[i].fd >= 0)
			close(kept[i].fd);
		kept[i].fd = fd;
	}
	if (len == 0) {
		kept[i] = kept[--nkept];
		return;
	}
	memcpy(kept[i].data, data, len);
	kept[i].len = len;
}

void records_read(void)
{
	static unsigned char data[KEEPER_RECORD_MAX];
	uint64_t id;
	int fd;

	for (;;) {
		ssize_t n = rec_recv(mine, &id, data, sizeof(data), &fd, MSG_DONTWAIT);
		if (n < 0 && errno != EPROTO)
			return; /* nothing more (EAGAIN) */
		if (n < 0 || id == 0) {
			if (n >= 0 && fd >= 0)
				close(fd);
			if (n < 0)
				log_warn("keeper.record_refused", "error=\"malformed record\"");
			continue;
		}
		keep(id, data, (size_t)n, fd);
	}
}

void records_after_end(void)
{
	static unsigned char data[KEEPER_RECORD_MAX];
	uint64_t id;
	int fd;

	records_read();
	for (;;) { /* a replay the helper that ended did not read */
		ssize_t n = rec_recv(theirs, &id, data, sizeof(data), &fd, MSG_DONTWAIT);
		if (fd >= 0)
			close(fd);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0 && errno != EPROTO)
			return;
	}
}

/* Whether pid still runs (not reaped: wait_helper reaps it). */
static bool runs(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

/* Sends one record to the new helper, waiting while its queue is full. */
static bool replay_one(pid_t pid, uint64_t id, const void *data, size_t len, int fd)
{
	for (;;) {
		if (rec_send(mine, id, data, len, fd, MSG_DONTWAIT) == 0)
			return true;
		if (errno != EAGAIN || !runs(pid))
			return false;
		struct pollfd p = {.fd = mine, .events = POLLOUT};
		(void)poll(&p, 1, KEEPER_REPLAY_WAIT_MS);
	}
}

bool records_replay(pid_t pid)
{
	for (size_t i = 0; i < nkept; i++)
		if (!replay_one(pid, kept[i].id, kept[i].data, kept[i].len, kept[i].fd))
			return false;
	return replay_one(pid, 0, NULL, 0, -1);
}
