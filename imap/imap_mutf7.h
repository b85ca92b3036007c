/* imap_mutf7.h: modified UTF-7 mailbox names (RFC 3501 5.1.3).
 *
 * Mailbox names are kept in UTF-8 inside MSS; on the wire they are modified UTF-7
 * unless the client enabled UTF8=ACCEPT. Both directions refuse what RFC 3501 forbids
 * (so two different wire names never map to one stored name). */
#ifndef MSS_IMAP_MUTF7_H
#define MSS_IMAP_MUTF7_H

#include "lib/buf.h"

/* Decodes a wire name into UTF-8, appended to out. Refuses: 8-bit bytes, "&" not
 * closed by "-", bad base64, "&-" encoding written in base64, base64 runs holding
 * printable ASCII, unpaired surrogates, non-zero padding bits, two adjacent encoded
 * runs. Returns 0 or -1 (also when out's limit would be passed: a name is never cut). */
MSS_MUST_CHECK int mutf7_decode(const char *in, struct buf *out);
/* Encodes a UTF-8 name, appended to out. Returns 0, or -1 when in is not valid UTF-8 or
 * out's limit would be passed. */
MSS_MUST_CHECK int mutf7_encode(const char *in, struct buf *out);

#endif
