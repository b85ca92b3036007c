/* fuzz-libs: imap lib */
/* libFuzzer target: the section grammar (imap/imap_section.c): the input up to its first
 * '<' is a section spec ("1.2.HEADER.FIELDS.NOT (A B)"), the rest a partial; both parsed
 * as BODY and as BINARY sections, then resolved against a small message. Checks: no
 * crash, no read outside the input, part numbers nonzero, ranges inside the message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_mime.h"
#include "imap/imap_section.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char message[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n"
                              "Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\ntwo\r\n--b--\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size ? size : 1);
	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	const char *lt = memchr(in, '<', size);
	size_t speclen = lt ? (size_t)(lt - in) : size;
	struct imap_part *root = imap_mime_parse_all(message, sizeof(message) - 1);
	for (int binary = 0; binary < 2; binary++) {
		struct imap_section sec;
		if (imap_section_parse(in, speclen, binary, &sec) == 0) {
			for (size_t i = 0; i < sec.depth; i++)
				if (sec.part[i] == 0)
					__builtin_trap();
			if (lt != NULL)
				(void)imap_partial_parse(lt, size - speclen, &sec);
			uint64_t off, len;
			if (imap_section_range(root, sizeof(message) - 1, &sec, &off, &len) == 1 &&
			    off + len > sizeof(message) - 1)
				__builtin_trap();
		}
		imap_section_free(&sec);
	}
	imap_parts_free(root);
	free(in);
	return 0;
}
