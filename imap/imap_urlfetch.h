/* imap_urlfetch.h: the arguments of URLFETCH (RFC 4467 7, RFC 5524 3).
 *
 *   urlfetch = "URLFETCH" 1*(SP (url / "(" url *(SP urlfetch-param) ")"))
 *   urlfetch-param = "BODY" / "BINARY" / "BODYPARTSTRUCTURE"
 * A plain url asks for its octets (the RFC 4467 answer); a list asks for the extended
 * answer (RFC 5524): the named items, BODY when none is named. BODY and BINARY
 * together are refused (RFC 5524 3: one or the other), as an unknown parameter is.
 * A pure parser (fuzzed): arguments in, requests out. */
#ifndef MSS_IMAP_URLFETCH_H
#define MSS_IMAP_URLFETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/imap_parser.h"

#define IMAP_URLFETCH_BODY 0x01u              /* the octets as stored */
#define IMAP_URLFETCH_BINARY 0x02u            /* the octets decoded (RFC 5524 BINARY) */
#define IMAP_URLFETCH_BODYPARTSTRUCTURE 0x04u /* the section's BODYSTRUCTURE */
#define IMAP_URLFETCH_EXTENDED 0x08u          /* asked as a list: "(url ...)" in the answer */

struct imap_urlfetch_url {
	const char *url; /* points into the arguments (NUL-terminated) */
	unsigned want;   /* IMAP_URLFETCH_* */
};

/* Parses nargs arguments into out (room for nargs). Returns 0; -1 with *err a static
 * message (BAD). */
int imap_urlfetch_parse(const struct imap_arg *args, size_t nargs, struct imap_urlfetch_url *out,
                        const char **err);

#endif
