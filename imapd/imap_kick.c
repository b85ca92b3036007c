/* imap_kick.c: ending a session whose account was disabled, deleted or given a new
 * password (imap_kick.h). */
#include "imapd/imap_kick.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "vault/vault_access.h"

void imap_kick_arm(struct imap_session *s, bool by_password, bool by_cert)
{
	char err[256];
	struct imap_kick *k = &s->kick;
	memset(k, 0, sizeof(*k));
	k->fd = store_account_watch_open(s->store, s->account.address, err, sizeof(err));
	if (k->fd < 0)
		log_warn("imap.kick_watch", "user=%s error=\"%s\"", s->account.address, err);
	if (account_stamp(s->store, s->account.address, &k->at_login) != 1) {
		store_watch_close(k->fd); /* unreadable now: the wake would compare with nothing */
		k->fd = -1;
		return;
	}
	k->by_password = by_password;
	k->by_cert = by_cert;
	k->armed = true;
}

void imap_kick_disarm(struct imap_session *s)
{
	if (!s->kick.armed)
		return;
	store_watch_close(s->kick.fd);
	s->kick.fd = -1;
	s->kick.armed = false;
}

/* Why the session must end now, or NULL (also when the account cannot be read: the
 * next wake or command looks again). */
static const char *ended(struct imap_session *s)
{
	const struct account_stamp *was = &s->kick.at_login;
	struct account_stamp now;
	int r = account_stamp(s->store, s->account.address, &now);
	if (r < 0)
		return NULL;
	if (r == 0 || now.id != was->id)
		return "deleted";
	if (now.disabled)
		return "disabled";
	if (s->kick.by_password && sodium_memcmp(now.password, was->password, sizeof(now.password)) != 0)
		return "password";
	if (s->kick.by_cert && sodium_memcmp(now.certs, was->certs, sizeof(now.certs)) != 0)
		return "certificate";
	return NULL;
}

/* Woken: 1 when the session ended (BYE written), 0 when it goes on. */
static int woken(struct imap_session *s)
{
	/* 0: readable for another watch's notification (on PostgreSQL the session's
	 * watches share one connection, store_watch.c): no account read for it */
	if (store_watch_drain(s->kick.fd) == 0)
		return 0;
	const char *why = ended(s);
	if (why == NULL && s->view.shared &&
	    vault_may_read(s->store, s->account.address, s->view.patient) != 1) {
		/* the professional's directory entry made inactive or struck off (mssctl
		 * directory disable|import): as a revocation (imap_view_sync), at once */
		/* logged before the BYE is sent: whoever saw the BYE finds the line */
		log_info("imap.kicked", "peer=%s user=%s reason=no-access", conn_peer_ip(s->conn),
		         s->account.address);
		conn_puts(s->conn, "* BYE Access to this folder was withdrawn\r\n");
		conn_flush(s->conn);
		s->close_after_reply = true;
		return 1;
	}
	if (why == NULL)
		return 0;
	log_info("imap.kicked", "peer=%s user=%s reason=%s", conn_peer_ip(s->conn), s->account.address, why);
	conn_printf(s->conn, "* BYE Account %s: log in again\r\n",
	            strcmp(why, "password") == 0      ? "password changed"
	            : strcmp(why, "certificate") == 0 ? "certificate changed"
	                                              : why);
	conn_flush(s->conn);
	s->close_after_reply = true;
	return 1;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int imap_wait(struct imap_session *s, int fd, int timeout_ms)
{
	int kick_fd = s->kick.armed ? s->kick.fd : -1;
	long deadline = now_ms() + timeout_ms;
	for (;;) {
		long left = deadline - now_ms();
		int rc = conn_wait_readable2(s->conn, fd, kick_fd, left > 0 ? (int)left : 0);
		if (rc != 3)
			return rc;
		if (woken(s))
			return -1;
	}
}
