/* imap_idle.c: IDLE (RFC 2177, RFC 9051 6.3.13).
 *
 * The session sleeps in poll() on two descriptors: the client's socket and the store's
 * change notification for the selected mailbox (store_watch_open). A delivery, an
 * expunge or a flag change by another session wakes it, and the untagged updates go
 * out at once; the database is read only then, never polled in a loop. */
#include <string.h>
#include <time.h>

#include "imapd/imap_cmd.h"
#include "imapd/imap_kick.h"
#include "imapd/imap_notify.h"
#include "imapd/imap_reader.h"
#include "imapd/imap_vault.h"
#include "lib/log.h"
#include "lib/str.h"

#define IDLE_KEEPALIVE_MS (2 * 60 * 1000) /* "* OK Still here", as Dovecot, for NAT boxes */
#define IDLE_FALLBACK_MS 2000             /* only when the watch could not be opened */

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the line that ends IDLE. */
static void idle_done(struct imap_session *s, struct imap_command *c)
{
	struct buf line;
	buf_init(&line, BUF_UNLIMITED);
	enum conn_result r = conn_read_line(s->conn, &line, 64, NULL);
	if (r == CONN_OK && str_ieq(line.data, "DONE"))
		imap_send_text(s, c->tag, IMAP_R_DONE, c->name);
	else if (r == CONN_OK || r == CONN_TOOLONG)
		imap_send(s, c->tag, IMAP_R_EXPECTED_DONE);
	else
		s->close_after_reply = true;
	buf_free(&line);
}

void cmd_idle(struct imap_session *s, struct imap_command *c)
{
	if (c->nargs != 0) {
		imap_send_text(s, c->tag, IMAP_R_NO_ARGS, c->name);
		return;
	}
	conn_puts(s->conn, "+ idling\r\n");
	long deadline = now_ms() + (long)s->cfg->imap_idle_timeout * 1000;
	long keepalive = now_ms() + IDLE_KEEPALIVE_MS;
	bool released = false; /* the caches go once the client idles (imap_idle_release) */
	for (;;) {
		if (s->view.history)
			imap_history_sync(s); /* history entries are audit records: nothing to watch */
		if (s->view.open && !s->view.shared && imap_book_protected(s, s->view.name))
			imap_book_refresh(s); /* a document filed shows as the book rebuilt */
		uint32_t before = s->view.uidnext;
		if (s->view.open && imap_view_sync(s, true) < 0)
			break;
		imap_notify_selected_new(s, before);
		imap_notify_poll(s); /* NOTIFY: other mailboxes too (RFC 5465 4) */
		if (conn_flush(s->conn) < 0) {
			s->close_after_reply = true;
			return;
		}
		long now = now_ms();
		if (now >= deadline) {
			conn_puts(s->conn, "* BYE Idle timeout\r\n");
			s->close_after_reply = true;
			return;
		}
		if (now >= keepalive) {
			conn_puts(s->conn, "* OK Still here\r\n");
			keepalive = now + IDLE_KEEPALIVE_MS;
			continue;
		}
		long wait = (deadline < keepalive ? deadline : keepalive) - now;
		/* NOTIFY's watch covers every mailbox, the selected one included */
		int fd = imap_notify_fd(s) >= 0 ? imap_notify_fd(s) : s->view.open ? s->view.watch_fd : -1;
		if (s->view.open && fd < 0 && wait > IDLE_FALLBACK_MS)
			wait = IDLE_FALLBACK_MS;
		/* History entries are audit records, written by every daemon and mssctl:
		 * there is no store watch for them, so IDLE on Historique looks again. */
		long history_ms = (long)s->cfg->imap_history_check * 1000;
		if (s->view.history && wait > history_ms)
			wait = history_ms;
		if (!released) {
			imap_release_memory(s);
			released = true;
		}
		int rc = imap_wait(s, fd, (int)wait); /* also the account (imap_kick.h) */
		if (rc == -2)
			conn_puts(s->conn, "* BYE Server shutting down\r\n");
		if (rc < 0) {
			s->close_after_reply = true;
			return;
		}
		if (rc == 1)
			break;
	}
	if (!s->close_after_reply)
		idle_done(s, c);
}
