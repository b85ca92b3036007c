/* html.h: the one HTML escaping helper (mss-webd's pages and the vault's CDA rendering).
 *
 * Escapes the five characters that can end a text node or a quoted attribute value
 * (HTML Living Standard 13.1.2.6, OWASP XSS rule 1): & < > " and ' (as &#39;, which
 * every HTML version reads, unlike &apos; in HTML 4). Everything else is copied, so UTF-8
 * stays UTF-8; NUL bytes are dropped. */
#ifndef MSS_HTML_H
#define MSS_HTML_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/str.h"

/* Appends the first n bytes of s to b, escaped. Returns 0, or -1 when b's limit would be
 * passed: b then holds exactly what it held before (nothing of s is appended), so a
 * caller that caps its output (the CDA rendering) stops on a whole character. */
MSS_MUST_CHECK int html_escape(struct buf *b, const char *s, size_t n);
/* The same for a C string; NULL appends nothing. */
MSS_MUST_CHECK int html_escape_str(struct buf *b, const char *s);

#endif
