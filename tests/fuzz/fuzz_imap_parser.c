/* fuzz-libs: imap lib */
/* libFuzzer target: the incremental IMAP command parser (imap/imap_parser.c), the
 * sequence-set parser and the modified UTF-7 decoder, on arbitrary bytes. The input is
 * one command as on the wire (lines, "{N}" CRLF and N literal octets); it is also fed
 * line by line in pieces, as the session does, and both ways must agree. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imap/imap_mutf7.h"
#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
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
			imap_seqset_normalise(&set, 100);
			(void)imap_seqset_has(&set, 50);
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
	struct imap_parser *parser;
	struct imap_command *c;
	char err[128];
	if (imap_parse_command(p, size, &parser, &c, err, sizeof(err)) == 0) {
		walk(c->args, c->nargs);
		if (c->tag[0] == '\0' || c->name[0] == '\0')
			__builtin_trap();
	}
	imap_parser_free(parser);
	return 0;
}
