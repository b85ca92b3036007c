/* fuzz-libs: imap lib */
/* libFuzzer target: URLFETCH's arguments (imap/imap_urlfetch.c) and the section decoder
 * of URLFETCH BINARY (imap/imap_bindecode.c). The input is URLFETCH's arguments
 * ("(\"imap://...\" BINARY BODYPARTSTRUCTURE) url"), then, as a message, fed to the
 * decoder in pieces with a range taken from its first octets. Checks: no crash or
 * leak; a parsed request names a URL and BODY or BINARY never both; the decoder's output
 * holds nothing when the range is empty. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_bindecode.h"
#include "imap/imap_bodystructure.h"
#include "imap/imap_parser.h"
#include "imap/imap_urlfetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void args(const uint8_t *data, size_t size)
{
	char *cmd = malloc(size + 11);
	if (cmd == NULL)
		return;
	memcpy(cmd, "a URLFETCH ", 11);
	memcpy(cmd + 11, data, size);
	struct imap_parser *p;
	struct imap_command *c;
	char err[128];
	if (imap_parse_command(cmd, size + 11, &p, &c, err, sizeof(err)) == 0) {
		struct imap_urlfetch_url *u = calloc(c->nargs + 1, sizeof(*u));
		const char *e = NULL;
		if (u != NULL && imap_urlfetch_parse(c->args, c->nargs, u, &e) == 0)
			for (size_t i = 0; i < c->nargs; i++)
				if (u[i].url == NULL ||
				    (u[i].want & (IMAP_URLFETCH_BODY | IMAP_URLFETCH_BINARY)) ==
				        (IMAP_URLFETCH_BODY | IMAP_URLFETCH_BINARY))
					__builtin_trap();
		free(u);
	}
	imap_parser_free(p);
	free(cmd);
}

static void decode(const uint8_t *data, size_t size)
{
	uint64_t from = size > 0 ? data[0] * (size / 256 + 1) : 0, to = size > 1 ? from + data[1] * 4u : 0;
	size_t step = size > 2 ? (size_t)data[2] % 64 + 1 : 1;
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	struct imap_bindecode *b = imap_bindecode_new(from, to, &out);
	for (size_t i = 0; i < size; i += step)
		imap_bindecode_feed(b, (const char *)data + i, i + step < size ? step : size - i);
	struct imap_part *root = imap_bindecode_finish(b, size > 3 && (data[3] & 1));
	if (to <= from && out.len != 0)
		__builtin_trap();
	struct buf bs;
	buf_init(&bs, BUF_UNLIMITED);
	imap_bodystructure_write(&bs, root, true);
	buf_free(&bs);
	imap_parts_free(root);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	args(data, size);
	decode(data, size);
	return 0;
}
