/* fuzz-libs: smtpd lib */
/* fuzz_smtp_data: the DATA reader (smtpd/smtp_data.c) on arbitrary message streams.
 * The input is cut into lines the way conn_read_line does (LF ends a line; a line
 * without CR before its LF is a bare LF; longer than the line limit is dropped) and
 * fed until the reader ends or aborts. The first byte picks the size limit, so the
 * "too big" paths run too. Checks: the stored body never passes the limit, every LF in
 * it follows a CR and every CR precedes an LF (no bare CR is ever kept), a bare LF always ends in the bare-LF
 * verdict, and the trace headers always build and fit in front of an accepted message. smtp_data.c is pure
 * (lib/ only). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/conn.h"
#include "smtpd/smtp_data.h"

#define LINE_MAX_CONTENT 998

static void check_body(const struct smtp_data *d)
{
	const char *b = d->body.data;

	if (d->body.len > d->max_size)
		abort();
	for (size_t i = 0; i < d->body.len; i++)
		if ((b[i] == '\n' && (i == 0 || b[i - 1] != '\r')) ||
		    (b[i] == '\r' && (i + 1 == d->body.len || b[i + 1] != '\n')))
			abort();
}

static void check_trace(struct smtp_data *d)
{
	struct buf out;
	struct smtp_trace t = {"a@b.c",
	                       "helo",
	                       "192.0.2.1",
	                       "mx.test",
	                       "ESMTPS",
	                       "TLSv1.3",
	                       "TLS_AES_128_GCM_SHA256",
	                       "0123456789AB",
	                       "",
	                       0};
	size_t before = d->body.len;

	buf_init(&out, SMTP_DATA_SLACK);
	if (smtp_data_trace_headers(d, &t, &out) < 0)
		abort();
	/* An accepted message always has room for its trace headers. */
	if (smtp_data_verdict(d) == RPL_OK) {
		if (smtp_data_prepend(d, &out) < 0 || d->body.len != before + out.len ||
		    memcmp(d->body.data, out.data, out.len) != 0)
			abort();
	}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_data d;
	enum smtp_data_step step = SMTP_DATA_MORE;
	size_t pos = 1;

	if (size < 1)
		return 0;
	smtp_data_init(&d, 64 + (uint64_t)data[0] * 64);
	while (pos < size && step == SMTP_DATA_MORE) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len, next;
		int flags = 0;

		if (nl == NULL)
			break; /* EOF inside a line: the session just closes */
		len = (size_t)(nl - (data + pos));
		next = pos + len + 1;
		if (len > 0 && data[pos + len - 1] == '\r')
			len--;
		else
			flags |= CONN_LINE_BARE_LF;
		if (memchr(data + pos, '\0', len))
			flags |= CONN_LINE_NUL;
		if (len > LINE_MAX_CONTENT)
			smtp_data_line_dropped(&d, len);
		else
			step = smtp_data_line(&d, (const char *)data + pos, len, flags);
		pos = next;
	}
	check_body(&d);
	(void)smtp_data_verdict(&d);
	if (step == SMTP_DATA_ABORT && smtp_data_verdict(&d) != RPL_BARE_LF)
		abort();
	check_trace(&d);
	smtp_data_free(&d);
	return 0;
}
