/* imap_sortkey.h: what SORT and THREAD read of a message's header (RFC 5256, RFC 5957
 * SORT=DISPLAY): the base subject, the address keys, the message identifiers.
 *
 * A pure part (fuzzed): a header block in, malloc'ed keys out. Keys are compared with
 * i;ascii-casemap (RFC 5256 3: octets, ASCII letters upper-cased), so they are stored
 * upper-cased and compared with strcmp.
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_SORTKEY_H
#define MSS_IMAP_SORTKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

#define IMAP_THREAD_REFS_MAX 1000 /* message identifiers read from one References field */

/* The base subject of RFC 5256 2.1 of a Subject value (raw, encoded words allowed),
 * appended to out upper-cased. Returns true when the extraction removed a reply or
 * forward marker ("Re:", "Fwd:", a "(fwd)" trailer, a "[fwd: ...]" wrapper): the
 * message is a reply or a forward for THREAD (RFC 5256 3, step 5C). */
bool imap_base_subject(const char *value, size_t len, struct buf *out);

struct imap_sortkeys {
	char *subject;        /* base subject, upper-cased ("" when none) */
	bool reply;           /* the subject marked a reply or forward */
	char *from, *to, *cc; /* local part of the first address, upper-cased ("" when none) */
	char *dfrom, *dto;    /* RFC 5957 display: the first address's name, else its
	                         addr-spec, upper-cased ("" when none) */
	char *msgid;          /* Message-ID without its brackets, NULL when none */
	char **refs;          /* References (or else the first In-Reply-To id), in order */
	size_t nrefs;
};

/* Reads the keys from a header block. Never fails. */
void imap_sortkeys_read(const char *header, size_t len, struct imap_sortkeys *k);
void imap_sortkeys_free(struct imap_sortkeys *k);

#endif
