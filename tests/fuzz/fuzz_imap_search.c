/* fuzz-libs: imap lib */
/* libFuzzer target: the SEARCH, SORT and THREAD grammar (imap/imap_search.c). The
 * input is the arguments of a command as on the wire ("RETURN (MIN) OR FROM a NOT 1:*");
 * it is parsed as SEARCH, as SORT and as THREAD. Checks: no crash, no leak, no read
 * outside the input; a parsed tree has an AND root and bounded depth. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parser.h"
#include "imap/imap_search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t depth(const struct imap_snode *n)
{
	size_t d = 0;
	for (size_t i = 0; i < n->nkids; i++) {
		size_t k = depth(n->kids[i]);
		if (k > d)
			d = k;
	}
	return d + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cmd = malloc(size + 7);
	if (cmd == NULL)
		return 0;
	memcpy(cmd, "a SRCH ", 7);
	memcpy(cmd + 7, data, size);
	struct imap_parser *p;
	struct imap_command *c;
	char err[128];
	if (imap_parse_command(cmd, size + 7, &p, &c, err, sizeof(err)) == 0) {
		struct imap_search_query q;
		const char *e;
		if (imap_search_parse(c->args, c->nargs, &q, &e) == 0 &&
		    (q.root->key != IMAP_SK_AND || depth(q.root) > IMAP_SEARCH_DEPTH_MAX + 2))
			__builtin_trap();
		imap_search_free(&q);
		struct imap_sort_criteria sc;
		(void)imap_sort_parse(c->args, c->nargs, &sc, &q, &e);
		imap_search_free(&q);
		bool refs;
		(void)imap_thread_parse(c->args, c->nargs, &refs, &q, &e);
		imap_search_free(&q);
	}
	imap_parser_free(p);
	free(cmd);
	return 0;
}
