/* imap_thread.h: the THREAD algorithms of RFC 5256 (ORDEREDSUBJECT, REFERENCES), on
 * keys already read (imap_sortkey.h). Pure and bounded: no recursion on the depth of
 * a thread (a reply chain may be as long as the mailbox).
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_THREAD_H
#define MSS_IMAP_THREAD_H

#include <stddef.h>
#include <stdint.h>

#include "imap/imap_sortkey.h"
#include "lib/buf.h"

struct imap_thread_msg {
	uint32_t num;                  /* what the answer shows: sequence number or UID */
	int64_t date;                  /* sent date, the internal date when it has none */
	const struct imap_sortkeys *k; /* subject, reply, msgid, refs */
};

/* Each writes the threads of m[0..n) (in mailbox order) to out as RFC 5256 4 spells
 * them after "* THREAD": "(3 6 (4 23)(44 7 96))(1)". */
void imap_thread_orderedsubject(const struct imap_thread_msg *m, size_t n, struct buf *out);
void imap_thread_references(const struct imap_thread_msg *m, size_t n, struct buf *out);

#endif
