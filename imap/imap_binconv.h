/* imap_binconv.h: a message APPENDed as literal8 (RFC 3516 4.4) made fit for every
 * client: each part declared "Content-Transfer-Encoding: binary" (and not a multipart)
 * is re-encoded in base64, its header saying so, as Dovecot stores such messages. Then
 * BODY[] never carries raw binary octets (NUL is not even a CHAR8), while BINARY[]
 * gives the client back exactly what it sent.
 *
 * Streamed: fed the message in pieces, appends the converted octets to a buffer the
 * caller drains; memory is one part's header at most (256 KiB; a longer header is
 * passed on unconverted).
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_BINCONV_H
#define MSS_IMAP_BINCONV_H

#include <stddef.h>

#include "lib/buf.h"

struct imap_binconv;

struct imap_binconv *imap_binconv_new(void);
/* Converts n more octets, appending the result to out. */
void imap_binconv_feed(struct imap_binconv *c, const char *p, size_t n, struct buf *out);
/* Ends the input (the last base64 block, if any), appends it to out, frees c. */
void imap_binconv_finish(struct imap_binconv *c, struct buf *out);

#endif
