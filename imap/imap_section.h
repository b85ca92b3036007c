/* imap_section.h: the section grammar of FETCH BODY[...] and BINARY[...] (RFC 9051 9:
 * section, section-spec, section-part, section-binary, partial) and where a section
 * lies in a message, given its part tree.
 *
 *   section-spec = section-msgtext / (section-part ["." section-text])
 *   section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
 *   section-text = section-msgtext / "MIME"
 *   partial = "<" number "." nz-number ">"
 * A pure parser (fuzzed): never reads outside its input, refuses anything else.
 *
 * out, where a function takes one, is a BUF_UNLIMITED buffer (appended with buf_put_*). */
#ifndef MSS_IMAP_SECTION_H
#define MSS_IMAP_SECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_mime.h"
#include "lib/buf.h"

#define IMAP_SECTION_DEPTH_MAX 32 /* part numbers in one section */
#define IMAP_SECTION_FIELDS_MAX 256

enum imap_section_kind {
	IMAP_SECTION_ALL,               /* [] (the message) or [1.2] (a part's body) */
	IMAP_SECTION_HEADER,            /* [HEADER], [1.2.HEADER] (of a message/rfc822 part) */
	IMAP_SECTION_HEADER_FIELDS,     /* [HEADER.FIELDS (a b)] */
	IMAP_SECTION_HEADER_FIELDS_NOT, /* [HEADER.FIELDS.NOT (a b)] */
	IMAP_SECTION_TEXT,              /* [TEXT], [1.2.TEXT] */
	IMAP_SECTION_MIME,              /* [1.2.MIME]: a part's own header */
};

struct imap_section {
	uint32_t part[IMAP_SECTION_DEPTH_MAX]; /* each >= 1 ("1.2" = {1, 2}) */
	size_t depth;                          /* 0: the message itself */
	enum imap_section_kind kind;
	char *fields[IMAP_SECTION_FIELDS_MAX]; /* HEADER.FIELDS names, malloc'ed */
	size_t nfields;
	bool partial;
	uint64_t offset, length; /* <offset.length> when partial */
};

/* Parses the text between '[' and ']' (len octets, may hold spaces and parentheses),
 * binary: BINARY[...] (a part number or nothing). Returns 0, or -1 on a syntax error.
 * sec is released with imap_section_free, also after a failure. */
int imap_section_parse(const char *spec, size_t len, bool binary, struct imap_section *sec);
/* Parses "<offset.length>" (the text after ']'): 0, or -1 when it is not one. */
int imap_partial_parse(const char *s, size_t len, struct imap_section *sec);
void imap_section_free(struct imap_section *sec);

/* Where the section's octets are in a message of size octets with this part tree
 * (before any partial): returns 1 with [*off, *off + *len), 0 when the section names
 * no part (the answer is then empty, as most servers give it). For HEADER.FIELDS the
 * range is the whole header block, to be filtered with imap_header_fields_filter. */
int imap_section_range(const struct imap_part *root, uint64_t size, const struct imap_section *sec,
                       uint64_t *off, uint64_t *len);
/* The fields of the header block h[0..len) named by sec (or, .NOT, not named), as they
 * are, then the empty line (RFC 9051 6.4.5). */
void imap_header_fields_filter(const char *h, size_t len, const struct imap_section *sec, struct buf *out);
/* The part a BINARY section decodes (NULL for the whole message or a missing part). */
const struct imap_part *imap_section_part(const struct imap_part *root, const struct imap_section *sec);

#endif
