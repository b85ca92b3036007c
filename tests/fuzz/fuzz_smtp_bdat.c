/* fuzz-libs: smtpd lib */
/* fuzz_smtp_bdat: BDAT (RFC 3030) as smtpd reads it: the command argument parser
 * (smtp_parse_bdat) and the DATA reader's chunked entry (smtp_data_chunk).
 * The input is "argument\n" then octets: the argument goes to the parser; the octets
 * are fed in chunks whose sizes come from the octets themselves, so lines are cut
 * across chunk boundaries in every way. Checks: a parsed size is the value of its
 * digits; the stored body never passes the limit, every LF follows a CR and every CR
 * precedes an LF; the partial line never holds more than the line limit and its CR. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtp_data.h"
#include "smtpd/smtp_parse.h"

#define LINE_MAX_CONTENT 998

static void check_parse(const uint8_t *data, size_t len)
{
	char arg[64];
	uint64_t size;
	bool last;

	if (len >= sizeof(arg))
		len = sizeof(arg) - 1;
	memcpy(arg, data, len);
	arg[len] = '\0';
	if (smtp_parse_bdat(arg, &size, &last) < 0)
		return;
	/* leading zeros are allowed: compare the value, not the text */
	if (strtoull(arg, NULL, 10) != size || (last && strchr(arg, ' ') == NULL))
		abort();
}

static void check_body(const struct smtp_data *d)
{
	const char *b = d->body.data;

	if (d->body.len > d->max_size + LINE_MAX_CONTENT + 2 || d->partial.len > LINE_MAX_CONTENT + 1)
		abort();
	for (size_t i = 0; i < d->body.len; i++)
		if ((b[i] == '\n' && (i == 0 || b[i - 1] != '\r')) ||
		    (b[i] == '\r' && (i + 1 == d->body.len || b[i + 1] != '\n')))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	struct smtp_data d;
	size_t pos, step;

	if (nl == NULL)
		return 0;
	check_parse(data, (size_t)(nl - data));
	pos = (size_t)(nl - data) + 1;
	if (pos >= size)
		return 0;
	smtp_data_init_chunked(&d, 64 + (uint64_t)data[pos] * 64, LINE_MAX_CONTENT);
	for (pos++; pos < size; pos += step) {
		step = 1 + data[pos] % 97;
		if (step > size - pos)
			step = size - pos;
		smtp_data_chunk(&d, (const char *)data + pos, step);
		check_body(&d);
	}
	smtp_data_chunk_end(&d);
	check_body(&d);
	(void)smtp_data_verdict(&d);
	smtp_data_free(&d);
	return 0;
}
