/* imap_decode.h: Content-Transfer-Encoding decoding, streamed, for FETCH BINARY
 * (RFC 3516, RFC 9051 6.4.5) and for the decoded sizes BINARY.SIZE reports.
 *
 * Fed any number of chunks of a part's body, a decoder appends the decoded octets to
 * a buffer; nothing of the input is kept but a few bytes of state, so a part of any
 * size decodes in constant memory. Decoding follows RFC 2045 as Dovecot applies it,
 * so that clients see the same octets from both servers: quoted-printable drops the
 * white space at the end of a line and turns line ends into CRLF; base64 skips
 * characters outside its alphabet and stops at the padding.
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_DECODE_H
#define MSS_IMAP_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum imap_cte {
	IMAP_CTE_7BIT = 0, /* also 8bit and binary: the octets as they are */
	IMAP_CTE_QP,
	IMAP_CTE_BASE64,
	IMAP_CTE_UNKNOWN, /* an encoding BINARY cannot undo: NO [UNKNOWN-CTE] */
};

/* The encoding named by a Content-Transfer-Encoding value (case-insensitive, NULL or
 * "" = 7bit). */
enum imap_cte imap_cte_parse(const char *name);

struct imap_decoder {
	enum imap_cte cte;
	int state;
	char hex;
	unsigned nws; /* QP: white space held until we know it is not trailing */
	char ws[80];
	uint32_t acc; /* base64: bits gathered */
	unsigned nbits;
	int done; /* base64: padding seen */
};

void imap_decoder_init(struct imap_decoder *d, enum imap_cte cte);
/* Decodes n more octets, appending the result to out. */
void imap_decoder_feed(struct imap_decoder *d, const char *src, size_t n, struct buf *out);
/* Ends the input: anything held back (a '=' that started nothing) is appended. */
void imap_decoder_finish(struct imap_decoder *d, struct buf *out);

#endif
