/* fuzz-libs: store lib */
/* fuzz_mime.c: libFuzzer target for the ENVELOPE/BODYSTRUCTURE builder (libetpan
 * parse + IMAP string generation), the FETCH section parser, and section extraction
 * from libetpan's MIME tree offsets.
 *
 * Invariants checked: never crashes or reads outside the input (ASan), always returns
 * a parenthesised ENVELOPE, BODY and BODYSTRUCTURE, the header size never exceeds the
 * input, and no section is longer than the message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "store/store.h"
#include "store/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_section_parse(const uint8_t *data, size_t size)
{
	size_t n = size < 256 ? size : 256;
	char *spec = malloc(n + 1);
	if (spec == NULL)
		return;
	memcpy(spec, data, n);
	spec[n] = '\0';
	struct store_section sec;
	char *storage = NULL;
	if (store_section_parse(spec, &sec, &storage) == 0) {
		if (sec.depth > STORE_PART_DEPTH_MAX)
			abort();
		for (size_t i = 0; i < sec.nfields; i++) {
			if (sec.fields[i] == NULL || sec.fields[i][0] == '\0')
				abort();
		}
	}
	free(storage);
	free(spec);
}

/* Every section kind of a few part paths derived from the input's first bytes. */
static void fuzz_extract(const char *msg, size_t size)
{
	static const char *const names[] = {"From", "subject"};
	struct mailmime *mime = NULL;
	size_t idx = 0;
	if (mailmime_parse(msg, size, &idx, &mime) != MAILIMF_NO_ERROR)
		mime = NULL;
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	for (size_t depth = 0; depth < 4; depth++) {
		for (int kind = STORE_SECTION_ALL; kind <= STORE_SECTION_MIME; kind++) {
			struct store_section sec = {.depth = depth,
			                            .kind = (enum store_section_kind)kind,
			                            .fields = names,
			                            .nfields = 2,
			                            .length = UINT64_MAX};
			for (size_t i = 0; i < depth; i++)
				sec.part[i] = 1 + (size > i ? (unsigned char)msg[i] % 4 : 0);
			buf_reset(&out);
			store_section_extract(msg, size, mime, &sec, &out);
			/* HEADER.FIELDS adds one CRLF of its own. */
			if (out.len > size + 2)
				abort();
		}
	}
	buf_free(&out);
	if (mime != NULL)
		mailmime_free(mime);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_mime_info mi;
	/* A copy of exactly size bytes, so ASan sees any read past the end. */
	char *msg = malloc(size > 0 ? size : 1);
	if (msg == NULL)
		return 0;
	if (size > 0)
		memcpy(msg, data, size);
	if (store_mime_build(msg, size, &mi) != 0) {
		free(msg);
		return 0;
	}
	if (mi.envelope == NULL || mi.envelope[0] != '(' || mi.bodystructure == NULL ||
	    mi.bodystructure[0] != '(' || mi.body == NULL || mi.body[0] != '(' || mi.header_size > size)
		abort();
	store_mime_info_free(&mi);
	fuzz_extract(msg, size);
	fuzz_section_parse(data, size);
	free(msg);
	return 0;
}
