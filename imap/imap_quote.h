/* imap_quote.h: IMAP strings on the wire (RFC 9051 4.3, 9: quoted, literal, NIL).
 *
 * The one place that decides how a string is written, for everything the server
 * sends: ENVELOPE and BODYSTRUCTURE fields, mailbox names, search and status data.
 * A quoted string is used when it can carry the text (no CR, LF or NUL, no 8-bit byte
 * unless UTF-8 is allowed, few escapes); anything else becomes a literal, and a NUL
 * never goes into a normal literal (CHAR8 excludes it, RFC 3501 9).
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_QUOTE_H
#define MSS_IMAP_QUOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/* s as a quoted string or a literal; NULL as NIL. 8-bit text goes as a literal, so the
 * result is valid for every client (stored ENVELOPE and BODYSTRUCTURE depend on it). */
void imap_quote_nstring(struct buf *out, const char *s);
/* The same for n bytes that may hold anything: a NUL becomes 0x80 (as Dovecot does,
 * a literal cannot carry NUL). */
void imap_quote_nstring_n(struct buf *out, const char *s, size_t n);
/* As imap_quote_nstring, CR and LF dropped first (header values: unfolded). */
void imap_quote_nstring_nolf(struct buf *out, const char *s);
/* Text meant for people (subjects, display names): runs of white space, CR, LF and
 * TAB become one space, leading and trailing space go, NUL becomes 0x80. */
void imap_quote_for_humans(struct buf *out, const char *s, size_t n);
/* s[0..n) as RFC 2047 encoded words ("=?utf-8?b?...?=", whole characters, each word at
 * most 75 octets, separated by a space) in one quoted string: the downgraded form of
 * UTF-8 text for a client that did not enable UTF-8 (RFC 6858 3). */
void imap_quote_encoded_words(struct buf *out, const char *s, size_t n);
/* utf8: the client accepts UTF-8 in quoted strings (UTF8=ACCEPT, IMAP4rev2); then
 * 8-bit text that is valid UTF-8 is quoted instead of sent as a literal. */
void imap_quote_string(struct buf *out, const char *s, size_t n, bool utf8);
/* An astring: the bare atom when every byte is an ASTRING-CHAR (and it is not "NIL"),
 * else as imap_quote_string. */
void imap_quote_astring(struct buf *out, const char *s, bool utf8);

#endif
