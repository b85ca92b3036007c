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
	/* a message's text: in a reused session process (the MX's serves any peer) it must
	 * not stay in freed memory for the next one, nor the copies its growth leaves */
	buf_init_wiped(&d->body, max_size < BUF_UNLIMITED - SMTP_DATA_SLACK
	                             ? (size_t)max_size + SMTP_DATA_SLACK
	                             : BUF_UNLIMITED);
	/* SMTP_DATA_FIRST octets with the NUL, at once. The limit is at least SMTP_DATA_SLACK,
	 * so this is not refused; were it, the buffer would just grow from its 64 bytes. */
	if (buf_reserve(&d->body, SMTP_DATA_FIRST - 1) < 0)
		d->body.refused = false;
}

void smtp_data_free(struct smtp_data *d)
{
	buf_free(&d->body); /* both buf_init_wiped */
	buf_free(&d->partial);
}

void smtp_data_init_chunked(struct smtp_data *d, uint64_t max_size, size_t line_max)
{
	smtp_data_init(d, max_size);
	d->line_max = line_max;
	/* the line and its CR, which may arrive in the next chunk's LF */
	buf_init_wiped(&d->partial, line_max + 2);
}

static bool refused(const struct smtp_data *d)
{
	return d->too_big || d->line_too_long || d->has_nul || d->bare_cr || d->bare_lf;
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

/* One content line, without its CRLF and without dot-stuffing. */
static void content_line(struct smtp_data *d, const char *line, size_t len)
{
	if (memchr(line, '\0', len) != NULL)
		d->has_nul = true;
	/* The CR of the CRLF was taken off: any CR left is a bare one (RFC 5321 2.3.8). */
	if (memchr(line, '\r', len) != NULL)
		d->bare_cr = true;
	d->lines++;
	note_header(d, line, len);
	store_line(d, line, len);
}

enum smtp_data_step smtp_data_line(struct smtp_data *d, const char *line, size_t len, int flags)
{
	if (flags & CONN_LINE_BARE_LF) {
		d->bare_lf = true;
		return SMTP_DATA_ABORT;
	}
	if (flags & CONN_LINE_NUL)
		d->has_nul = true;
	if (len > 0 && line[0] == '.') {
		if (len == 1)
			return SMTP_DATA_END;
		line++; /* RFC 5321 4.5.2: remove the stuffed dot */
		len--;
	}
	content_line(d, line, len);
	return SMTP_DATA_MORE;
}

void smtp_data_discarded(struct smtp_data *d, uint64_t n)
{
	d->size += n;
	if (d->size > d->max_size)
		d->too_big = true;
}

/* Adds octets to the line being assembled; past line_max (plus its CR) the line is
 * dropped as it comes, its octets only counted (so a line that never ends still meets
 * max_message_size). */
static void partial_add(struct smtp_data *d, const char *p, size_t n)
{
	if (!d->skipping && d->partial.len + n > d->line_max + 1) {
		d->skipping = true;
		smtp_data_discarded(d, d->partial.len);
		buf_reset(&d->partial);
	}
	if (d->skipping)
		smtp_data_discarded(d, n);
	else if (buf_append(&d->partial, p, n) < 0)
		d->too_big = true; /* cannot happen: the limit is line_max + 2 */
}

/* The assembled line ended: with its LF (lf), or with the data (BDAT LAST). */
static void partial_end(struct smtp_data *d, bool lf)
{
	size_t len = d->partial.len;

	if (d->skipping) {
		smtp_data_line_dropped(d, lf ? 1 : 0);
		d->skipping = false;
		return;
	}
	if (lf && len > 0 && d->partial.data[len - 1] == '\r')
		len--;
	else if (lf)
		d->bare_lf = true; /* refused at the end; the chunk sizes keep the stream in step */
	content_line(d, d->partial.data, len);
	buf_reset(&d->partial);
}

void smtp_data_chunk(struct smtp_data *d, const char *p, size_t n)
{
	while (n > 0) {
		const char *lf = memchr(p, '\n', n);
		size_t take = lf ? (size_t)(lf - p) : n;

		partial_add(d, p, take);
		if (lf == NULL)
			return;
		partial_end(d, true);
		p += take + 1;
		n -= take + 1;
	}
}

void smtp_data_chunk_end(struct smtp_data *d)
{
	if (d->partial.len > 0 || d->skipping)
		partial_end(d, false);
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
	if (d->bare_lf) /* in BDAT the octet counts, not the lines, delimit the data */
		return d->line_max ? RPL_BARE_LF_CHUNK : RPL_BARE_LF;
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
	str_assert(str_format(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
	                      tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	                      tm.tm_sec),
	           "31 bytes into SMTP_DATE_SIZE (smtp_data.h)");
}

int smtp_data_trace_headers(const struct smtp_data *d, const struct smtp_trace *t, struct buf *out)
{
	char date[SMTP_DATE_SIZE];
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
