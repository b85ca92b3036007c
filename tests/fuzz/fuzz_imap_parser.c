/* fuzz-libs: imapd lib */
/* libFuzzer target: the IMAP command parser (imapd/imap_parser.c), the sequence-set
 * parser and the modified UTF-7 decoder, on arbitrary bytes. The input is one
 * assembled command as the session's reader builds it (lines and literals). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imapd/imap_mutf7.h"
#include "imapd/imap_parser.h"
#include "lib/buf.h"

static void walk(const struct imap_arg *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].type == IMAP_ARG_LIST) {
			walk(a[i].list, a[i].count);
			continue;
		}
		const char *s = imap_arg_astring(&a[i]);
		if (s == NULL)
			continue;
		struct imap_seqset set;
		if (imap_seqset_parse(s, &set) == 0) {
			(void)imap_seqset_contains(&set, 7, 100);
			(void)imap_seqset_max(&set, 100);
			imap_seqset_free(&set);
		}
		struct buf b;
		buf_init(&b, 4096);
		if (mutf7_decode(s, &b) == 0) {
			struct buf back;
			buf_init(&back, BUF_UNLIMITED);
			/* whatever decodes must encode back to the same wire form */
			if (mutf7_encode(b.data, &back) != 0 || strcmp(back.data, s) != 0)
				__builtin_trap();
			buf_free(&back);
		}
		buf_free(&b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nl = memchr(p, '\n', size);
	size_t first = nl ? (size_t)(nl - p) : size;
	uint64_t lit;
	bool nonsync;
	(void)imap_line_literal(p, first, &lit, &nonsync);
	char tag[IMAP_TAG_MAX + 1], name[IMAP_NAME_MAX + 1], err[128];
	(void)imap_parse_head(p, first, tag, sizeof(tag), name, sizeof(name), err, sizeof(err));
	struct imap_command c;
	if (imap_parse_command(p, size, &c, err, sizeof(err)) == 0)
		walk(c.args, c.nargs);
	imap_command_free(&c);
	return 0;
}
