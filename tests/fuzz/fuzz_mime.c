/* fuzz-libs: imap lib */
/* fuzz_mime.c: libFuzzer target for the message structure (imap/imap_mime.c, fed in
 * pieces as a message arrives), ENVELOPE and BODYSTRUCTURE, section ranges, the stored
 * part tree, transfer decoding, and the literal8 converter.
 *
 * Invariants checked: never crashes or reads outside the input (ASan); the sizes of
 * the root part add up to the input; every part lies inside the message; a section's
 * range lies inside the message; the stored tree reads back identical; feeding the
 * input whole or in pieces gives the same tree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_binconv.h"
#include "imap/imap_bodystructure.h"
#include "imap/imap_decode.h"
#include "imap/imap_envelope.h"
#include "imap/imap_mime.h"
#include "imap/imap_section.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_part(const struct imap_part *p, size_t size)
{
	if (p->pos + p->header_size + p->body_size > size)
		__builtin_trap();
	uint64_t inside = 0;
	for (const struct imap_part *c = p->children; c != NULL; c = c->next) {
		if (c->pos < p->pos + p->header_size)
			__builtin_trap();
		inside += c->header_size + c->body_size;
		check_part(c, size);
	}
	if (inside > p->body_size)
		__builtin_trap();
}

static void check_sections(const struct imap_part *root, const char *msg, size_t size)
{
	static const char *const specs[] = {"",
	                                    "HEADER",
	                                    "TEXT",
	                                    "1",
	                                    "1.MIME",
	                                    "2.HEADER",
	                                    "1.2.TEXT",
	                                    "2.1",
	                                    "1.1.1",
	                                    "HEADER.FIELDS (From Subject)",
	                                    "2.HEADER.FIELDS.NOT (To)"};
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct imap_section sec;
		uint64_t off, len;
		if (imap_section_parse(specs[i], strlen(specs[i]), false, &sec) < 0)
			__builtin_trap();
		if (imap_section_range(root, size, &sec, &off, &len) == 1) {
			if (off > size || len > size - off)
				__builtin_trap();
			buf_reset(&out);
			if (sec.kind == IMAP_SECTION_HEADER_FIELDS ||
			    sec.kind == IMAP_SECTION_HEADER_FIELDS_NOT)
				imap_header_fields_filter(msg + off, (size_t)len, &sec, &out);
		}
		imap_section_free(&sec);
	}
	buf_free(&out);
}

static void check_serialized(const struct imap_part *root)
{
	struct buf a, b;
	buf_init(&a, BUF_UNLIMITED);
	buf_init(&b, BUF_UNLIMITED);
	imap_parts_serialize(root, &a);
	struct imap_part *back = imap_parts_deserialize(a.data, a.len);
	if (back == NULL)
		__builtin_trap();
	imap_parts_serialize(back, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		__builtin_trap();
	imap_parts_free(back);
	buf_free(&a);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so ASan sees any read past the end. */
	char *msg = malloc(size > 0 ? size : 1);
	if (msg == NULL)
		return 0;
	if (size > 0)
		memcpy(msg, data, size);
	struct imap_part *root = imap_mime_parse_all(msg, size);
	if (root->header_size + root->body_size != size)
		__builtin_trap();
	check_part(root, size);
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	imap_envelope_write(&out, root->header, root->header_len);
	/* the downgraded form (RFC 6858 3) never holds an octet past ASCII */
	struct buf ascii;
	buf_init(&ascii, BUF_UNLIMITED);
	imap_envelope_write_ascii(&ascii, root->header, root->header_len);
	for (size_t i = 0; i < ascii.len; i++)
		if ((unsigned char)ascii.data[i] >= 0x80)
			__builtin_trap();
	buf_free(&ascii);
	imap_bodystructure_write(&out, root, true);
	imap_bodystructure_write(&out, root, false);
	check_sections(root, msg, size);
	check_serialized(root);
	/* in pieces of 7 octets: the same tree */
	struct imap_mime_parser *p = imap_mime_parser_new(NULL, NULL);
	for (size_t i = 0; i < size; i += 7)
		imap_mime_parse(p, msg + i, size - i < 7 ? size - i : 7);
	struct imap_part *again = imap_mime_parser_finish(p);
	struct buf a, b;
	buf_init(&a, BUF_UNLIMITED);
	buf_init(&b, BUF_UNLIMITED);
	imap_parts_serialize(root, &a);
	imap_parts_serialize(again, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		__builtin_trap();
	/* the literal8 converter (in pieces) gives a message that parses again */
	struct imap_binconv *conv = imap_binconv_new();
	buf_reset(&out);
	for (size_t i = 0; i < size; i += 5)
		imap_binconv_feed(conv, msg + i, size - i < 5 ? size - i : 5, &out);
	imap_binconv_finish(conv, &out);
	imap_parts_free(imap_mime_parse_all(out.data, out.len));
	/* every decoder on the raw input */
	for (int cte = IMAP_CTE_7BIT; cte <= IMAP_CTE_BASE64; cte++) {
		struct imap_decoder d;
		buf_reset(&out);
		imap_decoder_init(&d, (enum imap_cte)cte);
		imap_decoder_feed(&d, msg, size, &out);
		imap_decoder_finish(&d, &out);
	}
	imap_parts_free(again);
	imap_parts_free(root);
	buf_free(&a);
	buf_free(&b);
	buf_free(&out);
	free(msg);
	return 0;
}
