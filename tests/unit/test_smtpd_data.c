/* Unit tests: smtpd/smtp_data (the DATA reader and the trace headers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/conn.h"
#include "smtpd/smtp_data.h"

/* Feeds text split at LF the way conn_read_line does; returns the last step. */
static enum smtp_data_step feed(struct smtp_data *d, const char *text)
{
	enum smtp_data_step step = SMTP_DATA_MORE;
	const char *p = text;

	while (*p && step == SMTP_DATA_MORE) {
		const char *nl = strchr(p, '\n');
		size_t len;
		int flags = 0;

		if (nl == NULL)
			break;
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		else
			flags |= CONN_LINE_BARE_LF;
		step = smtp_data_line(d, p, len, flags);
		p = nl + 1;
	}
	return step;
}

static void test_dot_unstuffing_and_end(void **state)
{
	struct smtp_data d;

	smtp_data_init(&d, 1000);
	assert_int_equal(feed(&d, "Subject: x\r\n\r\n..leading dot\r\n.\r\n"), SMTP_DATA_END);
	assert_string_equal(d.body.data, "Subject: x\r\n\r\n.leading dot\r\n");
	assert_int_equal(smtp_data_verdict(&d), RPL_OK);
	assert_false(d.has_message_id);
	assert_false(d.has_date);
	smtp_data_free(&d);
}

static void test_headers_seen(void **state)
{
	struct smtp_data d;

	smtp_data_init(&d, 1000);
	feed(&d,
	     "message-id: <a@b>\r\nDATE: Sun, 1 Jan 2026 00:00:00 +0000\r\n\r\nMessage-ID: body\r\n.\r\n");
	assert_true(d.has_message_id);
	assert_true(d.has_date);
	assert_false(d.headerless);
	smtp_data_free(&d);
	/* A Message-ID in the body does not count. */
	smtp_data_init(&d, 1000);
	feed(&d, "Subject: x\r\n\r\nMessage-ID: <a@b>\r\n.\r\n");
	assert_false(d.has_message_id);
	smtp_data_free(&d);
	/* Folded continuation lines stay in the header. */
	smtp_data_init(&d, 1000);
	feed(&d, "Subject: x\r\n continued\r\nMessage-Id: <a@b>\r\n\r\n.\r\n");
	assert_true(d.has_message_id);
	smtp_data_free(&d);
}

static void test_headerless(void **state)
{
	struct smtp_data d;
	struct buf out;
	struct smtp_trace t = {"a@b.c",
	                       "client",
	                       "127.0.0.1",
	                       "mx.test",
	                       "ESMTPS",
	                       "TLSv1.3",
	                       "TLS_AES_256_GCM_SHA384",
	                       "ABC123",
	                       "",
	                       0};

	smtp_data_init(&d, 1000);
	feed(&d, "just a body line\r\n.\r\n");
	assert_true(d.headerless);
	buf_init(&out, 4096);
	assert_int_equal(smtp_data_trace_headers(&d, &t, &out), 0);
	/* The added fields are followed by the blank line the message lacked. */
	assert_non_null(strstr(out.data, "\r\n\r\n"));
	assert_int_equal(memcmp(out.data + out.len - 4, "\r\n\r\n", 4), 0);
	buf_free(&out);
	smtp_data_free(&d);
}

static void test_size_limit_counts_past_limit(void **state)
{
	struct smtp_data d;

	smtp_data_init(&d, 20);
	assert_int_equal(feed(&d, "0123456789\r\n0123456789\r\n0123456789\r\n.\r\n"), SMTP_DATA_END);
	assert_true(d.too_big);
	assert_int_equal(d.size, 36);
	assert_int_equal(smtp_data_verdict(&d), RPL_SIZE_EXCEEDED);
	assert_true(d.body.len <= 20);
	smtp_data_free(&d);
}

/* A common message's text (4 KiB, bench/smtp's) goes into the buffer smtp_data_init
 * made, without growing it: each growth of this wiped buffer copies, wipes and frees it
 * (issue 15). A larger one still grows, whole. */
static void test_common_message_fits_without_growing(void **state)
{
	static char text[40000];
	struct smtp_data d;
	(void)state;

	for (size_t size = 4096; size <= 32768; size *= 8) {
		size_t n = 0;
		n += (size_t)snprintf(text + n, sizeof text - n, "Subject: s\r\n\r\n");
		while (n + 72 + 5 < size)
			n += (size_t)snprintf(text + n, sizeof text - n, "%070zu\r\n", n);
		n += (size_t)snprintf(text + n, sizeof text - n, ".\r\n");
		smtp_data_init(&d, 10u << 20);
		const char *first = d.body.data;
		assert_true(d.body.cap >= SMTP_DATA_FIRST);
		assert_int_equal(feed(&d, text), SMTP_DATA_END);
		assert_int_equal(d.body.len, n - 3);
		assert_memory_equal(d.body.data, text, n - 3);
		if (size < SMTP_DATA_FIRST)
			assert_ptr_equal(d.body.data, first);
		smtp_data_free(&d);
	}
}

static void test_bare_lf_aborts(void **state)
{
	struct smtp_data d;

	/* The SMTP smuggling sequence <LF>.<CR><LF> never ends the data. */
	smtp_data_init(&d, 1000);
	assert_int_equal(feed(&d, "Subject: x\r\n\r\nbody\n.\r\nMAIL FROM:<evil@x>\r\n"), SMTP_DATA_ABORT);
	assert_int_equal(smtp_data_verdict(&d), RPL_BARE_LF);
	smtp_data_free(&d);
	/* Nor does <CR><LF>.<LF>. */
	smtp_data_init(&d, 1000);
	assert_int_equal(feed(&d, "body\r\n.\n"), SMTP_DATA_ABORT);
	smtp_data_free(&d);
	/* "." followed by a bare CR is not the end: the data goes on to CRLF.CRLF. */
	smtp_data_init(&d, 1000);
	assert_int_equal(feed(&d, "a\r\n.\r.\r\nMAIL FROM:<evil@x>\r\n.\r\n"), SMTP_DATA_END);
	assert_int_equal(d.lines, 3);
	smtp_data_free(&d);
}

static void test_bare_cr_refused(void **state)
{
	static const char *const variants[] = {
	    "Subject: x\r\n\r\na\rb\r\n.\r\n",              /* inside a line */
	    "Subject: x\r\n\r\nbody\r.\r\r\n.\r\n",         /* <CR>.<CR> */
	    "Subject: x\r\n\r\nbody\r\n.\r\rMAIL\r\n.\r\n", /* <CRLF>.<CR> */
	    "Subject: x\r\n\r\nend\r\r\n.\r\n",             /* CR CR LF */
	    "Subject: x\r\n\r\n\r\r\n.\r\n",                /* a line of one CR */
	};
	struct smtp_data d;

	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		smtp_data_init(&d, 1000);
		assert_int_equal(feed(&d, variants[i]), SMTP_DATA_END);
		assert_true(d.bare_cr);
		assert_int_equal(smtp_data_verdict(&d), RPL_BARE_CR);
		for (size_t j = 0; j < d.body.len; j++) /* nothing with a bare CR was kept */
			assert_true(d.body.data[j] != '\r' ||
			            (j + 1 < d.body.len && d.body.data[j + 1] == '\n'));
		smtp_data_free(&d);
	}
}

/* Feeds the chunks of a NULL-terminated list, then ends the data (BDAT LAST). */
static enum smtp_reply_id chunks(struct smtp_data *d, const char *const *list)
{
	for (; *list; list++)
		smtp_data_chunk(d, *list, strlen(*list));
	smtp_data_chunk_end(d);
	return smtp_data_verdict(d);
}

static void test_chunked(void **state)
{
	struct smtp_data d;

	/* CR and LF in two chunks; "." is content; no dot-stuffing removed. */
	smtp_data_init_chunked(&d, 1000, 998);
	assert_int_equal(chunks(&d, (const char *[]){"Subject: x\r", "\n\r\n.\r\n..b\r", "\n", NULL}),
	                 RPL_OK);
	assert_int_equal(d.body.len, 22);
	assert_memory_equal(d.body.data, "Subject: x\r\n\r\n.\r\n..b\r\n", 22);
	smtp_data_free(&d);
	/* a last line without CRLF is a line */
	smtp_data_init_chunked(&d, 1000, 998);
	assert_int_equal(chunks(&d, (const char *[]){"a\r\nb", NULL}), RPL_OK);
	assert_memory_equal(d.body.data, "a\r\nb\r\n", 6);
	smtp_data_free(&d);
	/* bare LF, bare CR (also as the very last octet), NUL */
	smtp_data_init_chunked(&d, 1000, 998);
	assert_int_equal(chunks(&d, (const char *[]){"a\nb\r\n", NULL}), RPL_BARE_LF_CHUNK);
	smtp_data_free(&d);
	smtp_data_init_chunked(&d, 1000, 998);
	assert_int_equal(chunks(&d, (const char *[]){"a\r\n", "b\r", NULL}), RPL_BARE_CR);
	smtp_data_free(&d);
	smtp_data_init_chunked(&d, 1000, 998);
	assert_int_equal(chunks(&d, (const char *[]){"a\r.\r", "\n", NULL}), RPL_BARE_CR);
	smtp_data_free(&d);
	smtp_data_init_chunked(&d, 1000, 998);
	smtp_data_chunk(&d, "a\0b\r\n", 5);
	smtp_data_chunk_end(&d);
	assert_int_equal(smtp_data_verdict(&d), RPL_MSG_NUL);
	smtp_data_free(&d);
}

static void test_chunked_limits(void **state)
{
	char big[700];
	struct smtp_data d;

	/* a line longer than line_max across chunks: dropped as it comes, never held */
	memset(big, 'x', sizeof(big));
	smtp_data_init_chunked(&d, 100000, 998);
	smtp_data_chunk(&d, "a\r\n", 3);
	smtp_data_chunk(&d, big, sizeof(big));
	smtp_data_chunk(&d, big, sizeof(big));
	assert_true(d.partial.len <= 999);
	smtp_data_chunk(&d, "\r\nok\r\n", 6);
	smtp_data_chunk_end(&d);
	assert_int_equal(smtp_data_verdict(&d), RPL_MSG_LINE_TOO_LONG);
	smtp_data_free(&d);
	/* a line of exactly line_max octets passes, its CR in the next chunk */
	smtp_data_init_chunked(&d, 100000, 700);
	smtp_data_chunk(&d, big, sizeof(big));
	smtp_data_chunk(&d, "\r", 1);
	smtp_data_chunk(&d, "\n", 1);
	smtp_data_chunk_end(&d);
	assert_int_equal(smtp_data_verdict(&d), RPL_OK);
	assert_int_equal(d.body.len, 702);
	smtp_data_free(&d);
	/* size: counted past the limit, stored up to it; a discarded chunk counts too */
	smtp_data_init_chunked(&d, 1000, 998);
	for (int i = 0; i < 3; i++) {
		smtp_data_chunk(&d, big, 500);
		smtp_data_chunk(&d, "\r\n", 2);
	}
	assert_int_equal(smtp_data_verdict(&d), RPL_SIZE_EXCEEDED);
	assert_true(d.body.len <= 1000);
	smtp_data_free(&d);
	/* a line that never ends still meets the size limit */
	smtp_data_init_chunked(&d, 1000, 998);
	for (int i = 0; i < 3; i++)
		smtp_data_chunk(&d, big, 500);
	assert_int_equal(smtp_data_verdict(&d), RPL_SIZE_EXCEEDED);
	assert_true(d.body.len == 0 && d.partial.len == 0);
	smtp_data_free(&d);
	smtp_data_init_chunked(&d, 1000, 998);
	smtp_data_discarded(&d, 1001);
	assert_int_equal(smtp_data_verdict(&d), RPL_SIZE_EXCEEDED);
	smtp_data_free(&d);
}

static void test_nul_and_long_lines(void **state)
{
	struct smtp_data d;

	smtp_data_init(&d, 1000);
	assert_int_equal(smtp_data_line(&d, "a\0b", 3, CONN_LINE_NUL), SMTP_DATA_MORE);
	assert_int_equal(smtp_data_line(&d, ".", 1, 0), SMTP_DATA_END);
	assert_int_equal(smtp_data_verdict(&d), RPL_MSG_NUL);
	smtp_data_free(&d);

	smtp_data_init(&d, 100000);
	smtp_data_line_dropped(&d, 999);
	assert_int_equal(smtp_data_line(&d, ".", 1, 0), SMTP_DATA_END);
	assert_int_equal(smtp_data_verdict(&d), RPL_MSG_LINE_TOO_LONG);
	smtp_data_free(&d);
}

static void test_trace_headers(void **state)
{
	struct smtp_data d;
	struct buf out;
	struct smtp_trace t = {"dr.martin@pro.mss.test",
	                       "client.example",
	                       "127.0.0.1",
	                       "mx.mss.test",
	                       "ESMTPSA",
	                       "TLSv1.3",
	                       "TLS_AES_256_GCM_SHA384",
	                       "0A1B2C3D4E5F",
	                       "146026322000196@patient.mss.test",
	                       1795944315};

	smtp_data_init(&d, 1000);
	feed(&d, "Subject: x\r\n\r\nbody\r\n.\r\n");
	buf_init(&out, 4096);
	assert_int_equal(smtp_data_trace_headers(&d, &t, &out), 0);
	assert_int_equal(
	    strncmp(
	        out.data,
	        "Return-Path: <dr.martin@pro.mss.test>\r\nReceived: from client.example ([127.0.0.1])\r\n",
	        82),
	    0);
	assert_non_null(strstr(out.data, "by mx.mss.test (MSS) with ESMTPSA id 0A1B2C3D4E5F"));
	assert_non_null(strstr(out.data, "\tfor <146026322000196@patient.mss.test>; "));
	assert_non_null(strstr(out.data, "Message-ID: <0A1B2C3D4E5F@mx.mss.test>\r\n"));
	assert_non_null(strstr(out.data, "Date: "));
	/* Every line ends in CRLF, no bare LF. */
	for (size_t i = 0; i < out.len; i++)
		if (out.data[i] == '\n')
			assert_int_equal(out.data[i - 1], '\r');
	buf_free(&out);
	smtp_data_free(&d);
}

static void test_prepend_in_place(void **state)
{
	struct smtp_data d;
	struct buf hdr;

	/* A message exactly at the limit still gets its trace headers. */
	smtp_data_init(&d, 12);
	feed(&d, "0123456789\r\n.\r\n");
	assert_int_equal(smtp_data_verdict(&d), RPL_OK);
	buf_init(&hdr, SMTP_DATA_SLACK + 10);
	assert_int_equal(buf_append_str(&hdr, "Received: x\r\n"), 0);
	assert_int_equal(smtp_data_prepend(&d, &hdr), 0);
	assert_string_equal(d.body.data, "Received: x\r\n0123456789\r\n");
	/* Trace headers larger than the slack are refused, the body unchanged. */
	buf_reset(&hdr);
	for (int i = 0; i < SMTP_DATA_SLACK; i++)
		assert_int_equal(buf_append_char(&hdr, 'h'), 0);
	assert_int_equal(smtp_data_prepend(&d, &hdr), -1);
	assert_string_equal(d.body.data, "Received: x\r\n0123456789\r\n");
	buf_free(&hdr);
	smtp_data_free(&d);
}

static void test_date(void **state)
{
	char out[64];

	smtp_data_date(0, out, sizeof(out));
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 +0000");
	smtp_data_date(1795944315, out, sizeof(out));
	assert_string_equal(out, "Sun, 29 Nov 2026 09:25:15 +0000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dot_unstuffing_and_end),
	    cmocka_unit_test(test_headers_seen),
	    cmocka_unit_test(test_headerless),
	    cmocka_unit_test(test_size_limit_counts_past_limit),
	    cmocka_unit_test(test_common_message_fits_without_growing),
	    cmocka_unit_test(test_bare_lf_aborts),
	    cmocka_unit_test(test_bare_cr_refused),
	    cmocka_unit_test(test_chunked),
	    cmocka_unit_test(test_chunked_limits),
	    cmocka_unit_test(test_nul_and_long_lines),
	    cmocka_unit_test(test_trace_headers),
	    cmocka_unit_test(test_prepend_in_place),
	    cmocka_unit_test(test_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
