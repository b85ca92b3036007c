/* vault_mime.h: building the messages the vault writes (document messages,
 * notifications, integration error reports). Private to vault/.
 *
 * Everything produced is RFC 5322/2045 clean: CRLF lines, header values that are not
 * plain ASCII as RFC 2047 encoded words, file names as RFC 2231 parameters when
 * needed, attachments in base64 with 76-character lines, so the original file comes
 * back byte for byte. */
#ifndef MSS_VAULT_MIME_H
#define MSS_VAULT_MIME_H

#include <stddef.h>

#include "lib/buf.h"

/* "Name: value\r\n", value encoded (RFC 2047, UTF-8, B) when not printable ASCII and
 * folded so that no line passes 78 characters. CR/LF in value are dropped. Returns 0/-1. */
int mime_header(struct buf *b, const char *name, const char *value);
/* "Date: <now, RFC 5322>\r\n". */
int mime_date_header(struct buf *b);
/* A fresh random boundary / message id local part (hex, 32 chars + NUL). */
void mime_random_token(char out[33]);
/* Starts an attachment part: "--boundary", Content-Type with name, Content-Disposition
 * with filename, base64 body. mime and filename must be set (filename may be ""). */
int mime_attachment(struct buf *b, const char *boundary, const char *mime, const char *filename,
                    const void *data, size_t len);
/* A text/plain; charset=utf-8 part in quoted-printable (keeps lines short whatever the
 * text), preceded by "--boundary". */
int mime_text_part(struct buf *b, const char *boundary, const char *text);
/* base64 of data in 76-character CRLF lines. */
int mime_base64(struct buf *b, const void *data, size_t len);

#endif
