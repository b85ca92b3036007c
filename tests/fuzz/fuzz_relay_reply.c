/* fuzz-libs: smtpd lib */
/* fuzz_relay_reply: what the relay reads from remote servers (issue 13): a reply's
 * text made into one printable line (smtpd/relay_reply.c), and a DNS answer parsed for
 * MX records (smtpd/relay_hop.c, libc's ns_parse). Besides crashes, checks the
 * contracts the queue relies on: the line fits, is NUL-terminated and printable ASCII;
 * the hops are at most RELAY_HOPS_MAX, named, and sorted by preference. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/relay_hop.h"
#include "smtpd/relay_reply.h"

static void check_line(int code, const char *text, size_t outlen)
{
	char out[600];
	if (outlen > sizeof out)
		outlen = sizeof out;
	memset(out, 'Z', sizeof out);
	relay_reply_line(code, text, out, outlen);
	if (outlen == 0)
		return;
	size_t n = strnlen(out, outlen);
	if (n >= outlen)
		abort();
	for (size_t i = 0; i < n; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_hop hops[RELAY_HOPS_MAX];
	char err[256];
	if (size < 3)
		return 0;
	int code = (data[0] << 8 | data[1]) % 1100;
	size_t outlen = data[2];
	char *text = malloc(size - 2);
	if (text == NULL)
		return 0;
	memcpy(text, data + 3, size - 3);
	text[size - 3] = '\0';
	check_line(code, text, outlen);
	check_line(code, text, 512);
	(void)relay_reply_verdict(code);
	free(text);

	int n = relay_hops_from_answer(data, (int)size, hops, err, sizeof err);
	if (n > RELAY_HOPS_MAX)
		abort();
	for (int i = 0; i < n; i++) {
		if (hops[i].host[0] == '\0' ||
		    strnlen(hops[i].host, sizeof hops[i].host) >= sizeof hops[i].host)
			abort();
		if (i > 0 && hops[i].preference < hops[i - 1].preference)
			abort();
	}
	return 0;
}
