/* fuzz-libs: msg lib */
/* fuzz_msg.c: the parsed form of a message (msg/) on hostile bytes: one libetpan pass,
 * the header fields, the flat MIME tree, every leaf decoded, the From fields' text.
 *
 * Invariants: never crashes; every part's range lies inside the message and inside its
 * parent's; children follow their parent; the header size never exceeds the input; a
 * decoded part is never longer than twice its encoded body (quoted-printable turns a
 * bare LF into CRLF: libetpan writes canonical line ends). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "msg/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_part(const struct msg *m, size_t i)
{
	const struct msg_part *p = &m->parts[i];
	if (p->start > p->end || p->end > m->len || p->body < p->start || p->body + p->body_len > m->len)
		abort();
	if (i == 0)
		return;
	if (p->parent < 0 || (size_t)p->parent >= i || p->depth != m->parts[p->parent].depth + 1)
		abort();
	if (p->kind == MSG_PART_LEAF) {
		struct buf b;
		buf_init(&b, BUF_UNLIMITED);
		if (msg_part_decode(m, i, &b) == 0 && b.len > 2 * p->body_len + 4)
			abort();
		buf_free(&b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg m;
	struct msg_limits lim = {.max_parts = 64, .max_depth = 8};
	char err[160];
	if (msg_parse((const char *)data, size, &lim, &m, err, sizeof err) != 0)
		return 0;
	if (m.h.size > size || m.nparts == 0 || m.nparts > lim.max_parts)
		abort();
	for (size_t i = 0; i < m.nparts; i++)
		check_part(&m, i);
	(void)msg_part_forwarded(&m, m.nparts - 1);
	/* what the identity check reads of the authors: never longer than twice the header */
	char *t = msg_field_text(m.data, m.h.size, "From");
	if (strlen(t) > 2 * m.h.size)
		abort();
	free(t);
	msg_free(&m);
	return 0;
}
