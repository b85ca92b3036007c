/* msg_int.h: what msg/'s files share (not for other parts). */
#ifndef MSS_MSG_INT_H
#define MSS_MSG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "msg/msg.h"

struct mailimf_fields;

/* Decodes RFC 2047 encoded words to UTF-8 into out (text that does not decode is kept
 * as it came, control characters replaced by spaces). */
void msg_decode_words(const char *in, char *out, size_t outlen);
/* Fills h from libetpan's parsed top-level fields (NULL: nothing). */
void msg_header_read(const struct mailimf_fields *f, struct msg_header *h);
/* Sets h->authors_unreadable (msg.h), h read from data's header. */
void msg_header_check_authors(const char *data, struct msg_header *h);

#endif
