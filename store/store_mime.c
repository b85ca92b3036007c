/* store_mime.c: what FETCH and SEARCH need of a message, computed once as it is
 * stored (delivery, APPEND, COPY across accounts): ENVELOPE, BODYSTRUCTURE and BODY as
 * ready-to-send IMAP text, the MIME part tree (where each section lies), the sent
 * date and References. One streamed pass of imap/'s parser; the wire format itself is
 * imap/'s business, the store only keeps it. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libetpan/libetpan.h>

#include "imap/imap_bodystructure.h"
#include "imap/imap_envelope.h"
#include "imap/imap_header.h"
#include "imap/imap_mime.h"
#include "lib/buf.h"

struct store_mime_stream {
	struct imap_mime_parser *parser;
};

struct store_mime_stream *store_mime_stream_new(void)
{
	struct store_mime_stream *ms = xcalloc(1, sizeof(*ms));
	ms->parser = imap_mime_parser_new(NULL, NULL);
	return ms;
}

void store_mime_stream_feed(struct store_mime_stream *ms, const void *p, size_t n)
{
	imap_mime_parse(ms->parser, p, n);
}

/* Date: as unix time, and as the sender's wall clock read as UTC (its own zone). */
static void sent_dates(const char *h, size_t len, int64_t *utc, int64_t *local)
{
	*utc = *local = 0;
	char *v = imap_header_get(h, len, "Date");
	if (v == NULL)
		return;
	struct mailimf_date_time *d = NULL;
	size_t idx = 0;
	if (mailimf_date_time_parse(v, strlen(v), &idx, &d) == MAILIMF_NO_ERROR && d != NULL &&
	    d->dt_year >= 1900 && d->dt_month >= 1 && d->dt_month <= 12 && d->dt_day >= 1 &&
	    d->dt_day <= 31) {
		struct tm tm = {.tm_year = d->dt_year - 1900,
		                .tm_mon = d->dt_month - 1,
		                .tm_mday = d->dt_day,
		                .tm_hour = d->dt_hour,
		                .tm_min = d->dt_min,
		                .tm_sec = d->dt_sec};
		time_t wall = timegm(&tm);
		int z = d->dt_zone < 0 ? -d->dt_zone : d->dt_zone;
		int64_t off = (int64_t)(z / 100) * 3600 + (int64_t)(z % 100) * 60;
		if (wall != (time_t)-1) {
			*local = (int64_t)wall;
			*utc = (int64_t)wall - (d->dt_zone < 0 ? -off : off);
		}
	}
	if (d != NULL)
		mailimf_date_time_free(d);
	free(v);
}

void store_mime_stream_finish(struct store_mime_stream *ms, struct store_mime_info *out)
{
	struct imap_part *root = imap_mime_parser_finish(ms->parser);
	free(ms);
	memset(out, 0, sizeof(*out));
	struct buf b;
	buf_init(&b, BUF_UNLIMITED);
	const char *h = root->header != NULL ? root->header : "";
	imap_envelope_write(&b, h, root->header_len);
	out->envelope = buf_strdup(&b);
	buf_reset(&b);
	imap_bodystructure_write(&b, root, true);
	out->bodystructure = buf_strdup(&b);
	buf_reset(&b);
	imap_bodystructure_write(&b, root, false);
	out->body = buf_strdup(&b);
	buf_free(&b);
	buf_init(&out->parts, BUF_UNLIMITED);
	imap_parts_serialize(root, &out->parts);
	out->header_size = root->header_size;
	sent_dates(h, root->header_len, &out->sent_date, &out->sent_local);
	out->refs = imap_header_get(h, root->header_len, "References");
	imap_parts_free(root);
}

void store_mime_build(const char *data, size_t len, struct store_mime_info *out)
{
	struct store_mime_stream *ms = store_mime_stream_new();
	store_mime_stream_feed(ms, data != NULL ? data : "", len);
	store_mime_stream_finish(ms, out);
}

void store_mime_info_free(struct store_mime_info *mi)
{
	free(mi->envelope);
	free(mi->bodystructure);
	free(mi->body);
	free(mi->refs);
	buf_free(&mi->parts);
	memset(mi, 0, sizeof(*mi));
}
