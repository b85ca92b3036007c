/* imap_date.h: IMAP dates (RFC 9051 9: date-time "dd-Mon-yyyy hh:mm:ss +zzzz" and
 * date "d-Mon-yyyy"). */
#ifndef MSS_IMAP_DATE_H
#define MSS_IMAP_DATE_H

#include <stddef.h>
#include <stdint.h>

/* Parses an APPEND date-time into unix time. Returns 0 or -1. */
int imap_date_time_parse(const char *s, int64_t *out);
/* Parses a SEARCH date ("1-Feb-1994" or "01-Feb-1994") into the unix time of that
 * day's 00:00 UTC. Returns 0 or -1. */
int imap_date_parse(const char *s, int64_t *out);
/* Formats t as INTERNALDATE ("17-Jul-1996 02:44:25 +0000") into out (>= 32 bytes). */
void imap_date_time_format(int64_t t, char *out, size_t outlen);

#endif
