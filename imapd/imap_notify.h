/* imap_notify.h: NOTIFY (RFC 5465): events of mailboxes other than the selected one
 * (unsolicited STATUS, LIST for MailboxName and SubscriptionChange), and of the
 * selected one outside IDLE, sent while no command is in progress.
 *
 * The session keeps one watch on every mailbox (store_watch_all_open: inotify on the
 * run directory, or LISTEN on a shared store, so a change made on another host wakes
 * it too) and a snapshot of the mailboxes it watches (name, id, counts). A wake-up
 * reads the database for the mailboxes that changed, compares with the snapshot and
 * queues the differences; the queue is bounded (imap_notify_max_events): past it the
 * client gets "* OK [NOTIFICATIONOVERFLOW]" and NOTIFY is off (RFC 5465 5.8). Nothing
 * is remembered between wake-ups but the snapshot, so memory is bounded by
 * imap_notify_max_mailboxes.
 *
 * The vault's rules are those of LIST and STATUS: a professional watches the shared
 * folders LIST shows them (imap_vault_list: a grant, no block, a visible document),
 * their counts are those of the visible documents (imap_vault_status), and the grant is
 * checked again before each notification (imap_vault_resolve): a masked or ungranted
 * document never moves a count. */
#ifndef MSS_IMAP_NOTIFY_H
#define MSS_IMAP_NOTIFY_H

#include <stdint.h>

#include "imapd/imap_session.h"

struct imap_fetch_request;

void cmd_notify(struct imap_session *s, struct imap_command *c);
/* Waits up to timeout_ms for the client's next command like conn_wait_readable(s->conn,
 * -1, timeout_ms) (same results), sending the notifications due meanwhile. */
int imap_notify_wait(struct imap_session *s, int timeout_ms);
/* Sends the notifications due now, without waiting (after a command, in IDLE). */
void imap_notify_poll(struct imap_session *s);
/* The descriptor that wakes when a notification may be due, -1 when NOTIFY is off. */
int imap_notify_fd(const struct imap_session *s);
/* After the view of the selected mailbox was brought up to date: the fetch attributes
 * of NOTIFY's MessageNew (RFC 5465 5.2) for the messages from UID old_uidnext on. */
void imap_notify_selected_new(struct imap_session *s, uint32_t old_uidnext);
/* Ends NOTIFY (logout). */
void imap_notify_free(struct imap_session *s);

/* imap_fetch.c: one FETCH response for view entry i, as FETCH writes it (the vault's
 * visibility checked, a document's reading audited), never setting \Seen. */
void imap_fetch_notify(struct imap_session *s, const struct imap_fetch_request *r, size_t i);

#endif
