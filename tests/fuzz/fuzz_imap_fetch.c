/* fuzz-libs: imap lib */
/* libFuzzer target: FETCH data items and modifiers (imap/imap_fetch_items.c) and, through
 * them, the section and partial grammar. The input is FETCH's arguments after the
 * sequence set ("(FLAGS BODY.PEEK[1.HEADER.FIELDS (From)]<0.10>) (CHANGEDSINCE 4)"),
 * parsed as FETCH and as UID FETCH. Checks: no crash or leak; a parsed request has
 * items, and UID FETCH always answers UID. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_fetch_items.h"
#include "imap/imap_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cmd = malloc(size + 10);
	if (cmd == NULL)
		return 0;
	memcpy(cmd, "a FETCH 1 ", 10);
	memcpy(cmd + 10, data, size);
	struct imap_parser *p;
	struct imap_command *c;
	char err[128];
	if (imap_parse_command(cmd, size + 10, &p, &c, err, sizeof(err)) == 0 && c->nargs >= 2) {
		for (int uid = 0; uid < 2; uid++) {
			struct imap_fetch_request r;
			const char *e;
			if (imap_fetch_parse(&c->args[1], c->nargs > 2 ? &c->args[2] : NULL, uid, &r, &e) ==
			    0) {
				bool has_uid = false;
				for (size_t i = 0; i < r.n; i++)
					has_uid |= r.items[i].kind == IMAP_FETCH_UID;
				if (r.n == 0 || (uid && !has_uid))
					__builtin_trap();
			}
			imap_fetch_request_free(&r);
		}
	}
	imap_parser_free(p);
	free(cmd);
	return 0;
}
