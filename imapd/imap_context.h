/* imap_context.h: CONTEXT=SEARCH (RFC 5267 4): a SEARCH with RETURN (UPDATE) stays
 * live in the selected mailbox, and the client is told with ESEARCH ADDTO and
 * REMOVEFROM how its result changes, until CANCELUPDATE or the mailbox is closed. */
#ifndef MSS_IMAP_CONTEXT_H
#define MSS_IMAP_CONTEXT_H

#include <stddef.h>

#include "imapd/imap_session.h"

/* Keeps c (a SEARCH with RETURN (UPDATE)) live with its result: the view indexes
 * idx[0..n). Returns 0, or 1 when no more contexts may be kept (the client gets
 * NOUPDATE and the results only). */
int imap_context_add(struct imap_session *s, const struct imap_command *c, const size_t *idx, size_t n);
/* Before view index i is removed (EXPUNGE): REMOVEFROM for the contexts holding it. */
void imap_context_expunged(struct imap_session *s, size_t i);
/* After a command, before its tagged reply: each context evaluated again, the
 * differences sent. */
void imap_context_update(struct imap_session *s);
/* Ends the context named by tag. Returns 0, or -1 when there is none. */
int imap_context_cancel(struct imap_session *s, const char *tag);
/* Ends every context (the mailbox is closed). */
void imap_context_clear(struct imap_session *s);

#endif
