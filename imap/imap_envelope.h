/* imap_envelope.h: the ENVELOPE of a message (RFC 9051 7.5.2) from its header block:
 * date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id.
 *
 * As Dovecot builds it: the last Date, Subject, In-Reply-To and Message-ID field is
 * used; address fields given several times are one list; an absent or empty Sender or
 * Reply-To is the From list; subjects and display names are written "for humans"
 * (white space runs collapsed). Encoded words stay encoded (RFC 2047 is the client's
 * business in ENVELOPE).
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_ENVELOPE_H
#define MSS_IMAP_ENVELOPE_H

#include <stddef.h>

#include "lib/buf.h"

/* Appends "(date subject from ... message-id)" for the header block h[0..len). */
void imap_envelope_write(struct buf *out, const char *h, size_t len);
/* The same for a client that did not enable UTF-8 (RFC 6855 7, RFC 6858 3): no octet
 * past ASCII; UTF-8 text (subject, names, and any other field) as RFC 2047 encoded
 * words, an address with UTF-8 in its local part or domain as an empty group named
 * after it (imap_address.h). */
void imap_envelope_write_ascii(struct buf *out, const char *h, size_t len);

#endif
