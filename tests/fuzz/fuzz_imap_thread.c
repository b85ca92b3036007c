/* fuzz-libs: imap lib */
/* libFuzzer target: the SORT and THREAD keys and algorithms (imap/imap_sortkey.c,
 * imap/imap_thread.c). The input is cut at each "\n\n\n" into header blocks, one per
 * message (at most 64), dated by their position; each block's keys are read (base
 * subject, addresses, Message-ID, References), then both threading algorithms run.
 * Checks: no crash, no leak, no read outside the input, and every message appears
 * exactly once in each answer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_sortkey.h"
#include "imap/imap_thread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MSGS_MAX 64

/* Each of 1..n appears once among the numbers of out (and no other number). */
static void check_once(const struct buf *out, size_t n)
{
	unsigned seen[MSGS_MAX + 1] = {0};
	for (size_t i = 0; i < out->len;) {
		if (out->data[i] < '0' || out->data[i] > '9') {
			i++;
			continue;
		}
		size_t v = 0;
		while (i < out->len && out->data[i] >= '0' && out->data[i] <= '9' && v <= MSGS_MAX)
			v = v * 10 + (size_t)(out->data[i++] - '0');
		if (v == 0 || v > n || seen[v]++)
			__builtin_trap();
	}
	for (size_t v = 1; v <= n; v++)
		if (seen[v] != 1)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_sortkeys k[MSGS_MAX];
	struct imap_thread_msg m[MSGS_MAX];
	char *in = malloc(size + 1);
	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	size_t n = 0;
	for (char *p = in; n < MSGS_MAX && p <= in + size;) {
		char *e = strstr(p, "\n\n\n");
		size_t len = e ? (size_t)(e - p) : strlen(p);
		imap_sortkeys_read(p, len, &k[n]);
		m[n] =
		    (struct imap_thread_msg){.num = (uint32_t)(n + 1), .date = (int64_t)(n % 3), .k = &k[n]};
		n++;
		if (e == NULL)
			break;
		p = e + 3;
	}
	struct buf out;
	buf_init(&out, BUF_UNLIMITED);
	imap_thread_references(m, n, &out);
	check_once(&out, n);
	buf_reset(&out);
	imap_thread_orderedsubject(m, n, &out);
	check_once(&out, n);
	buf_free(&out);
	for (size_t i = 0; i < n; i++)
		imap_sortkeys_free(&k[i]);
	free(in);
	return 0;
}
