/* smtp_header.h: the author fields (From, Sender) of a received message, read with
 * libetpan's RFC 5322 parser (mailimf_fields_parse), for the sender identity check at
 * the end of DATA (auth/identity.h, through policy_check_header).
 *
 * Interim: the delivery pipeline (issue 11) parses each message once and will hand the
 * same address lists to identity_check_header; this reader then goes away. */
#ifndef MSS_SMTP_HEADER_H
#define MSS_SMTP_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/identity.h"

#define SMTP_HEADER_AUTHORS_MAX 32 /* addresses per kind; more makes the header unreadable */

struct smtp_header_authors {
	char *from[SMTP_HEADER_AUTHORS_MAX]; /* lowercase addr-specs, malloc'ed */
	char *sender[SMTP_HEADER_AUTHORS_MAX];
	char *from_names[SMTP_HEADER_AUTHORS_MAX]; /* display names decoded to UTF-8, malloc'ed */
	char *sender_names[SMTP_HEADER_AUTHORS_MAX];
	struct identity_header ids; /* points into the arrays above */
};

/* Reads the header block of data (len octets, CRLF lines). Every From and Sender
 * field counts, not only the first. ids.unreadable is set when a From or Sender field
 * does not parse as addresses (libetpan then keeps it as an unknown field), when one
 * follows a line the parser stopped at, or past SMTP_HEADER_AUTHORS_MAX addresses:
 * what we cannot read, a mail client may still show. Display names are decoded
 * (RFC 2047 encoded words) for the identity check. Free with smtp_header_free. */
void smtp_header_authors(const char *data, size_t len, struct smtp_header_authors *out);
void smtp_header_free(struct smtp_header_authors *a);

#endif
