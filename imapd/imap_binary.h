/* imap_binary.h: FETCH BINARY (RFC 3516, RFC 9051 6.4.5): a part's content decoded
 * from its Content-Transfer-Encoding. */
#ifndef MSS_IMAP_BINARY_H
#define MSS_IMAP_BINARY_H

#include "imapd/imap_session.h"

/* Appends the decoded octets of part sec (kind STORE_SECTION_ALL; partial ignored) of
 * message uid in the selected mailbox to out. The whole message (depth 0) is not
 * decoded. Returns 0; 1 when the message is gone; -1 on a store error (logged); -2
 * when the encoding is unknown (the client gets NO [UNKNOWN-CTE]). */
int imap_binary_section(struct imap_session *s, uint32_t uid, const struct store_section *sec,
                        struct buf *out);
/* The transfer encoding named in a MIME header block (libetpan MAILMIME_MECHANISM_*),
 * 7BIT when absent, -1 when unknown. Exposed for the unit tests. */
int imap_binary_cte(const char *header, size_t len);

#endif
