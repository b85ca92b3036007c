/* imap_bodystructure.h: BODY and BODYSTRUCTURE (RFC 9051 7.5.2) from a parsed part
 * tree (imap_mime_parse, header copies still attached).
 *
 * Written as Dovecot writes them, so that a client sees the same description from
 * both: types and parameters keep the message's spelling; a text part without a
 * charset gets ("charset" "us-ascii") (RFC 2045 5.2); a part without Content-Type is
 * text/plain, or message/rfc822 inside a multipart/digest; a multipart with no part
 * gets one empty text/plain part (body-type-mpart needs one); a part not entered
 * (too deep, too many parts) is application/octet-stream; Content-* fields of a
 * part that is not MIME (no MIME-Version nor Content-Type) are ignored. Sizes and
 * line counts are the octets as stored.
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_BODYSTRUCTURE_H
#define MSS_IMAP_BODYSTRUCTURE_H

#include <stdbool.h>

#include "imap/imap_mime.h"
#include "lib/buf.h"

/* Appends the structure of part (the root for a whole message): extended (true:
 * BODYSTRUCTURE) or not (BODY). */
void imap_bodystructure_write(struct buf *out, const struct imap_part *part, bool extended);

#endif
