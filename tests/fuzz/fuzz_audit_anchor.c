/* fuzz-libs: audit store lib */
/* fuzz_audit_anchor: the anchor line an administrator gives back to `mssctl audit
 * verify --anchor` (audit_anchor_parse) on arbitrary bytes. Besides crashes, checks
 * that an anchor that parses formats back to a line that parses to the same anchor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char line[1024], out[1024], err[256];
	struct audit_anchor a, b;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		ready = 1;
	}
	if (size >= sizeof line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (audit_anchor_parse(line, &a, err, sizeof err) != 0)
		return 0;
	if (audit_anchor_format(&a, out, sizeof out) != 0 ||
	    audit_anchor_parse(out, &b, err, sizeof err) != 0 || memcmp(&a, &b, sizeof a) != 0)
		abort();
	return 0;
}
