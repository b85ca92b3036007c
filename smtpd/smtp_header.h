/* smtp_header.h: the author fields (From, Sender) of a received message, as the sender
 * identity check at the end of DATA reads them (auth/identity.h, through
 * policy_check_header). They come from the one parse of the message (msg/msg.h) that
 * the delivery then uses too: the header is read once. */
#ifndef MSS_SMTP_HEADER_H
#define MSS_SMTP_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/identity.h"
#include "msg/msg.h"

#define SMTP_HEADER_AUTHORS_MAX 32 /* addresses per kind; more makes the header unreadable */

struct smtp_header_authors {
	char *from[SMTP_HEADER_AUTHORS_MAX]; /* lowercase addr-specs, malloc'ed */
	char *sender[SMTP_HEADER_AUTHORS_MAX];
	const char *from_names[SMTP_HEADER_AUTHORS_MAX]; /* display names decoded to UTF-8 (into m) */
	const char *sender_names[SMTP_HEADER_AUTHORS_MAX];
	char *from_text; /* msg_field_text's, malloc'ed */
	char *sender_text;
	struct identity_header ids; /* points into the arrays above */
};

/* The authors of the parsed message m (every From and Sender field, not only the first),
 * or, when the message could not be parsed (m NULL), none: ids.unreadable is then set
 * when the header block of data (len octets) holds a From or Sender field at all.
 * ids.unreadable is also set for m->h.authors_unreadable and past
 * SMTP_HEADER_AUTHORS_MAX addresses. out borrows m's names: keep m alive; free with
 * smtp_header_free. */
void smtp_header_authors(const struct msg *m, const char *data, size_t len, struct smtp_header_authors *out);
void smtp_header_free(struct smtp_header_authors *a);

#endif
