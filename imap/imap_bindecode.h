/* imap_bindecode.h: a section of a message with every leaf part decoded, for URLFETCH
 * BINARY (RFC 5524 3) of a message or multipart section, and the part tree for its
 * BODYPARTSTRUCTURE, in one streamed pass.
 *
 * The message is fed whole, in pieces; only the octets of the section's range
 * [from, to) of the original reach out. In them each leaf whose body is base64 or
 * quoted-printable comes out decoded, its Content-Transfer-Encoding field (with its
 * continuation lines) rewritten "Content-Transfer-Encoding: binary", as Dovecot
 * answers; 7bit, 8bit, binary and unknown encodings, headers of multiparts and
 * messages, preambles, boundaries and epilogues pass as they are. A leaf's range
 * gives its decoded body, as FETCH BINARY[part] does.
 *
 * Memory: one part's header (IMAP_MIME_HEADER_MAX; a longer one passes unconverted)
 * and the parser's state, beside out. out is a BUF_UNLIMITED buffer. */
#ifndef MSS_IMAP_BINDECODE_H
#define MSS_IMAP_BINDECODE_H

#include <stddef.h>
#include <stdint.h>

#include "imap/imap_mime.h"
#include "lib/buf.h"

struct imap_bindecode;

/* A converter writing the converted octets of [from, to) to out. */
struct imap_bindecode *imap_bindecode_new(uint64_t from, uint64_t to, struct buf *out);
/* Feeds n more octets of the message. */
void imap_bindecode_feed(struct imap_bindecode *b, const char *p, size_t n);
/* Ends the message, frees b and returns the message's part tree (header copies
 * attached, for imap_bodystructure_write), which the caller frees (imap_parts_free).
 * sizes: each base64 or quoted-printable leaf's size and line count are those of its
 * decoded body, and each enclosing part's shrink by as much (its header as it was):
 * the BODYPARTSTRUCTURE RFC 5524 3 gives beside BINARY, as Dovecot does. */
struct imap_part *imap_bindecode_finish(struct imap_bindecode *b, bool sizes);

#endif
