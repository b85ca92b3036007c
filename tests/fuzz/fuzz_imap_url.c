/* fuzz-libs: imap lib */
/* libFuzzer target: IMAP URLs (imap/imap_url.c, CATENATE's URL parts). Checks: no
 * crash, no read outside the input; an accepted URL has a mailbox and a nonzero UID,
 * and its decoded fields hold no control octet. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imap/imap_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_controls(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_url u;
	if (imap_url_parse((const char *)data, size, &u) == 0) {
		if (u.uid == 0 || u.mailbox[0] == '\0')
			__builtin_trap();
		no_controls(u.mailbox);
		no_controls(u.section);
	}
	return 0;
}
