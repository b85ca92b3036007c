/* smtp_data.c: the DATA reader and the trace headers (see smtp_data.h). */

#include "smtpd/smtp_data.h"

#include <string.h>

#include "lib/conn.h"
#include "lib/str.h"

void smtp_data_init(struct smtp_data *d, uint64_t max_size)
{
	memset(d, 0, sizeof(*d));
	d->max_size = max_size;
	d->in_header = true;
	buf_init(&d->body, max_size < BUF_UNLIMITED - SMTP_DATA_SLACK ? (size_t)max_size + SMTP_DATA_SLACK
	                                                              : BUF_UNLIMITED);
}

void smtp_data_free(struct smtp_data *d)
{
	buf_free(&d->body);
}

static bool refused(const struct smtp_data *d)
{
	return d->too_big || d->line_too_long || d->has_nul || d->bare_cr;
}

/* Follows the header section (RFC 5322 2.2) to learn which fields it has. */
static void note_header(struct smtp_data *d, const char *line, size_t len)
{
	const char *colon;
	size_t i;

	if (!d->in_header)
		return;
	if (len == 0) {
		d->in_header = false;
		return;
	}
	if (line[0] == ' ' || line[0] == '\t')
		return; /* folded continuation */
	colon = memchr(line, ':', len);
	for (i = 0; colon && line + i < colon; i++)
		if ((unsigned char)line[i] < 33 || (unsigned char)line[i] > 126)
			colon = NULL;
	if (colon == NULL || colon == line) {
		/* Not a field: the body starts here without a blank line. */
		if (d->lines == 1)
			d->headerless = true;
		d->in_header = false;
		return;
	}
	if (i == 10 && str_ieqn(line, "Message-ID", 10))
		d->has_message_id = true;
	else if (i == 4 && str_ieqn(line, "Date", 4))
		d->has_date = true;
}

static void store_line(struct smtp_data *d, const char *line, size_t len)
{
	d->size += len + 2;
	if (d->size > d->max_size)
		d->too_big = true;
	if (refused(d))
		return; /* keep counting, stop storing: the message will be refused */
	if (buf_append(&d->body, line, len) < 0 || buf_append(&d->body, "\r\n", 2) < 0)
		d->too_big = true;
}

enum smtp_data_step smtp_data_line(struct smtp_data *d, const char *line, size_t len, int flags)
{
	if (flags & CONN_LINE_BARE_LF) {
		d->bare_lf = true;
		return SMTP_DATA_ABORT;
	}
	if ((flags & CONN_LINE_NUL) || memchr(line, '\0', len) != NULL)
		d->has_nul = true;
	/* conn_read_line took the CR of the CRLF: any CR left is a bare one (RFC 5321 2.3.8). */
	if (memchr(line, '\r', len) != NULL)
		d->bare_cr = true;
	if (len > 0 && line[0] == '.') {
		if (len == 1)
			return SMTP_DATA_END;
		line++; /* RFC 5321 4.5.2: remove the stuffed dot */
		len--;
	}
	d->lines++;
	note_header(d, line, len);
	store_line(d, line, len);
	return SMTP_DATA_MORE;
}

void smtp_data_line_dropped(struct smtp_data *d, size_t len_seen)
{
	d->line_too_long = true;
	d->size += len_seen;
	if (d->size > d->max_size)
		d->too_big = true;
	d->in_header = false;
}

int smtp_data_prepend(struct smtp_data *d, const struct buf *hdr)
{
	size_t old = d->body.len;

	if (buf_reserve(&d->body, hdr->len) < 0)
		return -1;
	memmove(d->body.data + hdr->len, d->body.data, old);
	memcpy(d->body.data, hdr->data, hdr->len);
	buf_added(&d->body, hdr->len);
	return 0;
}

enum smtp_reply_id smtp_data_verdict(const struct smtp_data *d)
{
	if (d->bare_lf)
		return RPL_BARE_LF;
	if (d->bare_cr)
		return RPL_BARE_CR;
	if (d->too_big)
		return RPL_SIZE_EXCEEDED;
	if (d->line_too_long)
		return RPL_MSG_LINE_TOO_LONG;
	if (d->has_nul)
		return RPL_MSG_NUL;
	return RPL_OK;
}

void smtp_data_date(time_t t, char *out, size_t outlen)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	/* Names spelled out here, not by strftime, so the locale never changes them. */
	gmtime_r(&t, &tm);
	str_format(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
	           months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int smtp_data_trace_headers(const struct smtp_data *d, const struct smtp_trace *t, struct buf *out)
{
	char date[64];
	int rc = 0;

	smtp_data_date(t->now, date, sizeof(date));
	rc |= buf_printf(out, "Return-Path: <%s>\r\n", t->return_path);
	rc |= buf_printf(out, "Received: from %s ([%s])\r\n\tby %s (MSS) with %s id %s", t->helo, t->peer_ip,
	                 t->hostname, t->protocol, t->queue_id);
	if (t->tls_version[0])
		rc |= buf_printf(out, "\r\n\t(using %s with cipher %s)", t->tls_version, t->tls_cipher);
	if (t->for_rcpt[0])
		rc |= buf_printf(out, "\r\n\tfor <%s>", t->for_rcpt);
	rc |= buf_printf(out, "; %s\r\n", date);
	if (!d->has_message_id)
		rc |= buf_printf(out, "Message-ID: <%s@%s>\r\n", t->queue_id, t->hostname);
	if (!d->has_date)
		rc |= buf_printf(out, "Date: %s\r\n", date);
	if (d->headerless)
		rc |= buf_append(out, "\r\n", 2); /* keep the first body line out of the header */
	return rc ? -1 : 0;
}
