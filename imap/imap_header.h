/* imap_header.h: the fields of a header block (RFC 5322 2.2), as read for ENVELOPE,
 * BODYSTRUCTURE, SEARCH HEADER, SORT and THREAD.
 *
 * A field starts at a line that does not begin with white space and runs over the
 * continuation lines after it. The name is what precedes the first ':' (white space
 * before the colon dropped); a line without ':' is a field with that line as its name
 * and no value, as Dovecot reads broken headers. Reading stops at the first empty
 * line or at the end of the block.
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_HEADER_H
#define MSS_IMAP_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

struct imap_header_field {
	const char *name; /* points into the block, name_len octets */
	size_t name_len;
	const char *value; /* after the ':' and the white space after it, line ends included */
	size_t value_len;
	const char *raw; /* the whole field, line end included */
	size_t raw_len;
};

struct imap_header_iter {
	const char *p, *end;
};

void imap_header_iter_init(struct imap_header_iter *it, const char *block, size_t len);
/* Returns 1 with the next field in f, 0 at the end of the header. */
int imap_header_next(struct imap_header_iter *it, struct imap_header_field *f);
/* true when the field is called name (case-insensitive). */
bool imap_header_is(const struct imap_header_field *f, const char *name);
/* Appends the value with its line ends removed (the white space that followed them
 * kept) and its trailing white space dropped: the unfolded value (RFC 5322 2.2.3). */
void imap_header_unfold(const char *value, size_t len, struct buf *out);
/* The unfolded value of the first field called name, malloc'ed; NULL when absent. */
char *imap_header_get(const char *block, size_t len, const char *name);

#endif
