/* imap_mime.h: the MIME structure of a message (RFC 2045, 2046, 5322), parsed in one
 * streamed pass.
 *
 * The parser is fed the message in chunks of any size and keeps only the current
 * line and the header blocks (bounded): a message of any size is parsed in bounded
 * memory, as it arrives (APPEND, delivery) or as it is decrypted. It yields a tree of
 * parts with their byte ranges, line counts, flags and decoded sizes: what FETCH
 * needs to find a section (BODY[1.2.MIME]) and to answer BODYSTRUCTURE, BINARY.SIZE
 * and RFC822.SIZE without reading the message again. The tree is stored with the
 * message (imap_parts_serialize) so a FETCH of a section costs one lookup.
 *
 * Part boundaries follow RFC 2046 5.1.1 as Dovecot reads them, so that the octets of
 * every section are the ones Dovecot would send:
 * - a line "--" + boundary, the boundary of this or any enclosing multipart (the
 *   longest that matches), starts a part or, with "--" after it, ends the multipart;
 *   the rest of that line is ignored;
 * - the line end before a boundary line belongs to the boundary, not to the part;
 * - a part's header ends at its first empty line (or at a boundary line, or at the
 *   end of the message); the header of a part inside a multipart may be empty;
 * - without a Content-Type, a part of a multipart/digest is message/rfc822 and any
 *   other is text/plain;
 * - the body of a message/rfc822 part is a message: one child part.
 * Nesting deeper than IMAP_MIME_DEPTH_MAX, and parts beyond IMAP_MIME_PARTS_MAX, are
 * not entered: such a part is described as one opaque part.
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_MIME_H
#define MSS_IMAP_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_decode.h"
#include "lib/buf.h"

#define IMAP_MIME_DEPTH_MAX 40
#define IMAP_MIME_PARTS_MAX 5000
#define IMAP_MIME_HEADER_MAX (256 * 1024) /* of one part's header kept for analysis */

/* Part flags. */
#define IMAP_PART_MULTIPART 0x01u   /* children are the parts between its boundaries */
#define IMAP_PART_MESSAGE 0x02u     /* message/rfc822: one child, the embedded message */
#define IMAP_PART_TEXT 0x04u        /* text/ (BODYSTRUCTURE gives its line count) */
#define IMAP_PART_DIGEST 0x08u      /* multipart/digest: children default to message/rfc822 */
#define IMAP_PART_IS_MIME 0x10u     /* Content-* fields apply (MIME-Version or Content-Type seen) */
#define IMAP_PART_HAS_NUL 0x20u     /* a NUL octet in its header or body */
#define IMAP_PART_BINARY_NUL 0x40u  /* a NUL octet in its decoded body */
#define IMAP_PART_UNKNOWN_CTE 0x80u /* a transfer encoding BINARY cannot undo */

struct imap_part {
	uint64_t pos;         /* offset of the part's first header octet in the message */
	uint64_t header_size; /* header octets, the empty line included */
	uint64_t body_size;   /* body octets (children and boundaries included) */
	uint32_t header_lines, body_lines;
	uint64_t decoded_size; /* leaf parts: body octets after transfer decoding */
	enum imap_cte cte;     /* leaf parts: Content-Transfer-Encoding (IMAP_CTE_UNKNOWN: not undone) */
	unsigned flags;        /* IMAP_PART_* */
	struct imap_part *parent, *children, *next;
	size_t nchildren;
	/* Only right after parsing (NULL after imap_parts_deserialize): the header block
	 * as it was, cut at IMAP_MIME_HEADER_MAX, for ENVELOPE and BODYSTRUCTURE. */
	char *header;
	size_t header_len;
};

/* What the parser reports while it runs (optional): each octet of the input exactly
 * once, in order, with the part it belongs to. */
enum imap_mime_event {
	IMAP_MIME_HEADER,     /* one header line, continuation lines separate, line end included */
	IMAP_MIME_HEADER_END, /* the empty line that ends a header; then, always, one more with
	                       * "" (len 0), when the part's flags and, for a leaf, its cte are
	                       * known */
	IMAP_MIME_BODY,       /* body octets (boundaries, preamble, epilogue: the multipart's) */
};
typedef void (*imap_mime_cb)(void *arg, const struct imap_part *part, enum imap_mime_event ev,
                             const char *data, size_t len);

struct imap_mime_parser;

/* A new parser; cb (may be NULL) sees the input as it is parsed. */
struct imap_mime_parser *imap_mime_parser_new(imap_mime_cb cb, void *arg);
/* Feeds len more octets of the message. */
void imap_mime_parse(struct imap_mime_parser *p, const char *data, size_t len);
/* Ends the input and returns the root part (the message), which the caller owns
 * (imap_parts_free). The parser is freed. Never fails: any input has a structure. */
struct imap_part *imap_mime_parser_finish(struct imap_mime_parser *p);
/* One-shot: the structure of a message held in memory. */
struct imap_part *imap_mime_parse_all(const char *data, size_t len);
void imap_parts_free(struct imap_part *root);

/* The part that IMAP numbers part[0].part[1]... (RFC 9051 6.4.5): a multipart's
 * children count from 1; a part that is not multipart has only "1", itself; a number
 * after a message/rfc822 part goes on inside the embedded message. NULL when there is
 * no such part. */
const struct imap_part *imap_part_find(const struct imap_part *root, const uint32_t *part, size_t depth);

/* A compact form of the tree (no header copies) for storing with the message, and
 * back. Deserialize returns NULL on malformed input, never reads outside it. */
void imap_parts_serialize(const struct imap_part *root, struct buf *out);
struct imap_part *imap_parts_deserialize(const void *data, size_t len);

#endif
