/* imap_msgsearch.h: SEARCH HEADER / FROM / TO / CC / BCC / SUBJECT / BODY / TEXT on a
 * message's octets (RFC 9051 6.4.4), as Dovecot matches them.
 *
 * - Matching is a case-insensitive substring on the decoded text; an empty needle
 *   matches any message that has the field.
 * - Header values are unfolded and their encoded words (RFC 2047) decoded to UTF-8;
 *   address fields are matched on their normalised form ("Real Name <user@domain>",
 *   comments and obsolete syntax resolved: imap_address.h).
 * - BODY looks in the text parts (text/ and parts without Content-Type), decoded from
 *   their transfer encoding and converted to UTF-8 from their charset (libetpan);
 *   TEXT in the header and the body, embedded messages' headers included.
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_MSGSEARCH_H
#define MSS_IMAP_MSGSEARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/imap_mime.h"

/* field: a header field name, or NULL / "" for any field. */
bool imap_msgsearch_header(const char *header, size_t len, const char *field, const char *needle);
/* The text parts of the message msg[0..len) whose structure is root. */
bool imap_msgsearch_body(const char *msg, size_t len, const struct imap_part *root, const char *needle);
/* TEXT: the message's header, or its body. */
bool imap_msgsearch_text(const char *msg, size_t len, const struct imap_part *root, const char *needle);

/* Decodes RFC 2047 encoded words of a header value into UTF-8 (appended to out); the
 * value as it is when it holds none or is broken. Used by SORT too. */
void imap_decode_words(const char *value, size_t len, struct buf *out);

#endif
